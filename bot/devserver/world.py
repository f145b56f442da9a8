"""The state behind the dev server: real posts and comments on a simulated clock.

Each item becomes visible at ``created_utc`` (a share of them late, by up to ``max_lag_s``, as
Reddit's listings are eventually consistent: a stream that has moved past a late item never
sees it, which is what the bot's sweeps must catch). Listings are newest-first by creation
time with Reddit's ``before`` / ``after`` / ``limit`` semantics; a ``before`` cursor that is not
in the listing yields an empty page, as on Reddit.
"""

from __future__ import annotations

import bisect
import gzip
import json
import random
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Item", "RedditWorld", "load_world", "read_window"]


@dataclass(slots=True)
class Item:
    kind: str  # "t3" | "t1"
    data: dict[str, Any]
    visible_at: float

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def created(self) -> float:
        return float(self.data["created_utc"])


def _comment_data(r: dict[str, Any]) -> dict[str, Any]:
    sub = r["subreddit"]
    link = r["link_id"]
    return {
        "subreddit_id": "t5_" + format(zlib.crc32(sub.lower().encode()), "x"),
        "approved_at_utc": None,
        "author_is_blocked": False,
        "comment_type": None,
        "mod_reason_by": None,
        "banned_by": None,
        "ups": r.get("score", 1),
        "num_reports": None,
        "author_flair_type": "text",
        "total_awards_received": 0,
        "subreddit": sub,
        "likes": None,
        "replies": "",
        "user_reports": [],
        "saved": False,
        "id": r["id"],
        "banned_at_utc": None,
        "mod_reason_title": None,
        "gilded": 0,
        "archived": False,
        "collapsed_reason_code": None,
        "no_follow": True,
        "author": r.get("author") or "[deleted]",
        "can_mod_post": True,
        "send_replies": True,
        "parent_id": r["parent_id"],
        "score": r.get("score", 1),
        "author_fullname": None if not r.get("author") else "t2_" + r["author"].lower()[:8],
        "over_18": False,
        "report_reasons": None,
        "removal_reason": None,
        "approved_by": None,
        "controversiality": 0,
        "body": r.get("body") or "",
        "edited": False,
        "top_awarded_type": None,
        "downs": 0,
        "author_flair_css_class": None,
        "is_submitter": False,
        "collapsed": False,
        "author_flair_richtext": [],
        "author_patreon_flair": False,
        "gildings": {},
        "collapsed_reason": None,
        "distinguished": None,
        "associated_award": None,
        "stickied": False,
        "author_premium": False,
        "can_gild": False,
        "link_id": link,
        "unrepliable_reason": None,
        "author_flair_text_color": None,
        "score_hidden": False,
        "permalink": r.get("permalink") or f"/r/{sub}/comments/{link[3:]}/_/{r['id']}/",
        "subreddit_type": "public",
        "name": r["name"],
        "author_flair_template_id": None,
        "subreddit_name_prefixed": f"r/{sub}",
        "author_flair_text": None,
        "treatment_tags": [],
        "created": float(r["created_utc"]),
        "created_utc": float(r["created_utc"]),
        "awarders": [],
        "all_awardings": [],
        "locked": False,
        "author_flair_background_color": None,
        "collapsed_because_crowd_control": None,
        "mod_reports": [],
        "quarantine": False,
        "mod_note": None,
        "depth": r.get("depth", 0),
    }


def _submission_data(r: dict[str, Any]) -> dict[str, Any]:
    sub = r["subreddit"]
    return {
        "contest_mode": False,
        "banned_by": None,
        "domain": f"self.{sub}",
        "subreddit": sub,
        "selftext_html": None,
        "selftext": r.get("selftext") or "",
        "likes": None,
        "suggested_sort": None,
        "user_reports": [],
        "secure_media": None,
        "saved": False,
        "id": r["id"],
        "gilded": 0,
        "secure_media_embed": {},
        "clicked": False,
        "report_reasons": None,
        "author": r.get("author") or "[deleted]",
        "media": None,
        "name": r["name"],
        "score": r.get("score", 1),
        "approved_by": None,
        "over_18": bool(r.get("over_18")),
        "removal_reason": None,
        "hidden": False,
        "thumbnail": "self",
        "subreddit_id": "t5_" + format(zlib.crc32(sub.lower().encode()), "x"),
        "edited": False,
        "link_flair_css_class": None,
        "author_flair_css_class": None,
        "downs": 0,
        "mod_reports": [],
        "archived": False,
        "media_embed": {},
        "is_self": True,
        "hide_score": False,
        "spoiler": False,
        "permalink": r.get("permalink") or f"/r/{sub}/comments/{r['id']}/",
        "locked": False,
        "stickied": False,
        "created": float(r["created_utc"]),
        "url": f"https://www.reddit.com/r/{sub}/comments/{r['id']}/",
        "author_flair_text": None,
        "quarantine": False,
        "title": r.get("title") or "",
        "created_utc": float(r["created_utc"]),
        "link_flair_text": None,
        "distinguished": None,
        "num_comments": 0,
        "visited": False,
        "num_reports": None,
        "ups": r.get("score", 1),
        "upvote_ratio": r.get("upvote_ratio") or 1.0,
        "removed_by_category": None,
    }


