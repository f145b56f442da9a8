"""The dev server's moderator-facing API, enforcing Reddit's rules for who may do what.

* Only a moderator (with the ``posts`` or ``all`` permission) may distinguish, sticky, remove or
  set a post's suggested sort; a moderator may distinguish only their *own* comments, and
  ``sticky`` applies to top-level comments only (Reddit ignores it on replies).
* Anyone may comment; only the author may edit or delete a comment.
* Wiki page settings (``permlevel``, ``listed``) are set by moderators with ``wiki``; a page
  with ``permlevel`` 2 is readable and editable by moderators only.
* Modmail is read and written by moderators with ``mail``; conversations are listed newest
  first by their last message like ``GET /api/mod/conversations?sort=recent``, each with its
``lastUpdated`` and ``numMessages``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.devserver.routes import Handler, Response, route

if TYPE_CHECKING:
    from bot.devserver.world import Item, RedditWorld

__all__ = ["ModeratorApi"]

_FORBIDDEN: Response = (403, {"message": "Forbidden", "error": 403})


def _errors(code: str, msg: str, field: str = "id") -> Response:
    return 200, {"json": {"errors": [[code, msg, field]]}}


def _moderators_with(perm: str) -> Callable[[Handler], Handler]:
    """The decorated handler (the subreddit its first argument) answers 403 to anyone but a
    moderator of that subreddit with ``perm``."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(api: ModeratorApi, sub: str, *args: Any, **kwargs: Any) -> Response:
            if not api.is_mod(sub, perm):
                return _FORBIDDEN
            return handler(api, sub, *args, **kwargs)

        return checked

    return wrap


def _on_moderated(
    *, posts_only: bool = False
) -> Callable[[Callable[[ModeratorApi, Item, dict[str, str]], Response]], Handler]:
    """The decorated handler acts on the form's item (``handler(api, item, form)``) when the user
    may moderate it (:meth:`ModeratorApi._moderated`); anyone else gets Reddit's error."""

    def wrap(handler: Callable[[ModeratorApi, Item, dict[str, str]], Response]) -> Handler:
        @functools.wraps(handler)
        def checked(api: ModeratorApi, *, query: dict[str, str], form: dict[str, str]) -> Response:
            target = api._moderated(form, posts_only=posts_only)
            if isinstance(target, tuple):  # the error answer
                return target
            return handler(api, target, form)

        return checked

    return wrap


