"""Features at a checkpoint see the conversation as it stood then, and nothing after it."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pytest

from models.forecaster.checkpoint import (
    CHECKPOINT_FEATURES,
    CheckpointFeaturizer,
    PostTimeline,
    parse_checkpoints,
    visible_at,
)
from models.metrics.accommodation import Markers
from models.outcomes import OutcomeComputer
from redditdata.tree import Node, Post, iter_replies, walk
from tests.models.fakes import FakeAux

T0 = 1_600_000_000
LATER = "LATER"  # every text posted after the checkpoint carries it


class SpyAux(FakeAux):
    """Remembers every text it was asked to score."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def score(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.seen.extend(texts)
        return super().score(texts)


def _node(name: str, parent: Node | str, author: str, body: str, at: int, score: int = 1) -> Node:
    pname = parent if isinstance(parent, str) else parent.name
    depth = 0 if isinstance(parent, str) else parent.depth + 1
    n = Node(name, pname, author, body, score, T0 + at, depth=depth)
    if not isinstance(parent, str):
        parent.children.append(n)
    return n


def _thread() -> tuple[Post, list[Node]]:
    post = Post("t3_p", "College", "Which major?", "help me choose", "op", 5, T0)
    a = _node("t1_a", "t3_p", "alice", "Pick what you love", 60)
    r1 = _node("t1_r1", a, "bob", "Thanks! you should read this because it helps", 200)
    _node("t1_r2", r1, "alice", "please, I agree", 700)
    late = _node("t1_r3", a, "op", f"{LATER} you idiot, shut up", 1200)  # after +15 min
    _node("t1_r4", late, "carl", f"{LATER} haha lol you are awesome", 1300)
    _node("t1_r5", r1, "dave", f"{LATER} https://en.wikipedia.org/wiki/X", 5000)
    b = _node("t1_b", "t3_p", "erin", "Do CS", 400)  # before the checkpoint
    _node("t1_b1", b, "fred", "you can do it", 800)
    _node("t1_b2", b, "gina", f"{LATER} stupid stupid take", 1500)
    c = _node("t1_c", "t3_p", "hank", f"{LATER} biology", 1000)  # after the checkpoint
    _node("t1_c1", c, "ivan", f"{LATER} ok", 1100)
    return post, [a, b, c]


def _featurizer(aux: FakeAux) -> CheckpointFeaturizer:
    return CheckpointFeaturizer(OutcomeComputer(aux, None, Markers.builtin(), memo=True))


def _cut(tlcs: list[Node], until: int) -> list[Node]:
    """The post as it stood at ``until``: later TLCs and replies removed."""
    return [visible_at(t, until) for t in tlcs if t.created_utc <= until]


def test_features_at_a_checkpoint_ignore_everything_posted_after_it() -> None:
    post, tlcs = _thread()
    a = tlcs[0]
    until = a.created_utc + 900
    spy = SpyAux()
    full = _featurizer(spy).features([(post, a, PostTimeline.of(tlcs), 900)])[0]
    assert not [t for t in spy.seen if LATER in t], "a later reply was scored"
    # the same post as it stood at the checkpoint, with other vote scores on what is visible
    cut = _cut(copy.deepcopy(tlcs), until)
    for n in (m for t in cut for m in walk(t)):
        n.score = 1000
    alone = _featurizer(FakeAux()).features([(post, cut[0], PostTimeline.of(cut), 900)])[0]
    np.testing.assert_array_equal(full, alone)
    row = dict(zip(CHECKPOINT_FEATURES, full))
    assert row["cp_subsequent_comments"] == 2 and row["cp_toxic_count"] == 0
    assert row["cp_post_tlcs"] == 2 and row["cp_post_tlcs_after"] == 1
    assert row["cp_op_replied"] == 0 and row["cp_tlc_author_replied"] == 1


def test_a_later_checkpoint_does_see_the_later_replies() -> None:
    post, tlcs = _thread()
    fz = _featurizer(FakeAux())
    tl = PostTimeline.of(tlcs)
    early, late = fz.features([(post, tlcs[0], tl, 900), (post, tlcs[0], tl, 3600)])
    row = dict(zip(CHECKPOINT_FEATURES, late))
    assert row["cp_subsequent_comments"] == 4 and row["cp_toxic_count"] == 1
    assert row["cp_op_replied"] == 1 and row["cp_post_tlcs"] == 3
    assert not np.array_equal(early, late)


def test_visible_tree_keeps_no_vote_score_and_no_orphan() -> None:
    _, tlcs = _thread()
    vis = visible_at(tlcs[0], tlcs[0].created_utc + 900)
    assert [n.name for n in iter_replies(vis)] == ["t1_r1", "t1_r2"]
    assert all(n.score == 0 for n in iter_replies(vis))


def test_parse_checkpoints() -> None:
    assert parse_checkpoints("3600, 900,900") == (900, 3600)
    with pytest.raises(ValueError):
        parse_checkpoints("0,900")