@dataclass
class ModmailConv:
    id: str
    subreddit: str
    subject: str
    to: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class RedditWorld:
    """Posts, comments, wiki pages, modmail and moderator actions on a simulated clock."""

    def __init__(
        self,
        submissions: Iterable[dict[str, Any]],
        comments: Iterable[dict[str, Any]],
        *,
        start: float,
        bot_username: str = "prosocial_bot",
        moderators: dict[str, dict[str, list[str]]] | None = None,
        late_fraction: float = 0.03,
        max_lag_s: float = 600,
        seed: int = 0,
        automod_tlcs: bool = True,
    ) -> None:
        rng = random.Random(seed)
        self.lock = threading.RLock()
        self.start = float(start)
        self._base = float(start)
        self._speed = 0.0
        self._wall0 = 0.0
        self.bot_username = bot_username
        self.items: dict[str, Item] = {}
        self.by_sub: dict[str, dict[str, list[Item]]] = defaultdict(lambda: {"t3": [], "t1": []})
        self.comments_by_post: dict[str, list[Item]] = defaultdict(list)
        self.subreddits: dict[str, str] = {}  # lower -> display name
        for r in submissions:
            self._add(
                Item("t3", _submission_data(r), float(r["created_utc"])),
                rng,
                late_fraction,
                max_lag_s,
            )
        for r in comments:
            self._add(
                Item("t1", _comment_data(r), float(r["created_utc"])), rng, late_fraction, max_lag_s
            )
        if automod_tlcs:
            for post in [i for i in self.items.values() if i.kind == "t3"]:
                am = {
                    "id": "am" + post.data["id"][-8:],
                    "name": "t1_am" + post.data["id"][-8:],
                    "subreddit": post.data["subreddit"],
                    "author": "AutoModerator",
                    "parent_id": post.name,
                    "link_id": post.name,
                    "score": 1,
                    "body": "Please read the rules before commenting.",
                    "created_utc": post.created + 2,
                }
                self._add(Item("t1", _comment_data(am), post.created + 2), rng, 0, 0)
        for sub in self.by_sub.values():
            for lst in sub.values():
                lst.sort(key=lambda i: (i.created, i.name))
        for lst in self.comments_by_post.values():
            lst.sort(key=lambda i: (i.created, i.name))
        self.moderators = (
            moderators
            if moderators is not None
            else {s: {bot_username: ["all"], "mod_alice": ["all"]} for s in self.subreddits}
        )
        self.wiki: dict[tuple[str, str], dict[str, Any]] = {}
        self.wiki_settings: dict[tuple[str, str], dict[str, Any]] = {}
        #: every edit of a page, oldest first: ``{"id", "by", "at", "reason", "content"}``
        self.wiki_revisions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.modmail: dict[str, ModmailConv] = {}
        self.mod_actions: list[dict[str, Any]] = []
        self.requests_by_window: dict[int, int] = defaultdict(int)
        self.requests = 0
        self._ids = 0
        #: called with the time before every answer and when the clock is advanced by hand
        #: (scheduled changes such as ``--delete-rate`` deletions): :meth:`apply_due`
        self.due_hooks: list[Callable[[float], None]] = []
        self.deletions: Any = None  # a bot.devserver.deletions.DeletionPlan, when attached

    def add_comment(self, parent: Item, author: str, body: str) -> Item:
        """A comment posted now through the API (by the bot, or a test's user)."""
        with self.lock:
            link = parent.name if parent.kind == "t3" else parent.data["link_id"]
            cid = self.new_id("zz")
            now = self.now
            r = {
                "id": cid,
                "name": "t1_" + cid,
                "subreddit": parent.data["subreddit"],
                "author": author,
                "parent_id": parent.name,
                "link_id": link,
                "score": 1,
                "body": body,
                "created_utc": int(now),
            }
            item = Item("t1", _comment_data(r), float(int(now)))
            self.items[item.name] = item
            sub = item.data["subreddit"].lower()
            key = lambda i: (i.created, i.name)
            bisect.insort(self.by_sub[sub]["t1"], item, key=key)
            bisect.insort(self.comments_by_post[link], item, key=key)
            return item

    def _add(self, item: Item, rng: random.Random, late: float, lag: float) -> None:
        if late and rng.random() < late:
            item.visible_at = item.created + rng.uniform(60, lag)
        self.items[item.name] = item
        sub = item.data["subreddit"]
        self.subreddits.setdefault(sub.lower(), sub)
        self.by_sub[sub.lower()][item.kind].append(item)
        if item.kind == "t1":
            self.comments_by_post[item.data["link_id"]].append(item)

    # -- clock --------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulated time: advanced by hand, or running at ``speed`` after :meth:`run_at`."""
        if not self._speed:
            return self._base
        return self._base + (time.time() - self._wall0) * self._speed

    def run_at(self, speed: float, wall0: float | None = None) -> None:
        """Let simulated time run by itself: ``speed`` simulated seconds per wall second."""
        with self.lock:
            self._base = self.now
            self._wall0 = time.time() if wall0 is None else wall0
            self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    def clock_info(self) -> dict[str, float]:
        """What a client needs to follow the simulated clock: ``now = base + (wall - wall0)
        * speed``."""
        with self.lock:
            return {
                "now": self.now,
                "speed": self._speed,
                "base": self._base,
                "wall0": self._wall0,
                "start": self.start,
            }

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._base += max(0.0, float(seconds))
            self.apply_due()

    def apply_due(self) -> None:
        """Apply the scheduled changes that are due at the current time."""
        with self.lock:
            for hook in self.due_hooks:
                hook(self.now)

    def clock(self) -> float:
        return self.now

    def new_id(self, prefix: str = "") -> str:
        with self.lock:
            self._ids += 1
            return prefix + format(36**4 + self._ids, "x")

    # -- listings -----------------------------------------------------------------------
    def visible(self, subs: list[str], kind: str) -> list[Item]:
        """Items visible now, newest first (by creation, as Reddit orders listings)."""
        now = self.now
        out: list[Item] = []
        for s in subs:
            lst = self.by_sub.get(s.lower(), {}).get(kind, [])
            hi = bisect.bisect_right([i.created for i in lst], now)
            out.extend(i for i in lst[:hi] if i.visible_at <= now)
        out.sort(key=lambda i: (i.created, i.name), reverse=True)
        return out

    def listing(
        self, subs: list[str], kind: str, limit: int, before: str | None, after: str | None
    ) -> tuple[list[Item], str | None, str | None]:
        items = self.visible(subs, kind)
        limit = max(1, min(100, limit))
        names = [i.name for i in items]
        if before:
            if before not in names:
                return [], None, None
            idx = names.index(before)
            page = items[max(0, idx - limit) : idx]
        elif after:
            if after not in names:
                return [], None, None
            idx = names.index(after)
            page = items[idx + 1 : idx + 1 + limit]
        else:
            page = items[:limit]
        nxt = page[-1].name if page and len(page) == limit else None
        return page, nxt, (page[0].name if page else None)

    def present(
        self,
        kind: str,
        tlc_only: bool = False,
        humans_only: bool = True,
        until: float | None = None,
        since: float | None = None,
    ) -> set[str]:
        """Fullnames visible by ``until`` (default now) — the ground truth for ingest."""
        until = self.now if until is None else until
        out = set()
        for i in self.items.values():
            if i.kind != kind or i.visible_at > until or i.created > until:
                continue
            if since is not None and i.created < since:
                continue
            if tlc_only and i.data.get("parent_id") != i.data.get("link_id"):
                continue
            if humans_only and i.data.get("author") == "AutoModerator":
                continue
            out.add(i.name)
        return out

    def thread_comments(self, post_name: str) -> list[Item]:
        now = self.now
        return [
            c
            for c in self.comments_by_post.get(post_name, [])
            if c.visible_at <= now and c.created <= now
        ]


