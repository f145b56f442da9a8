"""Deletion sync: notice on Reddit when a stored post, TLC or reply was deleted or removed,
and erase it (:class:`streaming.erasure.Eraser`).

Two ways in:

* :meth:`DeletionSync.run` — the scheduled re-check: what :class:`streaming.rechecks
  .RecheckSchedule` says is due is looked up through ``/api/info`` (100 fullnames per
  request, posts and comments mixed).
* :meth:`DeletionSync.observe_thread` — what the fetches the service already makes show
  (the back-fill's thread fetch; any other fetch can pass its items to :meth:`observe`).

:func:`bot.gone.classify` reads one item as Reddit returns it; an item missing from
``/api/info`` is gone (deleted). For an item of a deleted account every stored item of the
author it had when stored is erased too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, asdict, dataclass, field
from functools import partial
from typing import Any

from bot.backoff import Backoff
from bot.errors import RetriesExhausted
from bot.gone import classify
from bot.ratelimit import RateBudget
from bot.threads import FetchReport
from redditdata.tree import Thread, walk
from streaming.erasure import Eraser
from streaming.rechecks import RecheckSchedule

__all__ = ["INFO_BATCH", "DeletionSync", "SyncReport", "classify"]

logger = logging.getLogger(__name__)

#: fullnames per ``/api/info`` request (Reddit's maximum)
INFO_BATCH = 100


@dataclass
class SyncReport:
    checked: int = 0
    requests: int = 0
    erased: dict[str, int] = field(default_factory=dict)
    failed_batches: int = 0

    def add(self, reason: str, n: int = 1) -> None:
        self.erased[reason] = self.erased.get(reason, 0) + n


@dataclass(eq=False)
class DeletionSync:
    """Re-checks stored items on Reddit and erases what is gone (see the module docstring)."""

    reddit: Any
    eraser: Eraser
    schedule: RecheckSchedule
    _: KW_ONLY
    backoff: Backoff = field(default_factory=Backoff)
    max_items: int = 60_000
    #: a run stops when the shared rate budget needs a pause (what is left stays due)
    budget: RateBudget | None = None
    #: at most this many ``/api/info`` requests per run (5,000 items)
    max_requests: int = 50
    totals: SyncReport = field(default_factory=SyncReport, init=False)

    # -- what is due -------------------------------------------------------------------
    def due(self, limit: int | None = None) -> list[str]:
        """Stored, not yet erased fullnames due for a re-check now (oldest first)."""
        return self.schedule.due(limit or self.max_items)

    # -- the scheduled job ------------------------------------------------------------
    def run(self, limit: int | None = None) -> SyncReport:
        """Re-check everything due now through ``/api/info`` in batches of 100."""
        report = SyncReport()
        names = self.due(limit or self.max_requests * INFO_BATCH)
        for i in range(0, len(names), INFO_BATCH):
            if self.budget is not None and self.budget.pause_needed() > 0:
                logger.info("rate budget low: re-check of %d items postponed", len(names) - i)
                break
            batch = names[i : i + INFO_BATCH]
            try:
                things = self.backoff.call(partial(self._info, batch), "re-check /api/info")
            except RetriesExhausted as exc:
                report.failed_batches += 1
                logger.warning("re-check of %d items failed: %s", len(batch), exc)
                continue
            report.requests += 1
            report.checked += len(batch)
            seen = {str(vars(t).get("name") or t.fullname): t for t in things}
            gone: dict[str, str] = {}
            for name in batch:
                thing = seen.get(name)
                reason = "deleted" if thing is None else classify(thing)
                if reason is not None:
                    gone[name] = reason
            self._apply(gone, "recheck", report)
            self.schedule.mark_checked(batch)
        self._accumulate(report)
        if report.checked:
            logger.info("re-check: %s", asdict(report))
        return report

    def _info(self, batch: list[str]) -> list[Any]:
        return list(self.reddit.info(fullnames=batch))

    # -- fetches the service already makes --------------------------------------------
    def observe(self, things: Iterable[Any], via: str = "fetch") -> SyncReport:
        """Erase what ``things`` (praw objects or API data mappings) show to be gone."""
        report = SyncReport()
        gone: dict[str, str] = {}
        for t in things:
            d = t if isinstance(t, Mapping) else vars(t)
            if "body" not in d and "selftext" not in d:
                continue  # a "load more comments" stub, or an item not loaded
            reason = classify(d)
            if reason is not None and d.get("name"):
                gone[str(d["name"])] = reason
        self._apply(gone, via, report)
        self._accumulate(report)
        return report

    def observe_gone(self, gone: Mapping[str, str], via: str = "backfill") -> SyncReport:
        """Erase items a fetch already classified (``FetchReport.gone``)."""
        report = SyncReport()
        self._apply(dict(gone), via, report)
        self._accumulate(report)
        return report

    def observe_thread(
        self, thread: Thread | None, report: FetchReport | None = None
    ) -> SyncReport:
        """The back-fill's thread: items it shows deleted, removed or of a deleted account
        (``report.gone`` from :class:`bot.threads.FetchReport` when given, else the text
        markers of the thread itself)."""
        gone = dict(report.gone) if report is not None else {}
        if not gone and thread is not None:
            post = thread.post
            reason = classify({"selftext": post.selftext, "author": post.author})
            if reason is not None:
                gone[post.name] = reason
            for tlc in thread.tlcs:
                for node in walk(tlc):
                    reason = classify({"body": node.body, "author": node.author})
                    if reason is not None:
                        gone[node.name] = reason
        return self.observe_gone(gone, "backfill")

    # -- internals --------------------------------------------------------------------
    def _apply(self, gone: dict[str, str], via: str, report: SyncReport) -> None:
        accounts = [n for n, r in gone.items() if r == "account_deleted"]
        items = {n: r for n, r in gone.items() if r != "account_deleted"}
        if items:
            self._counted(report, lambda: self.eraser.erase(items, via))
        if accounts:
            self._counted(report, lambda: self.eraser.erase_accounts(accounts, via))

    def _counted(self, report: SyncReport, erase: Callable[[], object]) -> None:
        """Run ``erase`` and add what it erased (by reason) to ``report``."""
        before = dict(self.eraser.erased_total)
        erase()
        for r, n in self.eraser.erased_total.items():
            if n > before.get(r, 0):
                report.add(r, n - before.get(r, 0))

    def _accumulate(self, report: SyncReport) -> None:
        t = self.totals
        t.checked += report.checked
        t.requests += report.requests
        t.failed_batches += report.failed_batches
        for r, n in report.erased.items():
            t.add(r, n)
