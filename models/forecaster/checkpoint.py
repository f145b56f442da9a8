"""What a TLC's conversation looks like at a checkpoint: features for re-forecasting.

A TLC is forecast at creation and again at checkpoints (:data:`DEFAULT_CHECKPOINTS` seconds
after it was posted) from everything visible by then and nothing after it. The one function
that decides what is visible is :func:`visible_at` (replies created at or before the
checkpoint whose parent is visible too); the one place that turns a conversation at a
checkpoint into feature columns is :meth:`CheckpointFeaturizer.features`. Training (over a
dump's complete threads) and the stream scorer (over the replies stored so far) both call it,
and both may pass more than is visible: everything later is cut here.

Columns (:data:`CHECKPOINT_FEATURES`): the outcome metrics of the visible replies (every one
but the community score: a dump only has final vote scores, and a reply's score at the
checkpoint is unknown), the trajectory and the moderator-safe outcome of the visible
conversation, the replies' authors (count, whether the post's author or the TLC's author
answered), their timing (minutes since the last reply, replies in the last 15 minutes), their
toxicity (mean, max), and the post around it (TLCs and comments on the post by then, TLCs
posted after this one, this TLC's share of the post's replies).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from models.metrics.features import has_text
from models.metrics.names import METRIC_NAMES
from models.metrics.structure import valid_author
from models.outcomes import OutcomeComputer
from redditdata.tree import Node, Post, iter_replies

__all__ = [
    "CHECKPOINT_FEATURES",
    "DEFAULT_CHECKPOINTS",
    "CheckpointFeaturizer",
    "CheckpointRow",
    "PostTimeline",
    "checkpoint_key",
    "parse_checkpoints",
    "visible_at",
]

#: Default re-forecast delays after a TLC is posted (seconds): +15 min, +1 h, +3 h.
DEFAULT_CHECKPOINTS: tuple[int, ...] = (900, 3600, 10800)

#: Visible-conversation metrics used as features (no vote score: see the module docstring).
_METRICS = tuple(m for m in METRIC_NAMES if m != "community_score")

CHECKPOINT_FEATURES: tuple[str, ...] = (
    tuple(f"cp_{m}" for m in _METRICS)
    + ("cp_trajectory", "cp_safe")
    + (
        "cp_authors",
        "cp_op_replied",
        "cp_tlc_author_replied",
        "cp_minutes_since_last_reply",
        "cp_replies_last_15m",
        "cp_mean_toxicity",
        "cp_max_toxicity",
        "cp_post_tlcs",
        "cp_post_comments",
        "cp_post_tlcs_after",
        "cp_share_of_post_replies",
        "cp_elapsed_minutes",
    )
)


def checkpoint_key(delay_s: int) -> str:
    """The JSON key of a checkpoint (``"0"`` = at creation)."""
    return str(int(delay_s))


def parse_checkpoints(spec: str | Iterable[int]) -> tuple[int, ...]:
    """Checkpoint delays from ``"900,3600,10800"`` (or ints); sorted, unique, positive."""
    vals = (
        [int(float(v)) for v in spec.split(",") if v.strip()]
        if isinstance(spec, str)
        else [int(v) for v in spec]
    )
    if any(v <= 0 for v in vals):
        raise ValueError(f"checkpoint delays must be positive seconds, got {vals}")
    return tuple(sorted(set(vals)))


def visible_at(tlc: Node, until: int) -> Node:
    """A copy of ``tlc``'s tree with the replies created at or before ``until`` (and whose
    parents are visible). Reply scores are zeroed: their value at ``until`` is unknown."""

    root = tlc.detached()
    stack = [(tlc, root)]
    while stack:  # iterative: reply chains can be deeper than the recursion limit
        src, dst = stack.pop()
        for c in src.children:
            if c.created_utc <= until:
                k = c.detached()
                k.score = 0
                dst.children.append(k)
                stack.append((c, k))
    return root


@dataclass(frozen=True)
class PostTimeline:
    """Creation times of a post's TLCs and of all its comments (any depth), sorted."""

    tlc_times: tuple[int, ...]
    comment_times: tuple[int, ...]

    @classmethod
    def of(cls, tlcs: Sequence[Node]) -> PostTimeline:
        """From the post's TLCs with their reply trees (as known; later ones are cut by
        the featurizer)."""
        comments = [t.created_utc for t in tlcs]
        for t in tlcs:
            comments.extend(r.created_utc for r in iter_replies(t))
        return cls(tuple(sorted(t.created_utc for t in tlcs)), tuple(sorted(comments)))

    def tlcs_by(self, until: int) -> int:
        return bisect.bisect_right(self.tlc_times, until)

    def comments_by(self, until: int) -> int:
        return bisect.bisect_right(self.comment_times, until)


#: One row to featurize: (post, TLC with its replies as known, the post's timeline, delay s).
CheckpointRow = tuple[Post, Node, PostTimeline, int]


class CheckpointFeaturizer:
    """Feature rows (:data:`CHECKPOINT_FEATURES`) of TLCs at checkpoints.

    ``outcomes`` measures the visible conversations (give it ``memo=True`` when the same
    replies are measured at several checkpoints; its trajectory bundle supplies the
    trajectory and safe-outcome columns, 0 without one)."""

    names = CHECKPOINT_FEATURES

    def __init__(self, outcomes: OutcomeComputer) -> None:
        self.outcomes = outcomes

    def features(self, rows: Sequence[CheckpointRow]) -> np.ndarray:
        n = len(rows)
        if n == 0:
            return np.zeros((0, len(self.names)), dtype=np.float32)
        untils = [tlc.created_utc + int(delay) for _, tlc, _, delay in rows]
        visible = [visible_at(tlc, u) for (_, tlc, _, _), u in zip(rows, untils)]
        oc = self.outcomes
        x, _ = oc.metric_matrix(visible)
        traj = oc.trajectories(x)
        safe = oc.safe_values(visible, x)
        cols = [METRIC_NAMES.index(m) for m in _METRICS]
        out = np.zeros((n, len(self.names)), dtype=np.float64)
        out[:, : len(cols)] = x[:, cols]
        j = len(cols)
        out[:, j] = 0.0 if traj is None else traj
        out[:, j + 1] = 0.0 if safe is None else safe
        j += 2
        for i, ((post, tlc, timeline, delay), u, vis) in enumerate(zip(rows, untils, visible)):
            replies = list(iter_replies(vis))
            authors = {r.author for r in replies if valid_author(r.author)}
            texts = [r.body for r in replies if has_text(r.body)]
            tox = oc.per_text(texts)["toxicity"] if texts else np.zeros(0)
            tox = tox[~np.isnan(tox)]
            last = max((r.created_utc for r in replies), default=tlc.created_utc)
            post_tlcs = timeline.tlcs_by(u)
            post_replies = timeline.comments_by(u) - post_tlcs
            out[i, j:] = (
                len(authors),
                float(valid_author(post.author) and post.author in authors),
                float(valid_author(tlc.author) and tlc.author in authors),
                (u - last) / 60.0,
                sum(1 for r in replies if r.created_utc > u - 900),
                float(tox.mean()) if len(tox) else 0.0,
                float(tox.max()) if len(tox) else 0.0,
                post_tlcs,
                timeline.comments_by(u),
                post_tlcs - timeline.tlcs_by(tlc.created_utc),
                len(replies) / post_replies if post_replies > 0 else 0.0,
                int(delay) / 60.0,
            )
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        return out.astype(np.float32)
