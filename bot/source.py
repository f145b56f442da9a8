"""Adapters that plug live Reddit into the stream service.

* :func:`live_events` — the live :class:`streaming.stages.ingest.Source`: a generator of events
  (like praw's ``stream`` helpers) that runs rounds of the reader (:class:`bot.aingest
  .AsyncRedditIngest`) and yields what each round found; the ingest stage encodes and
  publishes them. A round's items are marked as seen only after ``flush`` (the bus) returned,
  so a crash re-emits at most one round and never loses one.
* :class:`ApiThreadFetcher` — the stream's back-fill ``ThreadFetcher`` over
  :class:`bot.threads.RedditThreadFetcher`: the thread as Reddit shows it, cut at the horizon
  (only replies created by ``as_of`` count); ``None`` when the thread is gone;
  :class:`streaming.replay.FetchDeferred` while Reddit cannot be reached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from bot.aingest import AsyncRedditIngest
from bot.errors import FetchError, RetriesExhausted
from bot.threads import RedditThreadFetcher
from redditdata.events import Comment, Submission
from redditdata.tree import Thread
from streaming.replay import FetchDeferred

__all__ = ["ApiThreadFetcher", "live_events"]

logger = logging.getLogger(__name__)


def live_events(
    reader: AsyncRedditIngest,
    *,
    run: Callable[[Coroutine[Any, Any, Any]], Any],
    flush: Callable[[], Any],
    sleep: Callable[[float], Any],
    stop: Callable[[], bool] = lambda: False,
    idle_s: float = 60.0,
    on_round: Callable[[int], Any] | None = None,
) -> Iterator[Submission | Comment]:
    """Yield the events of each reader round until ``stop()``.

    ``run`` runs one of the reader's coroutines (on the process's event loop), ``flush`` makes
    what was published durable, ``sleep`` waits ``idle_s`` (in the clock's seconds) after a
    round that found nothing; ``on_round(n)`` is told each successful round's size.
    """
    while not stop():
        ok = True
        try:
            run(reader.poll_once())
        except RetriesExhausted as exc:
            ok = False
            logger.warning("reddit poll gave up: %s", exc)
        events = reader.core.take()
        yield from events
        flush()
        reader.core.commit()  # the ingest stage has published and flushed the whole round
        if ok and on_round is not None:
            on_round(len(events))
        if not events and not stop():
            sleep(idle_s)


class ApiThreadFetcher:
    def __init__(self, fetcher: RedditThreadFetcher) -> None:
        self.fetcher = fetcher

    def thread(self, post_name: str, as_of: float) -> Thread | None:
        """The thread with the replies created by ``as_of`` (Reddit cannot go back in time:
        later replies are cut, scores are today's)."""
        try:
            return self.fetcher.fetch(post_name, as_of=as_of)
        except RetriesExhausted as exc:
            raise FetchDeferred(f"{post_name}: {exc}") from exc
        except FetchError as exc:
            if exc.transient:
                raise FetchDeferred(str(exc)) from exc
            logger.warning("back-fill of %s failed: %s", post_name, exc)
            return None
