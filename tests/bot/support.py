"""Helpers the bot tests call (fixtures live in ``conftest.py``): recorded praw cassettes, praw
clients for them or for the local Reddit API server, the harness that runs ``prosocial live``
against the dev server as processes and the wiki configuration of such a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import yaml

from bot.config import Actions, Channels, DigestSchedule, SubredditConfig, Thresholds
from bot.reddit import ClientSettings

__all__ = [
    "CLI",
    "PLACEHOLDERS",
    "REPO",
    "LiveHarness",
    "cassette_settings",
    "cassette_text",
    "dev_login_env",
    "dev_reddit",
    "get_json",
    "live_wiki_config",
    "load_cassette",
    "post_json",
    "wait_for_log",
    "wait_until",
]

#: What praw's test-suite cassettes hold in place of real credentials and names.
PLACEHOLDERS = {
    "<TEST_SUBREDDIT>": "prosocialtest",
    "<USERNAME>": "prosocial_bot",
    "<PASSWORD>": "pw",
    "<CLIENT_ID>": "cid",
    "<CLIENT_SECRET>": "secret",
}


def cassette_text(cassette_dir: Path, name: str) -> str:
    """A recorded cassette's JSON text with the placeholders filled in."""
    text = (cassette_dir / f"{name}.json").read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


def load_cassette(cassette_dir: Path, name: str) -> dict[str, Any]:
    return json.loads(cassette_text(cassette_dir, name))


def cassette_settings() -> ClientSettings:
    """Client settings matching the cassettes' recorded credentials (a script app)."""
    return ClientSettings(
        user_agent="prosocial-tests",
        extra={
            "client_id": PLACEHOLDERS["<CLIENT_ID>"],
            "client_secret": PLACEHOLDERS["<CLIENT_SECRET>"],
            "username": PLACEHOLDERS["<USERNAME>"],
            "password": PLACEHOLDERS["<PASSWORD>"],
        },
    )


def dev_login_env(
    url: str, *, client_id: str = "cid", client_secret: str = "secret", password: str = "pw"
) -> dict[str, str]:
    """The environment a ``prosocial bot …`` command reads to log in to the dev server at
    ``url`` as the bot."""
    return {
        "praw_client_id": client_id,
        "praw_client_secret": client_secret,
        "praw_username": "prosocial_bot",
        "praw_password": password,
        "PROSOCIAL_REDDIT_OAUTH_URL": url,
        "PROSOCIAL_REDDIT_URL": url,
        "PRAW_ALLOW_ENDPOINT_OVERRIDE": "1",
    }


def dev_reddit(
    url: str,
    budget: Any = None,
    timeout_cap: float | None = 0.5,
    retries: bool = True,
    username: str = "prosocial_bot",
) -> Any:
    """A praw client logged in to the local Reddit API server at ``url`` as ``username``."""
    from bot.reddit import make_reddit

    settings = ClientSettings(
        oauth_url=url,
        reddit_url=url,
        timeout_cap=timeout_cap,
        user_agent="python:prosocial-tests:v0.1",
        extra={
            "client_id": "t",
            "client_secret": "t",
            "username": username,
            "password": "t",
        },
    )
    return make_reddit(settings, budget, retries=retries)


# -- ``prosocial live`` against the dev server, both as processes ----------------------------

#: the repository root (the processes import this checkout)
REPO = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "streaming.cli")

T = TypeVar("T")


def live_wiki_config(
    *, digest_every_hours: float, min_rank_distance: float, min_tlcs: int, unanswered_hours: float
) -> str:
    """The subreddit's wiki configuration (YAML) for a live run: not a dry run, every channel
    and action on, at most 5 posts a digest, with this digest period and these thresholds."""
    config = SubredditConfig(
        dry_run=False,
        digest=DigestSchedule(every_hours=digest_every_hours),
        thresholds=Thresholds(
            min_rank_distance=min_rank_distance,
            min_tlcs=min_tlcs,
            max_posts=5,
            empathy_unanswered_hours=unanswered_hours,
        ),
        channels=Channels(wiki=True),
        actions=Actions(highlights=True, suggested_sort=True),
    )
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def post_json(url: str) -> Any:
    """POST with an empty body; the JSON answer."""
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def wait_until(
    cond: Callable[[], T | None],
    what: str,
    timeout_s: float,
    proc: subprocess.Popen[bytes],
    log: Path,
    every_s: float = 0.5,
) -> T:
    """``cond()``'s first true answer, polled while ``proc`` runs (its ``log`` tail on failure)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        out = cond()
        if out:
            return out
        time.sleep(every_s)
    raise AssertionError(f"{what}: not after {timeout_s}s\n{log.read_text()[-3000:]}")


def wait_for_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    wait_until(
        lambda: log.exists() and text in log.read_text(errors="replace"),
        f"{text!r} in {log}",
        timeout_s,
        proc,
        log,
    )


class LiveHarness:
    """The dev server and ``prosocial live`` as subprocesses, with the environment a live run
    needs (registry, data, database, praw credentials the dev server accepts). A context
    manager: every process it started is killed on exit."""

    def __init__(
        self,
        tmp: Path,
        *,
        data_dir: Path,
        registry: Path,
        database_url: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "training")]),
            "PROSOCIAL_DATA_DIR": str(data_dir),
            "PROSOCIAL_REGISTRY_DIR": str(registry),
            "PROSOCIAL_DATABASE_URL": database_url,
            "praw_client_id": "live",
            "praw_client_secret": "live",
            "praw_username": "prosocial_bot",
            "praw_password": "live",
            **(env or {}),
        }
        self.url = ""
        self.procs: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in self._files:
            f.close()

    def _log(self, name: str) -> IO[bytes]:
        fh = (self.tmp / name).open("wb")
        self._files.append(fh)
        return fh

    def devserver(self, subreddits: Sequence[str], *args: str) -> dict[str, Any]:
        """Start ``prosocial bot devserver`` (any port) serving ``subreddits``; its start line
        (``url``, ``start``). The live processes started afterwards talk to it."""
        ds = subprocess.Popen(
            [*CLI, "bot", "devserver", "--subreddits", ",".join(subreddits), "--port", "0", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._log("devserver.err"),
        )
        self.procs.append(ds)
        assert ds.stdout is not None
        info: dict[str, Any] = json.loads(ds.stdout.readline())
        self.url = info["url"]
        self.env |= {"PROSOCIAL_REDDIT_URL": self.url, "PROSOCIAL_REDDIT_OAUTH_URL": self.url}
        return info

    def live(
        self, subreddits: Sequence[str], *args: str, verbose: str = "-v", log: str = "live.err"
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``prosocial live`` and wait until it reads its subreddits."""
        path = self.tmp / log
        p = subprocess.Popen(
            [*CLI, verbose, "live", "--subreddits", ",".join(subreddits), *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log(log),
        )
        self.procs.append(p)
        wait_for_log(path, "live: r/", p, 600)
        return p, path

    def dev(self, path: str) -> Any:
        """A dev-server endpoint's JSON (``/dev/clock``, ``/dev/state``, …)."""
        return get_json(self.url + path)

    def start_clock(self) -> None:
        post_json(self.url + "/dev/clock/start")
