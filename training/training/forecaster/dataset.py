"""One row per TLC of a matured thread, with its trajectory target (paper §5.1).

The target is injected (``target_fn(thread) -> {tlc fullname: value}``) so the same builder
serves the real trajectory (``models.outcomes``) and simpler provisional targets in tests.
Rows keep light copies of the TLC nodes (no reply trees) so a whole corpus fits in memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.forecaster.checkpoint import CheckpointFeaturizer, PostTimeline
from models.forecaster.context import TlcContext
from redditdata.forest import iter_threads
from redditdata.tree import Node, Post, Thread, iter_replies
from training.forecaster.history import author_history, dump_tlcs, prune_to_horizon

__all__ = [
    "DEFAULT_MIN_AGE_S",
    "Examples",
    "Split",
    "TargetFn",
    "build_examples",
    "split_by_post",
    "split_by_time",
    "structural_target",
]

logger = logging.getLogger(__name__)

#: A thread counts as matured when scraped at least this long after posting (the service's
#: default back-fill horizon).
DEFAULT_MIN_AGE_S = 48 * 3600

TargetFn = Callable[[Thread], dict[str, float]]

_GONE = ("[deleted]", "[removed]")


def structural_target(thread: Thread) -> dict[str, float]:
    """A crude provisional trajectory (tests / before the trajectory bundle exists):
    log-sum of subsequent comments, direct replies, depth and distinct participants."""
    out: dict[str, float] = {}
    for t in thread.tlcs:
        replies = list(iter_replies(t))
        depth = max((r.depth - t.depth for r in replies), default=0)
        people = {r.author for r in replies if r.author and r.author != "[deleted]"}
        out[t.name] = (
            math.log1p(len(replies))
            + math.log1p(len(t.children))
            + math.log1p(depth)
            + math.log1p(len(people))
        )
    return out


@dataclass
class Examples:
    posts: dict[str, Post] = field(default_factory=dict)
    tlcs: list[Node] = field(default_factory=list)
    post_of: list[str] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    size: list[int] = field(default_factory=list)  # comments under the TLC (TLC excluded)
    score: list[int] = field(default_factory=list)  # TLC score at scrape time (leaky)
    #: the author's history before each TLC (None: unknown author / not computed)
    context: list[TlcContext | None] = field(default_factory=list)
    #: checkpoint delay (s) -> one feature row per TLC (``CHECKPOINT_FEATURES``) built from
    #: the conversation as visible at that delay (empty when not computed)
    at: dict[int, np.ndarray] = field(default_factory=dict)
    #: each TLC's outcome at the history horizon (what author history averages) and the
    #: scope ``context`` was counted with, so another scope can be counted without a rebuild
    horizon: dict[str, float] = field(default_factory=dict)
    history_scope: str | None = None

    def recount_history(self, data_dir: str | Path, horizon_s: int, scope: str) -> None:
        """Recount ``context`` with another history scope (from the stored horizon
        outcomes; no thread is re-read)."""
        hist = author_history(dump_tlcs(data_dir), self.horizon, horizon_s, scope=scope)
        self.context = [hist.get(t.name) for t in self.tlcs]
        self.history_scope = scope

    def __len__(self) -> int:
        return len(self.tlcs)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(y, size, score, created_utc, post group ids) as numpy arrays."""
        ids = {p: i for i, p in enumerate(self.posts)}
        return (
            np.asarray(self.y, dtype=np.float64),
            np.asarray(self.size),
            np.asarray(self.score, dtype=np.float64),
            np.asarray([t.created_utc for t in self.tlcs], dtype=np.float64),
            np.asarray([ids[p] for p in self.post_of]),
        )

    def subset(self, idx: np.ndarray) -> Examples:
        out = Examples()
        for i in idx:
            i = int(i)
            p = self.post_of[i]
            out.posts.setdefault(p, self.posts[p])
            out.tlcs.append(self.tlcs[i])
            out.post_of.append(p)
            out.y.append(self.y[i])
            out.size.append(self.size[i])
            out.score.append(self.score[i])
            if self.context:
                out.context.append(self.context[i])
        ids = np.asarray(idx, dtype=np.int64)
        out.at = {d: x[ids] for d, x in self.at.items()}
        return out

    def by_post(self) -> Iterator[tuple[Post, list[int]]]:
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(self.post_of):
            groups.setdefault(p, []).append(i)
        for p, idx in groups.items():
            yield self.posts[p], idx


