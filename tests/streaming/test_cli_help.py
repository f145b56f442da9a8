"""``--help`` of both command lines shows plain text, not the docstrings' reStructuredText."""

from __future__ import annotations

import re

import pytest
from training.cli import build_parser as training_parser

from streaming.cli import build_parser as serving_parser
from streaming.clikit import plain_text

MARKUP = re.compile(r"``|:(?:mod|class|func|meth|attr):`")

COMMANDS = [
    (serving_parser, []),
    *[(serving_parser, [c]) for c in ("bot", "demo", "empathy", "outcomes", "replay", "run")],
    *[
        (serving_parser, ["bot", c])
        for c in ("check", "ingest", "digest", "approvals", "backfill", "simulate", "devserver")
    ],
    (training_parser, []),
    *[
        (training_parser, [c])
        for c in (
            "aux",
            "empathy",
            "empathy-dapt",
            "eval-empathy",
            "eval-forecaster",
            "forecaster",
            "trajectory",
        )
    ],
]


def test_plain_text_strips_roles_and_literals() -> None:
    text = "``prosocial x`` uses :class:`models.empathy.EmpathyClassifier` and :mod:`~a.b`."
    assert plain_text(text) == "prosocial x uses models.empathy.EmpathyClassifier and a.b."
    assert plain_text(None) is None


@pytest.mark.parametrize(
    ("build", "argv"),
    COMMANDS,
    ids=[f"{b.__module__.split('.')[0]} {' '.join(a)}".strip() for b, a in COMMANDS],
)
def test_help_has_no_markup(build, argv, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build().parse_args([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:")
    assert not MARKUP.search(out), out
