"""Replaying a dump in event-time order, and reading threads "as then known".

:class:`ReplayIndex` loads the posts created in ``[since, until)`` (optionally some
subreddits) and all their comments. :meth:`ReplayIndex.events` yields submissions and comments
interleaved by ``created_utc`` (a post before its comments on equal times) — the order they
happened. :meth:`ReplayIndex.thread` is the back-fill's :class:`ThreadFetcher` for replay: the
post's forest restricted to comments created at or before ``as_of``.

Rule (documented): a comment is replayed iff its post was created in the window, whenever the
comment itself was written, so every replayed TLC has its post and its full reply tree.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from redditdata.dumps import DumpReport, find_dump_files, iter_events
from redditdata.events import Comment, Submission
from redditdata.forest import build_thread, post_from_event
from redditdata.tree import Thread
from streaming.transient import TransientError

__all__ = ["FetchDeferred", "ReplayIndex", "ThreadFetcher", "parse_time"]

logger = logging.getLogger(__name__)


class FetchDeferred(TransientError):
    """A thread fetcher cannot reach its source now; the back-fill tries again later."""


class ThreadFetcher(Protocol):
    """Where the back-fill gets a thread: the dump in replay, the Reddit API live (bot)."""

    def thread(self, post_name: str, as_of: float) -> Thread | None: ...


def parse_time(s: str | float | None) -> int | None:
    """``2021-10-01``, ``2021-10-01T12:00`` (UTC) or epoch seconds."""
    if s is None or s == "":
        return None
    if isinstance(s, (int, float)):
        return int(s)
    if s.isdigit():
        return int(s)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


class ReplayIndex:
    def __init__(
        self,
        data: str | os.PathLike[str],
        *,
        since: int | None = None,
        until: int | None = None,
        subreddits: Sequence[str] = (),
        report: DumpReport | None = None,
    ) -> None:
        self.report = report if report is not None else DumpReport()
        files = find_dump_files(data)
        subs = {s.lower() for s in subreddits}
        self.submissions: dict[str, Submission] = {}
        if files.submissions is not None:
            for s in iter_events(files.submissions, "submission", self.report):
                assert isinstance(s, Submission)
                if since is not None and s.created_utc < since:
                    continue
                if until is not None and s.created_utc >= until:
                    continue
                if subs and s.subreddit.lower() not in subs:
                    continue
                self.submissions.setdefault(s.name, s)
        self.comments: dict[str, list[Comment]] = defaultdict(list)
        if files.comments is not None:
            # Comments of posts outside the window are skipped before validation: a week's
            # replay of a months-long dump would otherwise validate every comment in it.
            wanted = self.submissions
            for c in iter_events(
                files.comments,
                "comment",
                self.report,
                keep=lambda obj: isinstance(obj.get("link_id"), str) and obj["link_id"] in wanted,
            ):
                assert isinstance(c, Comment)
                self.comments[c.link_id].append(c)  # kept: its post is in the window
        logger.info(
            "replay index: %d posts, %d comments",
            len(self.submissions),
            sum(len(v) for v in self.comments.values()),
        )

    @property
    def n_comments(self) -> int:
        return sum(len(v) for v in self.comments.values())

    @property
    def n_tlcs(self) -> int:
        return sum(1 for v in self.comments.values() for c in v if c.is_tlc)

    def events(self) -> Iterator[Submission | Comment]:
        evs: list[tuple[int, int, Submission | Comment]] = [
            (s.created_utc, 0, s) for s in self.submissions.values()
        ]
        evs.extend((c.created_utc, 1, c) for v in self.comments.values() for c in v)
        evs.sort(key=lambda e: (e[0], e[1], e[2].name))
        for _, _, ev in evs:
            yield ev

    def thread(self, post_name: str, as_of: float) -> Thread | None:
        s = self.submissions.get(post_name)
        if s is None:
            return None
        known = [c for c in self.comments.get(post_name, ()) if c.created_utc <= as_of]
        return build_thread(post_from_event(s), known)