def build_examples(
    data_dir: str | Path,
    target_fn: TargetFn,
    *,
    min_age_s: int = DEFAULT_MIN_AGE_S,
    max_threads: int | None = None,
    max_tlcs: int | None = None,
    progress: Callable[[int], None] | None = None,
    skip_deleted: bool = True,
    history_horizon_s: int | None = DEFAULT_MIN_AGE_S,
    history_scope: str = "subreddit",
    checkpoints: Sequence[int] = (),
    featurizer: CheckpointFeaturizer | None = None,
) -> Examples:
    """Rows for every TLC of every matured thread (threads with ≥1 TLC) in a dump dir.

    ``max_tlcs``: stop after the thread that brings the TLC count to this many.
    ``skip_deleted`` drops TLCs whose body is ``[deleted]``/``[removed]`` at scrape time: their
    text is gone, and a TLC being scored at posting time is never deleted yet.
    ``history_horizon_s``: also compute each TLC's author history (``Examples.context``) over
    every TLC of the dump, with earlier outcomes measured at — and matured after — this
    horizon (:mod:`training.forecaster.history`); ``None`` skips it. ``history_scope``:
    ``"subreddit"`` (default: an author's history counts only the same subreddit) or
    ``"all"`` (every subreddit of the dump: an explicit opt-in).
    ``checkpoints`` (with a ``featurizer``): also each TLC's feature row at each delay,
    built from the thread as visible then (``Examples.at``); when the featurizer's outcome
    computer remembers texts, that memory is per thread.
    """
    if checkpoints and featurizer is None:
        raise ValueError("checkpoints need a CheckpointFeaturizer")
    ex = Examples()
    rows_at: dict[int, list[np.ndarray]] = {int(d): [] for d in checkpoints}
    at_horizon: dict[str, float] = {}
    n = 0
    for thread in iter_threads(data_dir, min_age_s=min_age_s, max_threads=max_threads):
        if not thread.tlcs:
            continue
        if featurizer is not None and featurizer.outcomes.memo is not None:
            featurizer.outcomes.memo.clear()  # texts rarely repeat across threads
        targets = target_fn(thread)
        kept_tlcs: list[Node] = []
        for t in thread.tlcs:
            if t.name not in targets or (skip_deleted and t.body in _GONE):
                continue
            kept_tlcs.append(t)
            ex.tlcs.append(t.detached())
            ex.post_of.append(thread.post.name)
            ex.y.append(float(targets[t.name]))
            ex.size.append(t.size() - 1)
            ex.score.append(t.score)
        kept = bool(kept_tlcs)
        if kept and rows_at:
            assert featurizer is not None
            timeline = PostTimeline.of(thread.tlcs)
            for d, rows in rows_at.items():
                rows.append(featurizer.features([(thread.post, t, timeline, d) for t in kept_tlcs]))
        if kept:
            ex.posts[thread.post.name] = thread.post
            if history_horizon_s is not None:
                at_horizon |= _horizon_targets(thread, targets, target_fn, history_horizon_s)
        n += 1
        if progress is not None:
            progress(n)
        if max_tlcs is not None and len(ex) >= max_tlcs:
            break
    if history_horizon_s is not None:
        ex.horizon = at_horizon
        ex.recount_history(data_dir, history_horizon_s, history_scope)
    width = len(featurizer.names) if featurizer is not None else 0
    ex.at = {
        d: (np.vstack(rows) if rows else np.zeros((0, width), dtype=np.float32))
        for d, rows in rows_at.items()
    }
    logger.info("forecaster dataset: %d TLCs in %d posts", len(ex), len(ex.posts))
    return ex


def _horizon_targets(
    thread: Thread, targets: dict[str, float], target_fn: TargetFn, horizon_s: int
) -> dict[str, float]:
    """Each TLC's outcome on its replies within ``horizon_s`` (what the back-fill stores)."""
    pruned = {
        t.name: p
        for t in thread.tlcs
        if t.name in targets and (p := prune_to_horizon(t, horizon_s)) is not None
    }
    out = {k: v for k, v in targets.items() if k not in pruned}
    if pruned:
        out |= target_fn(Thread(post=thread.post, tlcs=list(pruned.values())))
    return out


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str


def _assign(ex: Examples, order: list[str], frac: tuple[float, float], kind: str) -> Split:
    n = len(order)
    a, b = int(n * frac[0]), int(n * (frac[0] + frac[1]))
    side = {p: 0 for p in order[:a]} | {p: 1 for p in order[a:b]} | {p: 2 for p in order[b:]}
    s = np.asarray([side[p] for p in ex.post_of])
    return Split(np.flatnonzero(s == 0), np.flatnonzero(s == 1), np.flatnonzero(s == 2), kind)


def split_by_post(ex: Examples, seed: int = 13, frac: tuple[float, float] = (0.7, 0.15)) -> Split:
    """Random split of posts (all TLCs of a post on one side): train / val / test."""
    order = list(ex.posts)
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    return _assign(ex, order, frac, "by_post")


def split_by_time(ex: Examples, frac: tuple[float, float] = (0.7, 0.15)) -> Split:
    """Posts in creation order: the oldest train, the newest test (forward in time)."""
    order = sorted(ex.posts, key=lambda p: (ex.posts[p].created_utc, p))
    return _assign(ex, order, frac, "by_time")
