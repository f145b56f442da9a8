"""Deletions and removals on the dev server (``--delete-rate``), as Reddit shows them.

A share ``rate`` of the human posts and comments is deleted by its author or removed by a
moderator at a random moment between ``min_delay_s`` and ``max_delay_s`` after it became
visible; a share ``account_rate`` of the authors deletes their account at such a moment. What
Reddit then returns:

* deleted: body / selftext ``[deleted]``, author ``[deleted]``, ``removed_by_category``
  ``deleted`` on posts;
* removed, seen by a moderator with the posts permission (the bot): text and author intact,
  ``removed: true``, ``banned_by`` the moderator; seen by anyone else: ``[removed]`` and
  author ``[deleted]``; posts get ``removed_by_category`` ``moderator``;
* account deleted: every item of the author keeps its text, its author reads ``[deleted]``.

:attr:`DeletionPlan.applied` lists what happened (name, kind, action, at, author) — served at
``GET /dev/deletions`` so tests check erasure against it.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from typing import Any

from bot.devserver.world import Item, RedditWorld

__all__ = ["DeletionPlan"]

_SKIP_AUTHORS = {"AutoModerator", "[deleted]", ""}


class DeletionPlan:
    def __init__(
        self,
        rate: float = 0.0,
        *,
        account_rate: float | None = None,
        removed_share: float = 0.4,
        min_delay_s: float = 300,
        max_delay_s: float = 12 * 3600,
        seed: int = 0,
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("delete rate must be in [0, 1]")
        self.rate = rate
        self.account_rate = rate / 10 if account_rate is None else account_rate
        self.removed_share = removed_share
        self.min_delay_s = min_delay_s
        self.max_delay_s = max_delay_s
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, str, str]] = []  # (at, name or author, action)
        self.applied: list[dict[str, Any]] = []
        self._by_author: dict[str, list[Item]] = defaultdict(list)

    def attach(self, world: RedditWorld) -> DeletionPlan:
        """Draw the deletions for every item of ``world`` and apply them as its clock moves."""
        first_seen: dict[str, float] = {}
        for item in sorted(world.items.values(), key=lambda i: (i.visible_at, i.name)):
            author = str(item.data.get("author") or "")
            if author in _SKIP_AUTHORS:
                continue
            self._by_author[author].append(item)
            first_seen.setdefault(author, item.visible_at)
            if self.rng.random() < self.rate:
                action = "removed" if self.rng.random() < self.removed_share else "deleted"
                heapq.heappush(self._heap, (self._when(item.visible_at), item.name, action))
        for author, seen in sorted(first_seen.items()):
            if self.rng.random() < self.account_rate:
                heapq.heappush(self._heap, (self._when(seen), author, "account_deleted"))
        world.due_hooks.append(lambda now: self.apply(world, now))
        world.deletions = self
        self.apply(world, world.now)
        return self

    def _when(self, visible_at: float) -> float:
        return visible_at + self.rng.uniform(self.min_delay_s, self.max_delay_s)

    def apply(self, world: RedditWorld, now: float) -> None:
        with world.lock:
            while self._heap and self._heap[0][0] <= now:
                at, target, action = heapq.heappop(self._heap)
                if action == "account_deleted":
                    for item in self._by_author.get(target, []):
                        self._log(item, action, at, target)
                        item.data["author"] = "[deleted]"
                        item.data["author_fullname"] = None
                    continue
                item = world.items[target]
                author = str(item.data.get("author") or "")
                self._log(item, action, at, author)
                if action == "deleted":
                    _delete(item)
                else:
                    _remove(item, _bot_sees_removed(world, item))

    def _log(self, item: Item, action: str, at: float, author: str) -> None:
        self.applied.append(
            {"name": item.name, "kind": item.kind, "action": action, "at": at, "author": author}
        )

    def names(self, until: float | None = None) -> dict[str, str]:
        """Fullname -> the first action applied to it (by ``until``)."""
        out: dict[str, str] = {}
        for a in self.applied:
            if until is None or a["at"] <= until:
                out.setdefault(a["name"], a["action"])
        return out


def _text_key(item: Item) -> str:
    return "body" if item.kind == "t1" else "selftext"


def _delete(item: Item) -> None:
    item.data[_text_key(item)] = "[deleted]"
    item.data["author"] = "[deleted]"
    item.data["author_fullname"] = None
    if item.kind == "t3":
        item.data["removed_by_category"] = "deleted"


def _remove(item: Item, moderator_view: bool) -> None:
    if item.kind == "t3":
        item.data["removed_by_category"] = "moderator"
    if moderator_view:
        item.data["removed"] = True
        item.data["banned_by"] = "mod_alice"
        return
    item.data[_text_key(item)] = "[removed]"
    item.data["author"] = "[deleted]"
    item.data["author_fullname"] = None


def _bot_sees_removed(world: RedditWorld, item: Item) -> bool:
    perms = world.moderators.get(str(item.data["subreddit"]).lower(), {})
    return bool({"all", "posts"} & set(perms.get(world.bot_username, [])))
