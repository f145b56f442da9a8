"""``--help`` of both command lines shows plain text, not the docstrings' reStructuredText."""

from __future__ import annotations

import argparse
import re

import pytest
from training.cli import main as training_cli

from streaming.cli import main as serving_cli
from streaming.clikit import plain_text

MARKUP = re.compile(r"``|:(?:mod|class|func|meth|attr):`")


def _paths(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
    """Every command path of a parser: [], [sub], [sub, subsub], … from its subparsers."""
    out = [prefix]
    for action in parser._actions:  # argparse exposes sub-commands only through its actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _paths(sub, [*prefix, name])
    return out


COMMANDS = [
    (build, argv)
    for build in (serving_cli.build_parser, training_cli.build_parser)
    for argv in _paths(build(), [])
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
