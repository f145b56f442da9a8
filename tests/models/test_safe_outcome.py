"""The moderator-safe outcome: a toxic reply never raises it, a polite one never lowers it
by leaving (property tests over many random reply trees, seeded)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator

import numpy as np
import pytest

from models.errors import BundleError
from models.metrics.accommodation import Markers
from models.metrics.names import METRIC_NAMES, SAFE_METRIC_NAMES, SAFE_METRIC_SIGNS
from models.outcomes import OutcomeComputer
from models.trajectory import SafeOutcome, Trajectory
from redditdata.tree import Node, iter_replies, walk
from tests.models.fakes import FakeAux

#: reply texts: civil ones with every kind of prosocial signal, and toxic ones (FakeAux rules)
CIVIL = [
    "please, you should read this because it helps",
    "Thanks! you can do it",
    "haha lol that is awesome, you are amazing",
    "see https://en.wikipedia.org/wiki/College because",
    "I failed my first exam too, you can do it",
    "ok",
    "please donate https://gofundme.com/f/x",
    "I agree with you",
]
TOXIC = ["you idiot, shut up", "stupid stupid take", "I hate you, dumb idiot", "idiot idiot"]
AUTHORS = ["op", "a", "b", "c", "d", "[deleted]"]


def _random_tree(rng: random.Random, n: int) -> Node:
    tlc = Node("t1_tlc", "t3_post", "op", "my question", 1, 1_600_000_000)
    nodes = [tlc]
    for i in range(n):
        parent = rng.choice(nodes)
        body = rng.choice(TOXIC if rng.random() < 0.25 else CIVIL)
        child = Node(
            f"t1_r{i}",
            parent.name,
            rng.choice(AUTHORS),
            body,
            rng.randint(-5, 20),
            1_600_000_000 + i + 1,
            depth=parent.depth + 1,
        )
        parent.children.append(child)
        nodes.append(child)
    return tlc


def _random_safe(rng: np.random.Generator) -> SafeOutcome:
    """Any safe outcome a bundle may hold: random means / stds, sign-respecting weights."""
    k = len(SAFE_METRIC_NAMES)
    signs = np.array([SAFE_METRIC_SIGNS[m] for m in SAFE_METRIC_NAMES], dtype=np.float64)
    w = signs * rng.random(k) * (rng.random(k) < 0.8)
    from models.metrics.names import SAFE_METRIC_TRANSFORMS

    return SafeOutcome(
        SAFE_METRIC_NAMES,
        tuple(SAFE_METRIC_TRANSFORMS[m] for m in SAFE_METRIC_NAMES),
        rng.normal(size=k),
        rng.random(k) + 0.1,
        w,
    )


def _computer(safe: SafeOutcome) -> OutcomeComputer:
    k = len(METRIC_NAMES)
    traj = Trajectory(
        METRIC_NAMES,
        ("identity",) * k,
        np.zeros(k),
        np.ones(k),
        np.ones(k) / k,
        version="t",
        safe=safe,
    )
    return OutcomeComputer(FakeAux(), traj, Markers.builtin(), memo=True)


def _safe(oc: OutcomeComputer, tlc: Node) -> float:
    v = oc.safe_values([tlc])
    assert v is not None
    return float(v[0])


def _random_cases(
    seed: int, min_replies: int, n: int = 300
) -> Iterator[tuple[int, random.Random, OutcomeComputer, Node]]:
    """``n`` trials: a random safe outcome's computer and a random tree of ``min_replies`` to
    25 replies, with the generator the tree was drawn from (for the trial's own draws)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    for trial in range(n):
        oc = _computer(_random_safe(nrng))
        yield trial, rng, oc, _random_tree(rng, rng.randint(min_replies, 25))


def test_adding_a_toxic_reply_anywhere_never_raises_the_safe_outcome() -> None:
    lowered = 0
    for trial, rng, oc, tlc in _random_cases(7, 0):
        before = _safe(oc, tlc)
        grown = copy.deepcopy(tlc)
        parent = rng.choice(list(walk(grown)))
        parent.children.append(
            Node(
                "t1_new",
                parent.name,
                rng.choice(AUTHORS),
                rng.choice(TOXIC),
                rng.randint(-5, 50),
                1_700_000_000,
                depth=parent.depth + 1,
            )
        )
        after = _safe(oc, grown)
        assert after <= before + 1e-9, (trial, before, after)
        lowered += after < before - 1e-9
    assert lowered > 100  # it is not flat: toxic replies do cost


def test_removing_a_polite_or_supportive_reply_never_raises_the_safe_outcome() -> None:
    checked = 0
    for _, rng, oc, tlc in _random_cases(11, 1):
        leaves = [
            n
            for n in iter_replies(tlc)
            if not n.children and n.body in CIVIL and "shut up" not in n.body
        ]
        if not leaves:
            continue
        before = _safe(oc, tlc)
        gone = rng.choice(leaves)
        for n in walk(tlc):
            n.children = [c for c in n.children if c is not gone]
        assert _safe(oc, tlc) <= before + 1e-9
        checked += 1
    assert checked > 100


def test_a_bundle_loading_against_the_expected_sign_is_refused() -> None:
    safe = _random_safe(np.random.default_rng(1))
    w = safe.loadings.copy()
    w[SAFE_METRIC_NAMES.index("toxic_count")] = 0.3
    with pytest.raises(BundleError, match="toxic_count"):
        SafeOutcome(safe.features, safe.transforms, safe.mean, safe.std, w)


def test_civil_tree_cuts_toxic_replies_with_their_subtrees() -> None:
    oc = _computer(_random_safe(np.random.default_rng(2)))
    tlc = Node("t1_t", "t3_p", "op", "q", 1, 0)
    bad = Node("t1_b", "t1_t", "a", "you idiot, shut up", 1, 1, depth=1)
    bad.children.append(Node("t1_c", "t1_b", "b", "please calm down", 1, 2, depth=2))
    good = Node("t1_g", "t1_t", "c", "Thanks! you can do it", 1, 3, depth=1)
    tlc.children += [bad, good]
    civil = oc.civil_tree(tlc)
    assert [n.name for n in iter_replies(civil)] == ["t1_g"]
    row = dict(zip(SAFE_METRIC_NAMES, oc.safe_matrix([tlc])[0]))
    assert row["civil_comments"] == 1 and row["toxic_count"] == 1
    assert row["pct_non_toxic"] == pytest.approx(2 / 3)
