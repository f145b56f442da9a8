"""The dev server's API handlers: request (method, path, query, form) → (status, JSON).

Shapes follow the recorded Reddit responses in praw's cassettes (same keys and types).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from bot.devserver.modapi import ModeratorApi
from bot.devserver.request import Request
from bot.devserver.routes import Response, route, routes
from bot.devserver.world import Item, ModmailConv, RedditWorld

__all__ = ["RedditApi", "Response"]

_NOT_FOUND: Response = (404, {"message": "Not Found", "error": 404})


def _listing(
    children: list[dict[str, Any]], after: str | None = None, before: str | None = None
) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": after,
            "dist": len(children),
            "modhash": None,
            "geo_filter": "",
            "children": children,
            "before": before,
        },
    }


def _thing(item: Item, **extra: Any) -> dict[str, Any]:
    return {"kind": item.kind, "data": {**item.data, **extra}}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(t))


class RedditApi(ModeratorApi):
    def __init__(
        self,
        world: RedditWorld,
        *,
        tree_limit: int = 40,
        more_chunk: int = 100,
        max_depth: int = 10,
    ) -> None:
        self.world = world
        self.max_depth = max_depth
        self.tree_limit = tree_limit
        self.more_chunk = more_chunk
        self.user = world.bot_username  # who sends the request being handled
        self.routes = routes(self)

    def handle(self, request: Request, user: str | None = None) -> Response:
        """The answer to ``request`` sent by ``user`` (default: the bot)."""
        for m, pattern, fn in self.routes:
            if m == request.method:
                match = pattern.match(request.path)
                if match:
                    with self.world.lock:
                        self.world.apply_due()
                        self.user = user or self.world.bot_username
                        return fn(*match.groups(), query=request.query, form=request.form)
        return _NOT_FOUND

    # -- users & listings ---------------------------------------------------------------
    @route("GET", r"^/api/v1/me/?$")
    def me(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        return 200, {
            "name": self.user,
            "id": "u" + format(abs(hash(self.user)) % 10**8, "x"),
            "is_mod": True,
            "created_utc": 1.6e9,
            "link_karma": 1,
            "comment_karma": 1,
            "has_verified_email": True,
            "is_suspended": False,
        }

    @route("GET", r"^/r/([^/]+)/(new|comments)/?$")
    def sub_listing(
        self, subs: str, which: str, *, query: dict[str, str], form: dict[str, str]
    ) -> Response:
        names = subs.split("+")
        if any(n.lower() not in self.world.subreddits for n in names):
            return _NOT_FOUND
        kind = "t3" if which == "new" else "t1"
        page, after, _before = self.world.listing(
            names, kind, int(query.get("limit", 25)), query.get("before"), query.get("after")
        )
        return 200, _listing([_thing(i) for i in page], after, None)

    @route("GET", r"^/r/([^/]+)/about/moderators/?$")
    def moderators(self, sub: str, *, query: dict[str, str], form: dict[str, str]) -> Response:
        mods = self.world.moderators.get(sub.lower())
        if mods is None:
            return 403, {"message": "Forbidden", "error": 403}
        user = query.get("user")
        children = [
            {
                "name": u,
                "id": "t2_" + u.lower()[:8],
                "date": 1.6e9,
                "mod_permissions": perms,
                "author_flair_text": None,
            }
            for u, perms in mods.items()
            if user is None or u.lower() == user.lower()
        ]
        return 200, {"kind": "UserList", "data": {"children": children}}

    @route("GET", r"^/api/info/?$")
    def info(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        names = [n for n in query.get("id", "").split(",") if n]
        items = [self.world.items[n] for n in names if n in self.world.items]
        return 200, _listing([_thing(i) for i in items])

    # -- comment trees -----------------------------------------------------------------
    def _subtree_ids(self, node: str, children: dict[str, list[Item]]) -> list[str]:
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed([c.name for c in children.get(n, [])]))
        return out

    def _mores(
        self, parent: str, rest: list[Item], children: dict[str, list[Item]], depth: int
    ) -> list[dict[str, Any]]:
        chunks: list[list[str]] = [[]]
        for c in rest:
            ids = self._subtree_ids(c.name, children)
            if chunks[-1] and len(chunks[-1]) + len(ids) > self.more_chunk:
                chunks.append([])
            chunks[-1].extend(ids)
        out = []
        for ids in chunks:
            short = [i[3:] for i in ids]
            out.append(
                {
                    "kind": "more",
                    "data": {
                        "count": len(short),
                        "name": "t1_" + short[0],
                        "id": short[0],
                        "parent_id": parent,
                        "depth": depth,
                        "children": short,
                    },
                }
            )
        return out

    def _render(
        self, parent: str, children: dict[str, list[Item]], depth: int, budget: list[int]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kids = children.get(parent, [])
        if kids and depth >= self.max_depth:  # "continue this thread"
            return [
                {
                    "kind": "more",
                    "data": {
                        "count": 0,
                        "name": "t1__",
                        "id": "_",
                        "parent_id": parent,
                        "depth": depth,
                        "children": [],
                    },
                }
            ]
        for i, c in enumerate(kids):
            if budget[0] <= 0:
                out.extend(self._mores(parent, kids[i:], children, depth))
                break
            budget[0] -= 1
            replies = self._render(c.name, children, depth + 1, budget)
            out.append(_thing(c, depth=depth, replies=_listing(replies) if replies else ""))
        return out

    def _children(self, post_name: str) -> dict[str, list[Item]]:
        children: dict[str, list[Item]] = defaultdict(list)
        for c in self.world.thread_comments(post_name):
            children[c.data["parent_id"]].append(c)
        for lst in children.values():
            lst.sort(key=lambda c: (-int(c.data.get("score") or 0), c.created, c.name))
        return children

    @route("GET", r"^/comments/([0-9a-z]+)(?:/[^/]*(?:/([0-9a-z]+))?)?/?$")
    def thread(
        self,
        post_id: str,
        comment_id: str | None = None,
        *,
        query: dict[str, str],
        form: dict[str, str],
    ) -> Response:
        post = self.world.items.get(f"t3_{post_id}")
        if post is None or post.visible_at > self.world.now:
            return _NOT_FOUND
        children = self._children(post.name)
        n = sum(len(v) for v in children.values())
        if comment_id is not None:  # a comment's permalink: that comment and its subtree
            root = self.world.items.get(f"t1_{comment_id}")
            if root is None or root.data["link_id"] != post.name:
                return _NOT_FOUND
            replies = self._render(root.name, children, 1, [self.tree_limit])
            tree = [_thing(root, depth=0, replies=_listing(replies) if replies else "")]
        else:
            tree = self._render(post.name, children, 0, [self.tree_limit])
        return 200, [_listing([_thing(post, num_comments=n)]), _listing(tree)]

    @route("POST", r"^/api/morechildren/?$")
    def morechildren(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        link = form.get("link_id", "")
        wanted = [f"t1_{c}" for c in form.get("children", "").split(",") if c]
        children = self._children(link)
        depth_of: dict[str, int] = {}
        things = []
        for name in wanted:
            item = self.world.items.get(name)
            if item is None or item.data["link_id"] != link:
                continue
            parent = item.data["parent_id"]
            depth = 0 if parent == link else depth_of.get(parent, 1) + 0
            depth_of[name] = depth + 1 if parent != link else 1
            things.append(_thing(item, depth=depth, replies=""))
        del children
        return 200, {"json": {"errors": [], "data": {"things": things}}}

    # -- wiki ---------------------------------------------------------------------------
    @route("GET", r"^/r/([^/]+)/wiki/(.+?)/?$")
    def wiki_get(
        self, sub: str, page: str, *, query: dict[str, str], form: dict[str, str]
    ) -> Response:
        doc = self.world.wiki.get((sub.lower(), page))
        if doc is None:
            return 404, {"reason": "PAGE_NOT_FOUND", "message": "Not Found"}
        if self.page_settings(sub, page)["permlevel"] == 2 and not self.is_mod(sub):
            return 403, {"reason": "MAY_NOT_VIEW", "message": "Forbidden", "error": 403}
        return 200, {
            "kind": "wikipage",
            "data": {
                "may_revise": True,
                "revision_date": doc["revision_date"],
                "content_html": '<div class="md wiki"></div>',
                "revision_by": {
                    "kind": "t2",
                    "data": {
                        "name": doc["by"],
                        "id": "x" + doc["by"][:6],
                        "is_mod": True,
                        "created_utc": 1.6e9,
                    },
                },
                "content_md": doc["content"],
                "revision_id": doc["revision_id"],
            },
        }

    @route("POST", r"^/r/([^/]+)/api/wiki/edit/?$")
    def wiki_edit(self, sub: str, *, query: dict[str, str], form: dict[str, str]) -> Response:
        if sub.lower() not in self.world.subreddits:
            return _NOT_FOUND
        page = form.get("page", "")
        if not page:  # Reddit names the page in the form; without one nothing is written
            return 400, {"reason": "INVALID_PAGE_NAME", "message": "Bad Request", "error": 400}
        if not self.is_mod(sub, "wiki"):
            return 403, {"reason": "MAY_NOT_REVISE", "message": "Forbidden", "error": 403}
        self.set_wiki(sub, page, form.get("content", ""), self.user, form.get("reason", ""))
        return 200, {}

    def set_wiki(self, sub: str, page: str, content: str, by: str, reason: str = "") -> None:
        """Write a page: a new revision (every edit is one, in the page's history)."""
        with self.world.lock:
            rev = self.world.new_id("rev-")
            self.world.wiki[(sub.lower(), page)] = {
                "content": content,
                "by": by,
                "revision_date": self.world.now,
                "revision_id": rev,
            }
            self.world.wiki_revisions[(sub.lower(), page)].append(
                {"id": rev, "by": by, "at": self.world.now, "reason": reason, "content": content}
            )

    # -- modmail ------------------------------------------------------------------------
    def _message(self, author: str, body: str, internal: bool) -> dict[str, Any]:
        mid = self.world.new_id("m")
        is_mod = author in self.world.moderators.get("*", {}) or any(
            author in m for m in self.world.moderators.values()
        )
        return {
            "body": f'<div class="md"><p>{body}</p></div>',
            "author": {
                "name": author,
                "isApproved": False,
                "isMod": is_mod,
                "isAdmin": False,
                "isOp": False,
                "isParticipant": False,
                "isHidden": False,
                "id": abs(hash(author)) % 10**9,
                "isDeleted": False,
            },
            "isInternal": internal,
            "date": _iso(self.world.now),
            "bodyMarkdown": body,
            "id": mid,
            "participatingAs": "moderator" if is_mod else "participant_user",
        }

    def _conv_json(self, conv: ModmailConv) -> dict[str, Any]:
        msgs = {m["id"]: m for m in conv.messages}
        authors = list({m["author"]["name"]: m["author"] for m in conv.messages}.values())
        last = conv.messages[-1]["date"] if conv.messages else _iso(self.world.now)
        return {
            "conversation": {
                "isAuto": False,
                "objIds": [{"id": m["id"], "key": "messages"} for m in conv.messages],
                "isRepliable": True,
                "lastUserUpdate": None,
                "isInternal": True,
                "lastModUpdate": last,
                "lastUpdated": last,
                "authors": authors,
                "owner": {
                    "displayName": conv.subreddit,
                    "type": "subreddit",
                    "id": "t5_" + conv.subreddit.lower()[:6],
                },
                "id": conv.id,
                "isHighlighted": False,
                "subject": conv.subject,
                "participant": {},
                "state": 0,
                "lastUnread": None,
                "numMessages": len(conv.messages),
            },
            "messages": msgs,
            "modActions": {},
        }

    @route("POST", r"^/api/mod/conversations/?$")
    def modmail_create(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        sub = form.get("srName", "")
        if sub.lower() not in self.world.subreddits:
            return 400, {"json": {"errors": [["SUBREDDIT_NOEXIST", "unknown", "srName"]]}}
        if not self.is_mod(sub, "mail"):
            return 403, {"message": "Forbidden", "error": 403}
        conv = ModmailConv(
            self.world.new_id("c"),
            self.world.subreddits[sub.lower()],
            form.get("subject", ""),
            form.get("to", ""),
        )
        conv.messages.append(self._message(self.user, form.get("body", ""), True))
        self.world.modmail[conv.id] = conv
        return 201, self._conv_json(conv)

    def _mod_conversation(self, cid: str) -> ModmailConv | Response:
        """Conversation ``cid`` when the user may read its subreddit's modmail, else the error
        Reddit answers."""
        conv = self.world.modmail.get(cid)
        if conv is None:
            return _NOT_FOUND
        if not self.is_mod(conv.subreddit, "mail"):
            return 403, {"message": "Forbidden", "error": 403}
        return conv

    @route("GET", r"^/api/mod/conversations/([0-9a-z]+)/?$")
    def modmail_get(self, cid: str, *, query: dict[str, str], form: dict[str, str]) -> Response:
        conv = self._mod_conversation(cid)
        if isinstance(conv, tuple):  # the error answer
            return conv
        return 200, {**self._conv_json(conv), "user": {}}

    @route("POST", r"^/api/mod/conversations/([0-9a-z]+)/?$")
    def modmail_reply(self, cid: str, *, query: dict[str, str], form: dict[str, str]) -> Response:
        conv = self._mod_conversation(cid)
        if isinstance(conv, tuple):  # the error answer
            return conv
        conv.messages.append(
            self._message(self.user, form.get("body", ""), form.get("isInternal") == "True")
        )
        return 201, {**self._conv_json(conv), "participantSubreddit": {}, "user": {}}

    def add_moderator_reply(self, cid: str, author: str, body: str) -> None:
        """Test / dev hook: a moderator answers in a conversation."""
        with self.world.lock:
            self.world.modmail[cid].messages.append(self._message(author, body, True))
