from __future__ import annotations

import numpy as np
import pytest

from models.metrics.accommodation import (
    Markers,
    coordination,
    exchanges,
    linguistic_accommodation,
    load_markers,
)
from tests.models.fakes import tree


def test_mirroring_replies_coordinate_positively(builtin_markers: Markers) -> None:
    # parents that use articles get replies with articles; parents without get replies without
    t = tree(
        (
            "op",
            "the cat",
            [
                ("a", "the dog", [("b", "yes", [("a", "no")])]),
                ("c", "a mat"),
            ],
        )
    )
    # articles only: P(reply has one | parent has one) = 2/3, P(reply has one) = 2/4
    assert linguistic_accommodation(t, builtin_markers) == pytest.approx(2 / 3 - 2 / 4)


def test_no_exchange_means_zero(builtin_markers: Markers) -> None:
    assert linguistic_accommodation(tree(("op", "the tlc")), builtin_markers) == 0.0
    # self-replies are not exchanges
    t = tree(("op", "the tlc", [("op", "the reply")]))
    assert exchanges(t) == []
    assert linguistic_accommodation(t, builtin_markers) == 0.0


def test_coordination_formula_on_known_counts() -> None:
    # one marker class, 4 exchanges: parent has it in 2, child has it in 3 (both of those +1)
    parent = np.array([1, 1, 0, 0])
    child = np.array([1, 1, 1, 0])
    seg = np.zeros(4, dtype=np.int64)
    # P(child | parent) - P(child) = 2/2 - 3/4
    assert coordination(parent, child, seg, 1, 1)[0] == pytest.approx(0.25)


def test_coordination_is_per_conversation() -> None:
    parent = np.array([1, 1, 1, 1])
    child = np.array([1, 0, 0, 1])
    seg = np.array([0, 0, 1, 1])
    out = coordination(parent, child, seg, 3, 1)
    assert out.tolist() == pytest.approx([0.0, 0.0, 0.0])


def test_liwc_patterns_file_is_used_when_present(data_dir) -> None:  # type: ignore[no-untyped-def]
    m = load_markers(data_dir)
    assert m.source == "liwc-coord"
    assert set(m.classes) == {
        "article",
        "auxverb",
        "conj",
        "adverb",
        "ppron",
        "ipron",
        "preps",
        "quant",
    }
    assert m.mask("the") & (1 << m.classes.index("article"))


def test_builtin_markers_when_file_missing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PROSOCIAL_DATA_DIR", str(tmp_path / "none"))
    m = load_markers(tmp_path / "dump")
    assert m.source == "builtin"
    assert m.mask("I and you") & (1 << m.classes.index("ppron"))
