"""Sessions, CSRF tokens and who may see which subreddit.

A session is a server-side record (user, Reddit token, CSRF token, moderator list) named by a
random id; the browser holds that id and the user name in a cookie signed with the session
secret (itsdangerous), valid for ``max_age_s``. A cookie whose user is not the record's user,
an unknown id (e.g. after a restart) or an expired signature is no session. The moderator list
is re-read from Reddit with the user's token at most every ``moderator_cache_s``; a user sees
a subreddit only if they moderate it *and* the service watches it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.dashboard.errors import LoginError
from bot.dashboard.oauth import OAuthClient, TokenExpired

__all__ = ["Session", "SessionStore"]

logger = logging.getLogger(__name__)

COOKIE = "prosocial_session"
STATE_COOKIE = "prosocial_login_state"


@dataclass
class Session:
    sid: str
    user: str
    token: str | None  # None for the local demo login
    csrf: str
    created: float
    moderated: list[str] = field(default_factory=list)
    moderated_at: float = 0.0
    demo: bool = False
    flash: list[str] = field(default_factory=list)


class SessionStore:
    def __init__(
        self,
        secret: str,
        clock: Callable[[], float],
        *,
        max_age_s: int = 8 * 3600,
        moderator_cache_s: int = 120,
    ) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="prosocial-dashboard-session")
        self._state_signer = URLSafeTimedSerializer(secret, salt="prosocial-dashboard-state")
        self.clock = clock
        self.max_age_s = max_age_s
        self.moderator_cache_s = moderator_cache_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # -- login state (the OAuth ``state`` parameter, kept in a signed short-lived cookie) --
    def new_state(self) -> tuple[str, str]:
        """``(state, cookie value)``."""
        state = secrets.token_urlsafe(24)
        return state, self._state_signer.dumps(state)

    def check_state(self, cookie: str | None, state: str | None) -> bool:
        if not cookie or not state:
            return False
        try:
            expected = self._state_signer.loads(cookie, max_age=600)
        except BadSignature:
            return False
        return hmac.compare_digest(str(expected), state)

    # -- sessions -----------------------------------------------------------------------
    def create(
        self, user: str, token: str | None, moderated: list[str], *, demo: bool = False
    ) -> tuple[Session, str]:
        """A new session and its cookie value."""
        now = self.clock()
        s = Session(
            secrets.token_urlsafe(24),
            user,
            token,
            secrets.token_urlsafe(24),
            now,
            list(moderated),
            now,
            demo,
        )
        with self._lock:
            for old in [k for k, v in self._sessions.items() if now - v.created > self.max_age_s]:
                del self._sessions[old]  # expired ones go when a new one comes
            self._sessions[s.sid] = s
        return s, self._signer.dumps({"sid": s.sid, "u": user})

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        with self._lock:
            s = self._sessions.get(str(data.get("sid")))
        if s is None or s.user != data.get("u") or self.clock() - s.created > self.max_age_s:
            return None
        return s

    def end(self, s: Session) -> None:
        with self._lock:
            self._sessions.pop(s.sid, None)

    def csrf_ok(self, s: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(s.csrf, str(token))

    def refresh_moderated(self, s: Session, oauth: OAuthClient | None) -> bool:
        """Re-read the user's moderator list when the cached one is stale; ``False`` when
        Reddit no longer accepts the token (the session is then ended)."""
        if s.token is None or oauth is None:
            return True
        if self.clock() - s.moderated_at < self.moderator_cache_s:
            return True
        try:
            s.moderated = oauth.moderated(s.token)
        except TokenExpired:
            self.end(s)
            return False
        except LoginError as exc:  # Reddit unreachable: keep the cached list for now
            logger.warning("moderator list of u/%s not refreshed: %s", s.user, exc)
            return True
        s.moderated_at = self.clock()
        logger.info("moderator list of u/%s refreshed (%d subreddits)", s.user, len(s.moderated))
        return True
