"""Author history before each TLC: only the past counts, outcomes only once matured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training.forecaster.dataset import build_examples, structural_target
from training.forecaster.history import TlcRef, author_history, dump_tlcs, prune_to_horizon

from models.forecaster.context import TlcContext
from redditdata.tree import Node

H = 48 * 3600


def _ref(name: str, author: str | None, t: int, post: str = "t3_p", sub: str = "College") -> TlcRef:
    return TlcRef(name, post, sub, author, t)


def test_counts_and_outcomes_come_only_from_earlier_matured_tlcs() -> None:
    refs = [
        _ref("t1_a", "ann", 0),
        _ref("t1_b", "ann", 100, post="t3_q", sub="GradSchool"),
        _ref("t1_c", "ann", H + 50),
        _ref("t1_d", "ann", H + 200),
        _ref("t1_x", "bob", 10),
    ]
    out = {"t1_a": 2.0, "t1_b": 4.0, "t1_c": 8.0, "t1_x": 100.0}
    h = author_history(refs, out, H, scope="all")
    assert h["t1_a"] == TlcContext()
    assert h["t1_b"] == TlcContext(1, 0, 0, 0, 0.0)
    # at H+50 only a's outcome has matured (b matures at H+100)
    assert h["t1_c"] == TlcContext(2, 1, 1, 1, 2.0)
    assert h["t1_d"] == TlcContext(3, 2, 2, 2, 6.0)
    assert h["t1_d"].mean_outcome == pytest.approx(3.0)
    assert h["t1_x"] == TlcContext()  # another author's history is not mixed in


def test_by_default_history_counts_only_the_same_subreddit() -> None:
    refs = [
        _ref("t1_a", "ann", 0),
        _ref("t1_b", "ann", 100, post="t3_q", sub="GradSchool"),
        _ref("t1_c", "ann", H + 150),
        _ref("t1_d", "ann", H + 200, post="t3_r", sub="GradSchool"),
    ]
    out = {"t1_a": 2.0, "t1_b": 4.0, "t1_c": 8.0}
    h = author_history(refs, out, H)
    assert h["t1_b"] == TlcContext()  # r/College is not visible from r/GradSchool
    assert h["t1_c"] == TlcContext(1, 1, 1, 1, 2.0)  # only r/College's TLC and outcome
    assert h["t1_d"] == TlcContext(1, 1, 0, 1, 4.0)
    with pytest.raises(ValueError):
        author_history(refs, out, H, scope="everywhere")


def test_a_future_tlc_changes_no_earlier_context() -> None:
    refs = [_ref(f"t1_{i}", "ann", i * H) for i in range(5)]
    out = {r.name: float(i) for i, r in enumerate(refs)}
    before = author_history(refs, out, H)
    future = _ref("t1_future", "ann", 10 * H)
    after = author_history([*refs, future], out | {"t1_future": 1e6}, H)
    assert {k: after[k] for k in before} == before
    assert after["t1_future"].prior_tlcs == 5
    # and an outcome that would leak if the horizon were ignored: a TLC an hour earlier
    near = author_history([*refs, _ref("t1_near", "ann", 4 * H + 3600)], out | {"t1_near": 1e6}, H)
    assert near["t1_near"].sum_outcome == pytest.approx(sum(range(4)))


def test_ties_follow_created_then_name_and_deleted_authors_have_no_history() -> None:
    refs = [
        _ref("t1_b", "Ann", 5),
        _ref("t1_a", "ann", 5),
        _ref("t1_z", "[deleted]", 1),
        _ref("t1_y", "[deleted]", 2),
        _ref("t1_n", None, 3),
    ]
    h = author_history(refs, {}, H)
    assert h["t1_a"].prior_tlcs == 0 and h["t1_b"].prior_tlcs == 1  # author case-insensitive
    assert "t1_z" not in h and "t1_y" not in h and "t1_n" not in h


def test_prune_to_horizon_drops_late_replies_and_their_subtrees() -> None:
    late = Node(
        "t1_l",
        "t1_t",
        "c",
        "late",
        1,
        H + 10,
        children=[Node("t1_ll", "t1_l", "d", "x", 1, H + 20)],
    )
    early = Node("t1_e", "t1_t", "b", "early", 1, 60)
    tlc = Node("t1_t", "t3_p", "a", "tlc", 1, 0, children=[early, late])
    pruned = prune_to_horizon(tlc, H)
    assert pruned is not None and [c.name for c in pruned.children] == ["t1_e"]
    assert len(tlc.children) == 2  # the original is untouched
    assert prune_to_horizon(Node("t1_s", "t3_p", "a", "x", 1, 0, children=[early]), H) is None


@pytest.fixture(scope="module")
def real_slice(data_dir: Path):
    return build_examples(data_dir / "reddit-college", structural_target, max_threads=40)


def test_real_slice_contexts_match_a_brute_force_count(real_slice, data_dir: Path) -> None:
    ex = real_slice
    assert len(ex.context) == len(ex)
    refs = dump_tlcs(data_dir / "reddit-college")
    by_author: dict[tuple[str, str], list[TlcRef]] = {}
    for r in refs:
        if r.author and r.author != "[deleted]":
            by_author.setdefault((r.author.lower(), r.subreddit.lower()), []).append(r)
    checked = 0
    for t, post, c in zip(ex.tlcs, ex.post_of, ex.context):
        if c is None:
            assert t.author in (None, "", "[deleted]")
            continue
        # the default scope: the author's earlier TLCs in this subreddit only
        mine = by_author[(t.author.lower(), ex.posts[post].subreddit.lower())]  # type: ignore[union-attr]
        assert c.prior_tlcs == sum((r.created_utc, r.name) < (t.created_utc, t.name) for r in mine)
        checked += c.prior_tlcs > 0
    assert checked > 10  # the slice has authors with earlier TLCs


def test_real_slice_outcomes_are_from_the_past_only(real_slice, data_dir: Path) -> None:
    """Recomputing the history with every example's created time pushed later must not
    change an earlier TLC's context: nothing after a TLC reaches it."""
    ex = real_slice
    refs = dump_tlcs(data_dir / "reddit-college")
    y, *_ = ex.arrays()
    outcomes = {t.name: float(v) for t, v in zip(ex.tlcs, y)}
    base = author_history(refs, outcomes, H)
    # give every TLC after the slice's median time an absurd outcome
    cut = float(np.median([t.created_utc for t in ex.tlcs]))
    poisoned = {
        k: (1e9 if r.created_utc > cut else outcomes.get(k, 0.0))
        for r in refs
        for k in [r.name]
        if k in outcomes
    }
    again = author_history(refs, poisoned, H)
    early = [r.name for r in refs if r.created_utc <= cut and r.name in base]
    assert early and all(again[k] == base[k] for k in early)
    # sanity: the poison does reach TLCs whose author had a poisoned, matured outcome
    assert any(again[k] != base[k] for k in base if k not in set(early))


def test_without_history_examples_carry_no_context(data_dir: Path) -> None:
    ex = build_examples(
        data_dir / "reddit-college", structural_target, max_threads=5, history_horizon_s=None
    )
    assert ex.context == [] and len(ex) > 0
    assert ex.subset(np.arange(3)).context == []
