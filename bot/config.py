"""Per-subreddit configuration, kept by the moderators in a wiki page (YAML).

Like AutoModerator and ContextMod, the bot reads ``/r/{sub}/wiki/{page}`` (default
``prosocial``), parses YAML and validates it against :class:`SubredditConfig`. A missing page
means the defaults (dry-run). An empty, unparsable or invalid page never replaces the last good
configuration: the loader keeps it and reports why, once per wiki revision, so the moderators
are told instead of the bot silently running on nothing (a failure ContextMod users reported).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import prawcore
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.backoff import Backoff
from bot.errors import ConfigError, RetriesExhausted
from bot.sqlite_store import SqliteStore

__all__ = [
    "DEFAULT_PAGE",
    "EXAMPLE_YAML",
    "Actions",
    "Channels",
    "ConfigLoader",
    "ConfigResult",
    "ConfigStore",
    "DigestSchedule",
    "SubredditConfig",
    "Thresholds",
    "parse_config",
]

logger = logging.getLogger(__name__)

DEFAULT_PAGE = "prosocial"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DigestSchedule(_Strict):
    every_hours: float = Field(default=24.0, ge=1, le=24 * 14)
    hour_utc: int | None = Field(default=None, ge=0, le=23)  # first digest of the day at this hour


class Thresholds(_Strict):
    min_rank_distance: float = Field(
        default=0.25, ge=0, le=1
    )  # Kendall distance suggested vs current
    min_tlcs: int = Field(default=3, ge=2, le=500)
    max_posts: int = Field(default=10, ge=1, le=50)
    empathy_unanswered_hours: float = Field(default=2.0, ge=0, le=168)
    #: a reply counts as supportive when the empathy model says "providing" or the aux
    #: supportiveness score (-1..1) reaches this
    supportive_min: float = Field(default=0.3, ge=-1, le=1)


class Channels(_Strict):
    modmail: bool = True
    alerts: bool = True  # a modmail per seeker left unanswered empathy_unanswered_hours
    wiki: bool = False
    wiki_page: str = Field(default="prosocial/suggestions", pattern=r"^[a-z0-9_/-]{1,100}$")


class Actions(_Strict):
    #: propose the bot's own distinguished, stickied "conversation highlights" comment
    highlights: bool = False
    suggested_sort: bool = False
    sort: Literal["confidence", "top", "new", "controversial", "old", "qa"] = "confidence"
    #: an undecided proposal expires after this many hours
    expire_hours: float = Field(default=24.0, ge=1, le=24 * 14)


class SubredditConfig(_Strict):
    version: Literal[1] = 1
    enabled: bool = True
    dry_run: bool = True
    horizon_hours: float = Field(default=48.0, ge=1, le=24 * 30)
    digest: DigestSchedule = DigestSchedule()
    thresholds: Thresholds = Thresholds()
    channels: Channels = Channels()
    actions: Actions = Actions()
    approvers: tuple[str, ...] = ()  # empty: any moderator with "posts" permission

    def digest_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


EXAMPLE_YAML = """\
# r/<sub>/wiki/prosocial — settings for the prosocial moderation assistant
version: 1
dry_run: true            # suggest only; set false to let approved actions run
horizon_hours: 48        # when a conversation's outcome is measured
digest:
  every_hours: 24
  hour_utc: 14
thresholds:
  min_rank_distance: 0.25  # only posts whose suggested order differs at least this much
  min_tlcs: 3
  max_posts: 10
  empathy_unanswered_hours: 2
channels:
  modmail: true
  wiki: true
  wiki_page: prosocial/suggestions
actions:
  highlights: true         # the bot's own stickied "conversation highlights" comment
  expire_hours: 24         # undecided proposals expire
  suggested_sort: false
