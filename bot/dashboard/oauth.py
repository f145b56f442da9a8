"""Reddit login for the dashboard: the OAuth2 authorization-code flow of a Reddit web app.

Scopes ``identity`` (who is logging in) and ``mysubreddits`` (which subreddits they moderate);
``duration=temporary`` (no refresh token: the session ends with the token at the latest).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from bot.dashboard.errors import LoginError

__all__ = ["SCOPES", "OAuthClient", "RedditOAuth", "TokenExpired"]

SCOPES = ("identity", "mysubreddits")
_MAX_PAGES = 20


class TokenExpired(LoginError):
    """Reddit no longer accepts the user's token (expired or revoked)."""


class OAuthClient(Protocol):
    def authorize_url(self, state: str) -> str: ...

    def exchange(self, code: str) -> str: ...

    def me(self, token: str) -> str: ...

    def moderated(self, token: str) -> list[str]: ...


@dataclass(eq=False)
class RedditOAuth:
    """Talks to Reddit's ``reddit_url`` (authorize, access_token) and ``oauth_url`` (API)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    _: KW_ONLY
    reddit_url: str = "https://www.reddit.com"
    oauth_url: str = "https://oauth.reddit.com"
    user_agent: str = "python:prosocial-dashboard:v0.1"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        self.reddit_url = self.reddit_url.rstrip("/")
        self.oauth_url = self.oauth_url.rstrip("/")

    def authorize_url(self, state: str) -> str:
        q = {
            "client_id": self.client_id,
            "response_type": "code",
            "state": state,
            "redirect_uri": self.redirect_uri,
            "duration": "temporary",
            "scope": " ".join(SCOPES),
        }
        return f"{self.reddit_url}/api/v1/authorize?{urlencode(q)}"

    def _call(self, req: urllib.request.Request) -> Any:
        req.add_header("User-Agent", self.user_agent)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise TokenExpired("Reddit refused the token (401)") from None
            raise LoginError(f"Reddit answered {exc.code} for {req.full_url}") from None
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise LoginError(f"Reddit unreachable: {type(exc).__name__}") from None

    def exchange(self, code: str) -> str:
        body = urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        ).encode()
        req = urllib.request.Request(f"{self.reddit_url}/api/v1/access_token", data=body)
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        req.add_header("Authorization", f"Basic {basic}")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            payload = self._call(req)
        except TokenExpired:
            raise LoginError("Reddit refused the app's credentials") from None
        if not isinstance(payload, dict) or "access_token" not in payload:
            raise LoginError(f"no token from Reddit ({(payload or {}).get('error', '?')})")
        granted = set(str(payload.get("scope", "")).replace(",", " ").split())
        if not set(SCOPES) <= granted:
            raise LoginError(f"Reddit granted {sorted(granted)}, the dashboard needs {SCOPES}")
        return str(payload["access_token"])

    def _get(self, path: str, token: str) -> Any:
        req = urllib.request.Request(f"{self.oauth_url}{path}")
        req.add_header("Authorization", f"bearer {token}")
        return self._call(req)

    def me(self, token: str) -> str:
        name = (self._get("/api/v1/me", token) or {}).get("name")
        if not name:
            raise LoginError("Reddit did not say who is logged in")
        return str(name)

    def moderated(self, token: str) -> list[str]:
        out: list[str] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            q = {"limit": "100", "raw_json": "1"} | ({"after": after} if after else {})
            data = (self._get(f"/subreddits/mine/moderator?{urlencode(q)}", token) or {}).get(
                "data", {}
            )
            out += [str(c["data"]["display_name"]) for c in data.get("children", [])]
            after = data.get("after")
            if not after:
                break
        return out
