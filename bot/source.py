"""Adapters that plug the bot into the stream service.

* :class:`RedditSource` — the live :class:`streaming.stages.ingest.Source`: iterating it polls
  Reddit through a :class:`bot.ingest.RedditIngest` (constructed with ``bus=None``) and yields
  new, deduplicated events; the ingest stage publishes them. A batch is marked as seen only
  after the consumer has taken all of it (so a crash re-emits at most one batch).
* :class:`ApiThreadFetcher` — the stream's back-fill ``ThreadFetcher`` (``thread(post, as_of)``)
  over :class:`bot.threads.RedditThreadFetcher`; ``None`` when the thread is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from bot.errors import FetchError, RetriesExhausted
from bot.ingest import RedditIngest
from bot.threads import FetchReport, RedditThreadFetcher
from redditdata.events import Comment, Submission
from redditdata.tree import Thread

__all__ = ["ApiThreadFetcher", "RedditSource"]

logger = logging.getLogger(__name__)


class RedditSource:
    def __init__(
        self,
        ingest: RedditIngest,
        *,
        idle_s: float = 5.0,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if ingest.core.bus is not None:
            raise ValueError(
                "RedditSource needs an ingest built with bus=None (the ingest stage publishes)"
            )
        self.ingest = ingest
        ingest.core.defer_commit = True
        self.idle_s = idle_s
        self.stop = stop
        self.sleep = sleep

    def __iter__(self) -> Iterator[Submission | Comment]:
        while not self.stop():
            try:
                self.ingest.poll_once()
            except RetriesExhausted as exc:
                logger.warning("reddit poll gave up: %s", exc)
            events = self.ingest.drain_events()
            yield from events
            self.ingest.core.commit(force=True)  # the consumer has taken the whole batch
            if not events:
                self.sleep(self.idle_s)


class ApiThreadFetcher:
    """``observer(thread, report)`` sees every fetched thread with its
    :class:`bot.threads.FetchReport` (deletion sync: :meth:`bot.deletions.DeletionSync
    .observe_thread`)."""

    def __init__(
        self,
        fetcher: RedditThreadFetcher,
        observer: Callable[[Thread, FetchReport], Any] | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.observer = observer

    def thread(self, post_name: str, as_of: float) -> Thread | None:
        """The thread as Reddit shows it now (the API cannot go back to ``as_of``)."""
        try:
            thread, report = self.fetcher.fetch_with_report(post_name)
        except FetchError as exc:
            logger.warning("back-fill of %s failed: %s", post_name, exc)
            return None
        if self.observer is not None:
            self.observer(thread, report)
        return thread