def load_world(
    data_dir: str | Path,
    subreddits: Iterable[str],
    start: float,
    end: float,
    *,
    post_lookback_s: float = 86400,
    **kwargs: Any,
) -> RedditWorld:
    """The world of :func:`read_window`'s posts and comments, starting at ``start``."""
    posts, comments = read_window(data_dir, subreddits, start, end, post_lookback_s)
    return RedditWorld(posts, comments, start=start, **kwargs)


def read_window(
    data_dir: str | Path,
    subreddits: Iterable[str],
    start: float,
    end: float,
    post_lookback_s: float = 86400,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Posts of ``subreddits`` created in ``[start - post_lookback_s, end)`` and their comments
    created before ``end`` (from ``reddit-college``-style ``submissions/comments.jsonl.gz``)."""
    d = Path(data_dir)
    subs = {s.lower() for s in subreddits}
    needles = [f'"subreddit": "{s}"'.lower() for s in subs]
    posts: list[dict[str, Any]] = []
    with gzip.open(d / "submissions.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            low = line[:4000].lower()
            if not any(n in low for n in needles):
                continue
            r = json.loads(line)
            if (
                r["subreddit"].lower() in subs
                and start - post_lookback_s <= float(r["created_utc"]) < end
            ):
                posts.append(r)
    names = {p["name"] for p in posts}
    comments: list[dict[str, Any]] = []
    with gzip.open(d / "comments.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            i = line.find('"link_id": "')
            if i < 0 or line[i + 12 : line.find('"', i + 12)] not in names:
                continue
            r = json.loads(line)
            if float(r["created_utc"]) < end:
                comments.append(r)
    return posts, comments