class ModeratorApi:
    """Mixed into :class:`bot.devserver.api.RedditApi` (uses its ``world`` and ``user``)."""

    world: RedditWorld
    user: str

    # -- who is who ---------------------------------------------------------------------
    def is_mod(self, sub: str, perm: str | None = None, user: str | None = None) -> bool:
        perms = self.world.moderators.get(sub.lower(), {}).get(user or self.user)
        if perms is None:
            return False
        return perm is None or "all" in perms or perm in perms

    def page_settings(self, sub: str, page: str) -> dict[str, Any]:
        return self.world.wiki_settings.get(
            (sub.lower(), page), {"permlevel": 0, "listed": True, "editors": []}
        )

    # -- wiki settings ------------------------------------------------------------------
    def _settings_json(self, sub: str, page: str) -> dict[str, Any]:
        return {"kind": "wikipagesettings", "data": dict(self.page_settings(sub, page))}

    @route("GET", r"^/r/([^/]+)/wiki/settings/(.+?)/?$")
    @_moderators_with("wiki")
    def wiki_settings_get(
        self, sub: str, page: str, *, query: dict[str, str], form: dict[str, str]
    ) -> Response:
        return 200, self._settings_json(sub, page)

    @route("POST", r"^/r/([^/]+)/wiki/settings/(.+?)/?$")
    @_moderators_with("wiki")
    def wiki_settings_set(
        self, sub: str, page: str, *, query: dict[str, str], form: dict[str, str]
    ) -> Response:
        try:
            level = int(form.get("permlevel", "0"))
        except ValueError:
            return 400, {"message": "Bad Request", "error": 400}
        self.world.wiki_settings[(sub.lower(), page)] = {
            "permlevel": level if level in (0, 1, 2) else 0,
            "listed": form.get("listed", "True").lower() in ("true", "on", "1"),
            "editors": [],
        }
        return 200, self._settings_json(sub, page)

    # -- modmail ------------------------------------------------------------------------
    @route("GET", r"^/api/mod/conversations/?$")
    def modmail_list(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        subs = [s for s in query.get("entity", "").split(",") if s] or list(self.world.subreddits)
        if not all(self.is_mod(s, "mail") for s in subs):
            return _FORBIDDEN
        wanted = {s.lower() for s in subs}
        convs = [c for c in self.world.modmail.values() if c.subreddit.lower() in wanted]
        # sort=recent (Reddit's default): the last updated first; ids grow, so ties go newest
        convs.sort(key=lambda c: (c.messages[-1]["date"] if c.messages else "", c.id), reverse=True)
        after = query.get("after")
        if after:
            ids = [c.id for c in convs]
            convs = convs[ids.index(after) + 1 :] if after in ids else []
        convs = convs[: int(query.get("limit", 25) or 25)]
        out: dict[str, Any] = {"conversations": {}, "messages": {}, "conversationIds": []}
        for c in convs:
            full = self._conv_json(c)  # type: ignore[attr-defined]
            out["conversations"][c.id] = full["conversation"]
            out["messages"].update(full["messages"])
            out["conversationIds"].append(c.id)
        out["viewerId"] = "t2_" + self.user.lower()[:8]
        return 200, out

    # -- comments -----------------------------------------------------------------------
    def _things(self, *items: Item) -> Response:
        return 200, {
            "json": {
                "errors": [],
                "data": {"things": [{"kind": i.kind, "data": dict(i.data)} for i in items]},
            }
        }

    @route("POST", r"^/api/comment/?$")
    def comment(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        parent = self.world.items.get(form.get("thing_id", ""))
        if parent is None or parent.visible_at > self.world.now:
            return _errors("NO_THING_ID", "that thing does not exist", "parent")
        if parent.data.get("locked") or parent.data.get("removed"):
            return _errors("THREAD_LOCKED", "that thread is locked", "parent")
        item = self.world.add_comment(parent, self.user, form.get("text", ""))
        return self._things(item)

    @route("POST", r"^/api/editusertext/?$")
    def edit(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        item = self.world.items.get(form.get("thing_id", ""))
        if item is None:
            return _errors("NO_THING_ID", "that thing does not exist")
        if item.data.get("author") != self.user:
            return _FORBIDDEN
        item.data["body"] = form.get("text", "")
        item.data["edited"] = self.world.now
        return self._things(item)

    @route("POST", r"^/api/del/?$")
    def delete(self, *, query: dict[str, str], form: dict[str, str]) -> Response:
        item = self.world.items.get(form.get("id", ""))
        if item is None:
            return 200, {}
        if item.data.get("author") != self.user:
            return _FORBIDDEN
        item.data.update(author="[deleted]", body="[deleted]", stickied=False)
        return 200, {}

    # -- moderator actions --------------------------------------------------------------
    def _target(self, form: dict[str, str]) -> Item | None:
        return self.world.items.get(form.get("id", ""))

    def _log(self, action: str, target: Item, form: dict[str, str]) -> None:
        self.world.mod_actions.append(
            {
                "action": action,
                "id": target.name,
                "by": self.user,
                "form": dict(form),
                "at": self.world.now,
            }
        )

    def _moderated(self, form: dict[str, str], *, posts_only: bool = False) -> Item | Response:
        """The form's item (only a post with ``posts_only``) when the user moderates its
        subreddit with ``posts``, else the error Reddit answers."""
        target = self._target(form)
        if target is None or (posts_only and target.kind != "t3"):
            return _errors("NO_THING_ID", "no such post" if posts_only else "no thing")
        if not self.is_mod(target.data["subreddit"], "posts"):
            return _FORBIDDEN
        return target

    @route("POST", r"^/api/remove/?$")
    @_on_moderated()
    def remove(self, target: Item, form: dict[str, str]) -> Response:
        self._log("remove", target, form)
        target.data["removed"] = True
        target.data["body" if target.kind == "t1" else "selftext"] = "[removed]"
        return 200, {}

    @route("POST", r"^/api/distinguish/?$")
    @_on_moderated()
    def distinguish(self, target: Item, form: dict[str, str]) -> Response:
        if target.data.get("author") != self.user:
            # a moderator distinguishes (and so stickies) only their own comments
            return _FORBIDDEN
        self._log("distinguish", target, form)
        how = form.get("how", "yes")
        target.data["distinguished"] = None if how == "no" else "moderator"
        top_level = target.kind == "t1" and target.data["parent_id"] == target.data["link_id"]
        if top_level and how != "no" and form.get("sticky") == "True":
            for other in self.world.comments_by_post.get(target.data["link_id"], []):
                other.data["stickied"] = False  # one sticky comment per post
            target.data["stickied"] = True
        elif how == "no":
            target.data["stickied"] = False
        return self._things(target)

    @route("POST", r"^/api/set_suggested_sort/?$")
    @_on_moderated(posts_only=True)
    def suggested_sort(self, target: Item, form: dict[str, str]) -> Response:
        self._log("set_suggested_sort", target, form)
        sort = form.get("sort") or None
        target.data["suggested_sort"] = None if sort == "blank" else sort
        return 200, {"json": {"errors": []}}

    @route("POST", r"^/api/set_subreddit_sticky/?$")
    @_on_moderated(posts_only=True)
    def post_sticky(self, target: Item, form: dict[str, str]) -> Response:
        self._log("set_subreddit_sticky", target, form)
        target.data["stickied"] = form.get("state") == "True"
        return 200, {"json": {"errors": []}}
