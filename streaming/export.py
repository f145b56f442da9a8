"""Writing a window of the service's database as a Pushshift-style dump (``prosocial export``).

The dump holds what the back-fill measured: every post created in ``[since, until)`` (optionally
some subreddits) that has at least one stored reply tree, and for each of its back-filled TLCs
the reply tree as seen at the horizon (the back-filled rows of
:class:`~streaming.storage.ReplyRow`). Every
training and evaluation command reads such a directory; the outcome a reader computes from the
exported tree is the one the back-fill stored (the TLC's subtree is exactly what it measured).

Files written to ``out``:

* ``submissions.jsonl.gz`` — posts; ``retrieved_on`` is the latest horizon their TLCs were
  measured at, so readers' maturity filter (``retrieved_on − created_utc``) keeps them;
* ``comments.jsonl.gz`` — TLCs and replies grouped by post (the streaming reader's order),
  ``retrieved_on`` = the horizon the tree was seen at; an erased body is ``[deleted]``;
* ``outcomes.jsonl.gz`` — the stored outcomes (trajectory, metrics, bundle versions);
* ``feedback.jsonl.gz`` — moderators' answers to proposals on those posts;
* ``export.json`` — the window, the counts and what was left out.

``shuffle_seed`` (a test instrument for the promotion gate, never the default) hands every
TLC the reply tree of another TLC of the window, shifted to start at the same offset, so that
a model trained on the dump learns from shuffled outcomes.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from streaming.storage import (
    ModeratorFeedbackRow,
    OutcomeRow,
    PostRow,
    ReplyRow,
    SessionFactory,
)
from streaming.storage.privacy_tables import ErasureRow

__all__ = ["ExportSummary", "export_dump"]

logger = logging.getLogger(__name__)

DELETED = "[deleted]"


@dataclass
class ExportSummary:
    out: str
    since: int | None
    until: int | None
    subreddits: list[str]
    posts: int = 0
    tlcs: int = 0
    comments: int = 0
    outcomes: int = 0
    feedback: int = 0
    shuffle_seed: int | None = None
    files: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _id(fullname: str) -> str:
    return fullname.split("_", 1)[1]


def _donors(names: Sequence[str], seed: int) -> dict[str, str]:
    donors = sorted(names)
    random.Random(seed).shuffle(donors)
    return dict(zip(sorted(names), donors))


def _shuffled(
    trees: dict[str, list[ReplyRow]], donors: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Each TLC keeps its own row (depth 0) and gets another TLC's replies, re-parented and
    shifted in time so that they start as long after it as they did after their own TLC."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, donor in donors.items():
        root = next(r for r in trees[name] if r.depth == 0)
        droot = next(r for r in trees[donor] if r.depth == 0)
        shift = root.created_utc - droot.created_utc
        rows = [_plain(root)]
        for r in trees[donor]:
            if r.depth == 0:
                continue
            d = _plain(r)
            d.update(
                tlc_name=name,
                post_name=root.post_name,
                parent_name=name if r.parent_name == donor else r.parent_name,
                created_utc=r.created_utc + shift,
                as_of_utc=root.as_of_utc,
            )
            rows.append(d)
        out[name] = rows
    return out


def _plain(r: ReplyRow) -> dict[str, Any]:
    return {
        c: getattr(r, c)
        for c in (
            "name",
            "tlc_name",
            "post_name",
            "subreddit",
            "parent_name",
            "depth",
            "author",
            "body",
            "score",
            "created_utc",
            "as_of_utc",
        )
    }


@dataclass
class _Window:
    """What the database holds for the exported posts."""

    posts: list[PostRow]
    trees: dict[str, list[ReplyRow]]  # TLC → its back-filled tree (root at depth 0)
    outcomes: list[OutcomeRow]
    feedback: list[ModeratorFeedbackRow]
    erased: set[str]  # comments erased on Reddit after (or while) their tree was stored


def _read_window(
    sessions: SessionFactory, since: int | None, until: int | None, subs: set[str]
) -> _Window:
    with sessions() as s:
        query = select(PostRow).order_by(PostRow.created_utc, PostRow.name)
        if since is not None:
            query = query.where(PostRow.created_utc >= since)
        if until is not None:
            query = query.where(PostRow.created_utc < until)
        posts = [p for p in s.scalars(query) if not subs or p.subreddit.lower() in subs]
        names = [p.name for p in posts]
        window = _Window(posts, defaultdict(list), [], [], set())
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            for r in s.scalars(
                select(ReplyRow)
                .where(ReplyRow.post_name.in_(chunk), ReplyRow.as_of_utc.is_not(None))
                .order_by(ReplyRow.created_utc, ReplyRow.name)
            ):
                window.trees[str(r.tlc_name)].append(r)
            window.outcomes += s.scalars(
                select(OutcomeRow)
                .where(OutcomeRow.post_name.in_(chunk))
                .order_by(OutcomeRow.tlc_name)
            )
            window.feedback += s.scalars(
                select(ModeratorFeedbackRow)
                .where(ModeratorFeedbackRow.post_name.in_(chunk))
                .order_by(ModeratorFeedbackRow.id)
            )
        reply_names = [r.name for rows in window.trees.values() for r in rows]
        for i in range(0, len(reply_names), 500):
            window.erased |= set(
                s.scalars(
                    select(ErasureRow.name).where(ErasureRow.name.in_(reply_names[i : i + 500]))
                )
            )
    return window


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` as gzipped JSON lines; how many."""
    n = 0
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
            n += 1
    return n


