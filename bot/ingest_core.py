"""What the live reader does with each item: bot skipping, dedupe by fullname, counting.

The reader (:mod:`bot.aingest`) hands each asyncpraw object to :meth:`IngestCore.accept`; the
core converts it to a :mod:`redditdata.events` record, drops bot accounts and anything already
seen and keeps the event for the live source (:func:`bot.source.live_events`), which yields it
to the ingest stage (the one place that encodes events for the bus). :meth:`IngestCore.commit`
marks the batch as seen; the source calls it only after the bus has flushed the batch, so a
crash re-emits at most that batch (at-least-once; the stream's writes are idempotent) and a
restart never re-emits the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.backoff import is_transient
from bot.convert import author_name, to_comment, to_submission
from bot.errors import RetriesExhausted
from redditdata.events import Comment, Event, Submission

__all__ = ["DEFAULT_BOTS", "KINDS", "IngestCore", "IngestStats"]

logger = logging.getLogger(__name__)

DEFAULT_BOTS = frozenset({"automoderator"})
KINDS = ("submissions", "comments")


@dataclass
class IngestStats:
    submissions: int = 0
    comments: int = 0
    tlcs: int = 0
    duplicates: int = 0
    skipped_bots: int = 0
    invalid: int = 0
    gaps_filled: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    tlc_gaps_filled: int = 0
    errors: int = 0
    sweeps: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(self).items()}


class IngestCore:
    """Convert, filter, dedupe."""

    def __init__(
        self,
        seen: Any,
        *,
        bots: Iterable[str] = DEFAULT_BOTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seen = seen
        self.bots = {b.lower() for b in bots} | set(DEFAULT_BOTS)
        self.clock = clock
        self.stats = IngestStats()
        self._pending: dict[str, tuple[str, str, int, str, str | None]] = {}
        self.emitted: list[Event] = []  # taken by the live source

    def accept(self, obj: Any, kind: str, via: str) -> Event | None:
        """Keep ``obj`` unless it is a bot's, already seen or invalid; return the event."""
        data = vars(obj) if not isinstance(obj, dict) else obj
        fullname = data.get("name") or (
            ("t3_" if kind == "submissions" else "t1_") + str(data.get("id"))
        )
        if fullname in self._pending or fullname in self.seen:
            if via == "stream":
                self.stats.duplicates += 1  # a stream replay, suppressed
            return None
        author = author_name(data.get("author"))
        sub = data.get("subreddit")
        sub_name = sub if isinstance(sub, str) else getattr(sub, "display_name", str(sub))
        if author is not None and author.lower() in self.bots:
            self.stats.skipped_bots += 1
            self._pending[fullname] = (
                kind,
                sub_name,
                int(data.get("created_utc") or 0),
                "bot",
                data.get("parent_id"),
            )
            return None
        try:
            event: Event = to_submission(obj) if kind == "submissions" else to_comment(obj)
        except (ValidationError, ValueError) as exc:
            self.stats.invalid += 1
            logger.warning("invalid %s %s: %s", kind, fullname, str(exc).splitlines()[0])
            return None
        self.emitted.append(event)
        self._pending[fullname] = (
            kind,
            event.subreddit,
            event.created_utc,
            via,
            getattr(event, "parent_id", None),
        )
        if isinstance(event, Submission):
            self.stats.submissions += 1
        else:
            assert isinstance(event, Comment)
            self.stats.comments += 1
            if event.is_tlc:
                self.stats.tlcs += 1
                if via == "sweep":
                    self.stats.tlc_gaps_filled += 1
        if via == "sweep":
            self.stats.gaps_filled[kind] += 1
        return event

    def stream_error(self, exc: Exception, in_a_row: int, max_in_a_row: int) -> int:
        """Account one stream error (praw's ``exception_handler``): re-raise a permanent one,
        raise :class:`RetriesExhausted` past ``max_in_a_row``; returns the new run length."""
        if not is_transient(exc):
            raise exc
        self.stats.errors += 1
        in_a_row += 1
        if in_a_row > max_in_a_row:
            raise RetriesExhausted(
                f"stream failed {in_a_row} times in a row: {type(exc).__name__}"
            ) from exc
        return in_a_row

    def sweep_start(
        self, sub_name: str, kind: str, now: float, lookback_s: float
    ) -> tuple[int, float, str]:
        """Where a sweep of one subreddit's listing starts: ``(newest created_utc known,
        floor = watermark (or now) - lookback, listing method)``."""
        mark = self.seen.watermark(sub_name, kind)
        floor = (mark if mark is not None else now) - lookback_s
        return mark or 0, floor, "new" if kind == "submissions" else "comments"

    def sweep_end(self, sub_name: str, kind: str, newest: int) -> None:
        if newest:
            self.seen.set_watermark(sub_name, kind, newest)

    def absorb_sweep_page(
        self, items: list[Any], kind: str, newest: int, floor: float
    ) -> tuple[int, int, str | None]:
        """Accept one page of a ``/new`` reconciliation sweep.

        Returns ``(newest created_utc seen, items filled, the page's `after` cursor)``; the
        cursor is ``None`` when the sweep should stop (page older than ``floor``, short page,
        or no cursor)."""
        filled = 0
        oldest: int | None = None
        for item in items:
            created = int(vars(item).get("created_utc") or 0)
            newest = max(newest, created)
            oldest = created if oldest is None else min(oldest, created)
            if self.accept(item, kind, "sweep") is not None:
                filled += 1
        after = vars(items[-1]).get("name") if items else None
        if oldest is not None and oldest < floor or len(items) < 100 or not after:
            after = None
        return newest, filled, after

    def take(self) -> list[Event]:
        """The events accepted since the last call."""
        out, self.emitted = self.emitted, []
        return out

    def commit(self) -> int:
        """Persist the batch as seen (after the bus flushed it). Returns the batch size."""
        if not self._pending:
            return 0
        self.seen.add_many([(f, *row) for f, row in self._pending.items()], self.clock())
        n = len(self._pending)
        self._pending.clear()
        return n
