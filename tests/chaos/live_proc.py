"""The live service (:class:`bot.live.LiveService`: reader, stages, moderator jobs) for the
Reddit chaos scenarios, with the tiny stand-in models injected, against a dev server.

    python -m tests.chaos.live_proc URL STATE_DIR SUBREDDITS [--horizon-s S]
                                    [--jobs-every-s S] [--timeout-s S] [--ops-port N]

Embedded bus and SQLite (``STATE_DIR/service.db``), like ``prosocial live`` by default.
Exits 0 after SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.live import LiveOptions, LiveService, install_signals
from bot.reddit import ClientSettings
from streaming.settings import load_settings
from tests.streaming.tiny import tiny_models


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("state", type=Path)
    ap.add_argument("subreddits")
    ap.add_argument("--horizon-s", type=float, default=3600)
    ap.add_argument("--jobs-every-s", type=float, default=120)
    ap.add_argument("--timeout-s", type=float, default=1.0, help="client timeout (wall)")
    ap.add_argument("--ops-port", type=int)
    a = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    a.state.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        None,
        bus="embedded",
        database_url=f"sqlite:///{a.state / 'service.db'}",
        subreddits=a.subreddits,
        horizon_s=a.horizon_s,
        quiet_period_s=60,
        torch_threads=1,
    )
    client = ClientSettings(
        oauth_url=a.url,
        reddit_url=a.url,
        timeout_cap=a.timeout_s,
        extra={
            "client_id": "chaos",
            "client_secret": "chaos",
            "username": "prosocial_bot",
            "password": "chaos",
        },
    )
    service = LiveService(
        settings,
        LiveOptions(settings.subreddits, state_dir=str(a.state), jobs_every_s=a.jobs_every_s),
        client=client,
        models=tiny_models(),
    )
    install_signals(service.stop)
    return service.run(ops_port=a.ops_port)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