def _submission(p: PostRow, retrieved_on: int) -> dict[str, Any]:
    return {
        "id": _id(p.name),
        "name": p.name,
        "subreddit": p.subreddit,
        "title": p.title,
        "selftext": p.selftext,
        "author": p.author,
        "score": p.score,
        "created_utc": p.created_utc,
        "retrieved_on": retrieved_on,
    }


def _comment(c: dict[str, Any], post: str) -> dict[str, Any]:
    return {
        "id": _id(c["name"]),
        "name": c["name"],
        "parent_id": c["parent_name"],
        "link_id": post,
        "subreddit": c["subreddit"],
        "author": c["author"],
        "body": c["body"] if c["body"] is not None else DELETED,
        "score": c["score"],
        "created_utc": c["created_utc"],
        "retrieved_on": c["as_of_utc"],
    }


def _outcomes(
    plain: dict[str, list[dict[str, Any]]],
    outcomes: list[OutcomeRow],
    donors: dict[str, str],
    shuffled: bool,
) -> Iterator[dict[str, Any]]:
    """Each exported TLC's outcome; with a shuffle the donor's (the tree it now carries)."""
    by_tlc = {o.tlc_name: o for o in outcomes}
    for name in sorted(plain):
        own, o = by_tlc.get(name), by_tlc.get(donors[name])
        if own is None or o is None:
            continue
        yield {
            "tlc": own.tlc_name,
            "post": own.post_name,
            "subreddit": own.subreddit,
            "as_of_utc": own.as_of_utc,
            "trajectory": o.trajectory,
            "metrics": o.metrics,
            "n_replies": o.n_replies,
            "versions": o.versions,
            "shuffled": shuffled,
        }


_FEEDBACK_COLUMNS = (
    "id",
    "subreddit",
    "post_name",
    "tlc_name",
    "action",
    "decision",
    "moderator",
    "proposed_utc",
    "decided_utc",
    "suggestion_revision",
    "forecaster_version",
    "params",
)


def export_dump(
    sessions: SessionFactory,
    out: str | Path,
    *,
    since: int | None = None,
    until: int | None = None,
    subreddits: Sequence[str] = (),
    shuffle_seed: int | None = None,
) -> ExportSummary:
    """Write the window as a dump directory (see the module docstring)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    subs = {s.lower() for s in subreddits}
    summary = ExportSummary(str(out), since, until, sorted(subs), shuffle_seed=shuffle_seed)
    window = _read_window(sessions, since, until, subs)
    # a tree is complete only with its root (a pruned or partly erased tree is left out)
    trees = {k: v for k, v in window.trees.items() if any(r.depth == 0 for r in v)}
    donors = (
        _donors(list(trees), shuffle_seed) if shuffle_seed is not None else {k: k for k in trees}
    )
    plain: dict[str, list[dict[str, Any]]] = (
        _shuffled(trees, donors)
        if shuffle_seed is not None
        else {k: [_plain(r) for r in v] for k, v in trees.items()}
    )
    by_post: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rows in plain.values():
        for d in rows:
            if d["name"] in window.erased:  # never exported with its text
                d["author"], d["body"] = None, "[removed]"
        by_post[rows[0]["post_name"]] += rows
    kept = [p for p in window.posts if p.name in by_post]
    comments = [
        c
        for p in kept
        for c in sorted(by_post[p.name], key=lambda d: (d["created_utc"], d["name"]))
    ]
    summary.posts = _write_jsonl(
        out / "submissions.jsonl.gz",
        (_submission(p, max(c["as_of_utc"] for c in by_post[p.name])) for p in kept),
    )
    summary.comments = _write_jsonl(
        out / "comments.jsonl.gz",
        (_comment(c, c["post_name"]) for c in comments),
    )
    summary.tlcs = sum(c["depth"] == 0 for c in comments)
    summary.outcomes = _write_jsonl(
        out / "outcomes.jsonl.gz",
        _outcomes(plain, window.outcomes, donors, shuffle_seed is not None),
    )
    summary.feedback = _write_jsonl(
        out / "feedback.jsonl.gz",
        ({c: getattr(f, c) for c in _FEEDBACK_COLUMNS} for f in window.feedback),
    )
    summary.files = {
        k: str(out / f"{k}.jsonl.gz") for k in ("submissions", "comments", "outcomes", "feedback")
    }
    (out / "export.json").write_text(json.dumps(summary.as_dict(), indent=2))
    logger.info(
        "export: %d posts, %d TLCs, %d comments, %d outcomes, %d feedback labels → %s",
        summary.posts,
        summary.tlcs,
        summary.comments,
        summary.outcomes,
        summary.feedback,
        out,
    )
    return summary
