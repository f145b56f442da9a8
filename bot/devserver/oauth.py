"""Reddit's OAuth2 authorization-code flow on the dev server, for web apps such as the dashboard.

As on Reddit: ``GET /api/v1/authorize`` shows a consent page to a logged-in user (here: pick one
of the fixture users), ``POST`` on it redirects to the app's registered ``redirect_uri`` with
``state`` and a one-time ``code`` (or ``error=access_denied``); ``POST /api/v1/access_token``
with ``grant_type=authorization_code``, HTTP basic auth of the app and the same ``redirect_uri``
exchanges the code for a bearer token limited to the granted scopes. A user token reaches
``/api/v1/me`` (scope ``identity``) and ``/subreddits/mine/moderator`` (scope ``mysubreddits``)
and nothing else (403, as Reddit answers a token without the needed scope). Codes expire after
10 minutes and work once; an unknown app or a ``redirect_uri`` that is not the registered one
gets an error page and no redirect.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bot.devserver.request import Request
from bot.devserver.world import RedditWorld

__all__ = ["DEV_APP", "SCOPES", "OAuthApp", "OAuthProvider", "RawResponse"]

SCOPES = ("identity", "mysubreddits", "read", "modposts", "modmail", "wikiread", "wikiedit")
CODE_TTL_S = 600
TOKEN_TTL_S = 3600
RawResponse = tuple[int, bytes, str, dict[str, str]]


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    secret: str
    redirect_uri: str


#: registered on every dev server: a dashboard on loopback logs in with it
#: (``PROSOCIAL_DASHBOARD_CLIENT_ID=prosocial-dashboard-dev``, ``…_CLIENT_SECRET=dev-secret``);
#: unlike a real app (exact redirect URI) it takes ``/auth/callback`` on any loopback port
DEV_APP = OAuthApp("prosocial-dashboard-dev", "dev-secret", "http://127.0.0.1:8080/auth/callback")
_DEV_REDIRECT = re.compile(r"^http://127\.0\.0\.1:\d{1,5}/auth/callback$")


@dataclass
class _Grant:
    user: str
    scopes: tuple[str, ...]
    client_id: str
    redirect_uri: str = ""
    expires: float = 0.0


@dataclass
class OAuthProvider:
    """The authorization server of the dev Reddit (apps, fixture users, codes, user tokens)."""

    world: RedditWorld
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    extra_users: tuple[str, ...] = ("just_a_reader",)  # logs in fine, moderates nothing
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, _Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.apps.setdefault(DEV_APP.client_id, DEV_APP)

    def register_app(self, client_id: str, secret: str, redirect_uri: str) -> OAuthApp:
        app = OAuthApp(client_id, secret, redirect_uri)
        self.apps[client_id] = app
        return app

    def users(self) -> list[str]:
        names = {u for mods in self.world.moderators.values() for u in mods}
        names.discard(self.world.bot_username)
        return sorted(names | set(self.extra_users), key=str.lower)

    def moderated(self, user: str) -> list[str]:
        """Display names of the subreddits ``user`` moderates."""
        subs = self.world.subreddits
        return sorted(
            (subs.get(s, s) for s, mods in self.world.moderators.items() if user in mods),
            key=str.lower,
        )

    # -- dispatch -----------------------------------------------------------------------
    def handle(self, request: Request) -> RawResponse | None:
        """The response for an OAuth route, or ``None`` when the path is not one."""
        method, query, form, headers = request.method, request.query, request.form, request.headers
        p = request.path.rstrip("/")
        if p == "/api/v1/authorize":
            return self._authorize_page(query) if method == "GET" else self._authorize(form)
        if p == "/api/v1/access_token" and form.get("grant_type") == "authorization_code":
            return self._exchange(form, headers.get("Authorization", ""))
        auth = headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else ""
        with self.lock:
            grant = self.tokens.get(token)
        if grant is None:
            return None  # not a user token: the bot's API handles it
        if grant.expires < time.time():
            return _json(401, {"message": "Unauthorized", "error": 401})
        if method == "GET" and p == "/api/v1/me":
            if "identity" not in grant.scopes:
                return _json(403, {"message": "Forbidden", "error": 403})
            return _json(200, _me(grant.user))
        if method == "GET" and p == "/subreddits/mine/moderator":
            if "mysubreddits" not in grant.scopes:
                return _json(403, {"message": "Forbidden", "error": 403})
            return _json(200, self._mine(grant.user, query))
        return _json(403, {"message": "Forbidden", "error": 403, "reason": "insufficient_scope"})

    # -- authorization ------------------------------------------------------------------
    def _check_app(self, params: dict[str, str]) -> tuple[OAuthApp | None, str | None]:
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return None, "invalid client id"
        uri = params.get("redirect_uri", "")
        if uri != app.redirect_uri and not (app is DEV_APP and _DEV_REDIRECT.match(uri)):
            return None, "invalid redirect_uri parameter"
        if params.get("response_type", "code") != "code":
            return None, "invalid response_type parameter"
        scopes = params.get("scope", "").replace(",", " ").split()
        if not scopes or any(s not in SCOPES for s in scopes):
            return None, "invalid scope requested"
        if not params.get("state"):
            return None, "missing state parameter"
        return app, None

    def _authorize_page(self, query: dict[str, str]) -> RawResponse:
        app, error = self._check_app(query)
        if app is None:
            return _page(400, f"<h1>Bad request</h1><p>{html.escape(error or '')}</p>")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(query.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "state", "scope", "response_type", "duration")
        )
        users = "".join(
            f'<option value="{html.escape(u)}">{html.escape(u)}</option>' for u in self.users()
        )
        scopes = ", ".join(query.get("scope", "").replace(",", " ").split())
        return _page(
            200,
            f"<h1>dev Reddit: authorize {html.escape(app.client_id)}</h1>"
            f"<p>The app asks for: {html.escape(scopes)}</p>"
            f'<form method="post" action="/api/v1/authorize">{hidden}'
            f'<label>Log in as <select name="user" id="user">{users}</select></label> '
            '<button name="authorize" value="Allow" id="allow">Allow</button> '
            '<button name="authorize" value="Decline" id="decline">Decline</button></form>',
        )

    def _authorize(self, form: dict[str, str]) -> RawResponse:
        app, error = self._check_app(form)
        if app is None:
            return _page(400, f"<h1>Bad request</h1><p>{html.escape(error or '')}</p>")
        state = form["state"]
        uri = form["redirect_uri"]  # checked against the app's registration above
        if form.get("authorize") != "Allow" or form.get("user") not in self.users():
            return _redirect(uri, {"state": state, "error": "access_denied"})
        code = secrets.token_urlsafe(16)
        scopes = tuple(form.get("scope", "").replace(",", " ").split())
        with self.lock:
            self.codes[code] = _Grant(
                form["user"], scopes, app.client_id, uri, time.time() + CODE_TTL_S
            )
        return _redirect(uri, {"state": state, "code": code})

    def _exchange(self, form: dict[str, str], auth: str) -> RawResponse:
        try:
            client_id, secret = base64.b64decode(auth.split(" ", 1)[1]).decode().split(":", 1)
        except (IndexError, ValueError):
            return _json(401, {"message": "Unauthorized", "error": 401})
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(app.secret, secret):
            return _json(401, {"message": "Unauthorized", "error": 401})
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant.expires < time.time()
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
        ):
            return _json(400, {"error": "invalid_grant"})
        token = "devuser-" + secrets.token_urlsafe(16)
        with self.lock:
            self.tokens[token] = _Grant(
                grant.user, grant.scopes, client_id, expires=time.time() + TOKEN_TTL_S
            )
        return _json(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": TOKEN_TTL_S,
                "scope": " ".join(grant.scopes),
            },
        )

    def _mine(self, user: str, query: dict[str, str]) -> dict[str, Any]:
        subs = self.moderated(user)
        limit = max(1, min(100, int(query.get("limit", 25) or 25)))
        after = query.get("after")
        names = ["t5_" + s.lower() for s in subs]
        start = names.index(after) + 1 if after in names else 0
        page = subs[start : start + limit]
        nxt = "t5_" + page[-1].lower() if page and start + limit < len(subs) else None
        return {
            "kind": "Listing",
            "data": {
                "after": nxt,
                "dist": len(page),
                "modhash": None,
                "children": [
                    {
                        "kind": "t5",
                        "data": {
                            "display_name": s,
                            "display_name_prefixed": f"r/{s}",
                            "name": "t5_" + s.lower(),
                            "url": f"/r/{s}/",
                            "user_is_moderator": True,
                            "subreddit_type": "public",
                        },
                    }
                    for s in page
                ],
                "before": None,
            },
        }


def _me(user: str) -> dict[str, Any]:
    return {
        "name": user,
        "id": user.lower()[:8],
        "is_mod": True,
        "created_utc": 1.6e9,
        "has_verified_email": True,
        "is_suspended": False,
    }


def _json(status: int, payload: Any) -> RawResponse:
    return status, json.dumps(payload).encode(), "application/json; charset=UTF-8", {}


def _page(status: int, body: str) -> RawResponse:
    doc = f"<!doctype html><html><head><title>dev reddit</title></head><body>{body}</body></html>"
    return status, doc.encode(), "text/html; charset=UTF-8", {}


def _redirect(uri: str, params: dict[str, str]) -> RawResponse:
    sep = "&" if "?" in uri else "?"
    return 302, b"", "text/plain", {"Location": uri + sep + urlencode(params)}