approvers: []              # empty = any moderator with the posts permission
"""


def parse_config(text: str) -> SubredditConfig:
    """YAML text → validated config; :class:`ConfigError` says what is wrong."""
    if not text or not text.strip():
        raise ConfigError("the configuration page is empty")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the page is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"the page must be a YAML mapping (key: value lines), not {type(data).__name__}"
        )
    try:
        return SubredditConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


@dataclass(frozen=True)
class ConfigResult:
    subreddit: str
    config: SubredditConfig
    source: Literal["wiki", "last_good", "default"]
    error: str | None = None
    revision: str | None = None


class ConfigStore(SqliteStore):
    """The last good configuration per subreddit and which bad revisions were reported."""

    schema = (
        "CREATE TABLE IF NOT EXISTS good (subreddit TEXT PRIMARY KEY, config TEXT, rev TEXT);"
        "CREATE TABLE IF NOT EXISTS reported (subreddit TEXT, rev TEXT, "
        "PRIMARY KEY (subreddit, rev));"
    )

    def last_good(self, sub: str) -> SubredditConfig | None:
        row = self._one("SELECT config FROM good WHERE subreddit=?", (sub.lower(),))
        return None if row is None else SubredditConfig.model_validate(json.loads(row[0]))

    def save_good(self, sub: str, config: SubredditConfig, rev: str | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO good VALUES (?,?,?)",
                (sub.lower(), config.model_dump_json(), rev),
            )

    def first_report(self, sub: str, rev: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO reported VALUES (?,?)", (sub.lower(), rev)
            )
        return cur.rowcount == 1


class ConfigLoader:
    """Reads and validates each subreddit's wiki config; ``notify(sub, subject, body)``."""

    def __init__(
        self,
        reddit: Any,
        store: ConfigStore | None = None,
        *,
        page: str = DEFAULT_PAGE,
        notify: Callable[[str, str, str], Any] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.reddit = reddit
        self.store = store or ConfigStore()
        self.page = page
        self.notify = notify

    def load(self, subreddit: str) -> ConfigResult:
        wiki = self.reddit.subreddit(subreddit).wiki[self.page]
        try:
            text = self.backoff.call(lambda: wiki.content_md, f"wiki r/{subreddit}/{self.page}")
            rev = str(
                getattr(wiki, "revision_id", None) or hashlib.sha256(text.encode()).hexdigest()[:16]
            )
        except (prawcore.NotFound, prawcore.Forbidden, RetriesExhausted) as exc:
            last = self.store.last_good(subreddit)
            why = (
                f"wiki page {self.page} not found"
                if isinstance(exc, prawcore.NotFound)
                else f"wiki page {self.page} not readable (needs wiki permission)"
                if isinstance(exc, prawcore.Forbidden)
                else f"wiki unreachable: {exc}"
            )
            if last is not None:
                return ConfigResult(subreddit, last, "last_good", why)
            return ConfigResult(subreddit, SubredditConfig(), "default", why)
        try:
            config = parse_config(text)
        except ConfigError as exc:
            last = self.store.last_good(subreddit)
            source: Literal["last_good", "default"] = "last_good" if last else "default"
            result = ConfigResult(subreddit, last or SubredditConfig(), source, str(exc), rev)
            first = self.store.first_report(subreddit, rev)
            (logger.warning if first else logger.debug)(
                "r/%s config rejected (%s); using %s", subreddit, str(exc).splitlines()[0], source
            )
            if self.notify is not None and first:
                self.notify(
                    subreddit,
                    "prosocial: configuration not applied",
                    _explain(subreddit, self.page, str(exc), source),
                )
            return result
        self.store.save_good(subreddit, config, rev)
        return ConfigResult(subreddit, config, "wiki", None, rev)


def _explain(sub: str, page: str, error: str, source: str) -> str:
    kept = (
        "the last valid configuration stays in force"
        if source == "last_good"
        else "the safe defaults (dry-run, digest only) stay in force"
    )
    return (
        f"The configuration in /r/{sub}/wiki/{page} was not applied: {error}.\n\n"
        f"Until it is fixed, {kept}. An example of a valid page:\n\n"
        + "\n".join("    " + line for line in EXAMPLE_YAML.splitlines())
    )
