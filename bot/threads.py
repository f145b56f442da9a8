"""Back-fill: fetch a whole thread from the Reddit API as a :class:`redditdata.tree.Thread`.

At the horizon the stream service asks for the thread under a scored TLC. The fetcher loads
the post, expands every "load more comments" / "continue this thread" stub with
``replace_more`` within a request budget, and rebuilds the forest from ``parent_id`` with
:func:`redditdata.forest.build_thread`; with ``as_of`` only comments created by then are kept
(the outcome at a horizon must not count later replies). Deleted and removed comments stay in the tree (their
replies hang off them; ``Node.is_deleted`` tells the metrics); a removed or deleted post, a
locked or archived thread is reported in :class:`FetchReport`. Transient failures are retried
without losing progress: a stub whose request failed stays in the forest and is fetched again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import prawcore

from bot.backoff import Backoff, is_transient
from bot.convert import author_name, to_comment
from bot.errors import FetchError, RetriesExhausted
from bot.gone import classify
from bot.ratelimit import RateBudget
from redditdata.dumps import DumpReport
from redditdata.forest import build_thread
from redditdata.tree import Post, Thread

__all__ = ["FetchReport", "RedditThreadFetcher"]

logger = logging.getLogger(__name__)


@dataclass
class FetchReport:
    post: str
    comments: int = 0
    complete: bool = True
    skipped_more: int = 0  # comments left behind unexpanded stubs (budget)
    requests: int = 0
    locked: bool = False
    archived: bool = False
    post_removed: bool = False
    post_deleted: bool = False
    deleted_comments: int = 0
    removed_comments: int = 0
    rejected: list[str] = field(default_factory=list)
    gone: dict[str, str] = field(default_factory=dict)  # fullname -> bot.gone.classify reason


@dataclass(eq=False)
class RedditThreadFetcher:
    """Fetch threads with praw within ``request_budget`` requests per thread."""

    reddit: Any
    _: KW_ONLY
    request_budget: int = 400
    budget: RateBudget | None = None
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.time
    max_attempts: int = 8
    last_report: FetchReport | None = field(default=None, init=False)

    def fetch(self, post_name: str, as_of: float | None = None) -> Thread:
        return self.fetch_with_report(post_name, as_of)[0]

    def _requests(self) -> int:
        return self.budget.requests if self.budget is not None else 0

    def fetch_with_report(
        self, post_name: str, as_of: float | None = None
    ) -> tuple[Thread, FetchReport]:
        post_id = post_name.removeprefix("t3_")
        report = FetchReport(post=f"t3_{post_id}")
        start = self._requests()
        submission = self.reddit.submission(id=post_id)

        def load() -> Any:
            _ = submission.title  # fires GET /comments/{id}
            return submission.comments

        try:
            forest = self.backoff.call(load, f"fetch {post_name}")
        except (prawcore.NotFound, prawcore.Forbidden, prawcore.Redirect) as exc:
            raise FetchError(f"{post_name}: {type(exc).__name__}") from exc
        except RetriesExhausted as exc:
            raise FetchError(f"{post_name}: {exc}", transient=True) from exc
        replaced = self._requests() - start if self.budget is not None else 1
        skipped: list[Any] = []
        for attempt in range(self.max_attempts):
            left = self.request_budget - replaced
            try:
                skipped = forest.replace_more(limit=max(0, left))
                break
            except Exception as exc:
                if not is_transient(exc) or attempt + 1 == self.max_attempts:
                    raise FetchError(
                        f"{post_name}: expanding comments failed: {type(exc).__name__}",
                        transient=is_transient(exc),
                    ) from exc
                self.backoff.failures += 1
                self.sleep_for(attempt, exc)
            finally:
                if self.budget is not None:
                    replaced = self._requests() - start
        report.requests = self._requests() - start
        if skipped:
            report.complete = False
            report.skipped_more = sum(int(getattr(m, "count", 0) or 0) for m in skipped)
            logger.warning(
                "%s: request budget %d reached, %d stubs (%d comments) left",
                post_name,
                self.request_budget,
                len(skipped),
                report.skipped_more,
            )
        thread = self._to_thread(submission, forest.list(), report, as_of)
        report.comments = thread.n_comments
        self.last_report = report
        return thread, report

    def sleep_for(self, attempt: int, exc: BaseException) -> None:
        wait = self.backoff.delay(attempt, exc)
        logger.warning("back-fill retry in %.1fs after %s", wait, type(exc).__name__)
        self.backoff.sleep(wait)

    def _to_thread(
        self, submission: Any, comments: list[Any], report: FetchReport, as_of: float | None
    ) -> Thread:
        data = vars(submission)
        now = int(self.clock())
        report.locked = bool(data.get("locked"))
        report.archived = bool(data.get("archived"))
        selftext = data.get("selftext") or ""
        report.post_removed = selftext == "[removed]" or bool(data.get("removed_by_category"))
        report.post_deleted = selftext == "[deleted]" or data.get("author") is None
        sub = data.get("subreddit")
        if (post_gone := classify(data)) is not None:
            report.gone[f"t3_{data['id']}"] = post_gone
        post = Post(
            name=f"t3_{data['id']}",
            subreddit=getattr(sub, "display_name", str(sub)),
            title=data.get("title") or "",
            selftext=selftext,
            author=author_name(data.get("author")),
            score=int(data.get("score") or 0),
            created_utc=int(data.get("created_utc") or 0),
            retrieved_on=now,
        )
        events = []
        for c in comments:
            cdata = vars(c)
            if (gone := classify(cdata)) is not None and cdata.get("name"):
                report.gone[str(cdata["name"])] = gone  # later comments too: stored replies
            if as_of is not None and float(cdata.get("created_utc") or 0) > as_of:
                continue
            body = cdata.get("body")
            if body == "[deleted]":
                report.deleted_comments += 1
            elif body == "[removed]":
                report.removed_comments += 1
            try:
                events.append(to_comment(c))
            except ValueError as exc:
                report.rejected.append(f"{cdata.get('name')}: {str(exc).splitlines()[0]}")
        dump_report = DumpReport()
        thread = build_thread(post, events, dump_report)
        report.rejected.extend(b.reason for b in dump_report.samples)
        return thread
