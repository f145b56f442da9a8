"""The dashboard's settings: arguments > environment (``PROSOCIAL_DASHBOARD_…``) > the
``dashboard:`` mapping of the service config file > defaults.

Login is either with Reddit (``client_id`` / ``client_secret`` of a Reddit *web app* whose
redirect URI is ``redirect_uri``) or, for the demo only, a local login as ``demo_user`` that
needs no Reddit; setting both is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bot.dashboard.errors import DashboardConfigError
from streaming.settings import LayeredSettings

__all__ = ["DashboardSettings", "load_dashboard_settings"]


class DashboardSettings(LayeredSettings):
    model_config = SettingsConfigDict(
        env_prefix="PROSOCIAL_DASHBOARD_", frozen=True, extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = 8080
    #: the Reddit web app (reddit.com/prefs/apps); its redirect URI must be ``redirect_uri``
    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_uri: str | None = None  # default http://{host}:{port}/auth/callback
    reddit_url: str = "https://www.reddit.com"  # authorize + access_token
    oauth_url: str = "https://oauth.reddit.com"  # /api/v1/me, /subreddits/mine/moderator
    user_agent: str = "python:prosocial-dashboard:v0.1"
    #: signs session cookies; without it a random key is made per process (logins end at restart)
    session_secret: SecretStr | None = None
    session_max_age_s: int = 8 * 3600
    moderator_cache_s: int = 120
    #: the subreddits the service watches (empty: every subreddit in the database)
    subreddits: Annotated[tuple[str, ...], NoDecode] = ()
    #: usernames allowed on the health page (empty: any moderator of a watched subreddit)
    operators: Annotated[tuple[str, ...], NoDecode] = ()
    #: the bot's state directory (approval store, seen store)
    state_dir: str = "var/bot"
    #: really perform approved actions on Reddit (else dry-run: logged, not performed)
    send: bool = False
    #: DEMO ONLY: log in locally as this user, moderator of every watched subreddit
    demo_user: str | None = None

    @field_validator("subreddits", "operators", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s.strip().removeprefix("r/") for s in v.split(",") if s.strip()]
        return tuple(v)

    @model_validator(mode="after")
    def _one_login(self) -> DashboardSettings:
        if self.demo_user and (self.client_id or self.client_secret):
            raise ValueError(
                "demo_user (local demo login) and client_id (Reddit login) cannot both be set"
            )
        if self.demo_user and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the demo login serves loopback only (host 127.0.0.1)")
        if not self.demo_user and not (self.client_id and self.client_secret):
            raise ValueError(
                "no login configured: set client_id and client_secret of a Reddit web app "
                "(PROSOCIAL_DASHBOARD_CLIENT_ID / _CLIENT_SECRET), or demo_user for a local demo"
            )
        return self

    @property
    def callback_url(self) -> str:
        return self.redirect_uri or f"http://{self.host}:{self.port}/auth/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.callback_url.startswith("https://")


def load_dashboard_settings(
    file_section: dict[str, Any] | None = None, **overrides: Any
) -> DashboardSettings:
    """``overrides`` (non-None) > environment > ``file_section`` > defaults."""
    try:
        return DashboardSettings.layered(file_section, overrides)
    except ValidationError as exc:
        raise DashboardConfigError(
            "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        ) from exc
