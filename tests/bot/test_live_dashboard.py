"""``prosocial live`` serving the dashboard (configured by environment), as processes against the
dev server (subprocess, simulated clock): a moderator logs in through the dev server in real
Chromium, sees live suggestions, approves a proposal in the browser, and the live process
performs it once on the dev server; the health page shows the live reader and request budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bot.dashboard_env import free_port
from tests.bot.test_dashboard_browser import CHROMIUM, SHOTS

pytestmark = pytest.mark.slow

SUBS = ["GradSchool", "College"]
WIKI = """version: 1
dry_run: false
digest: {every_hours: 2}
thresholds: {min_rank_distance: 0.05, min_tlcs: 3, max_posts: 5}
actions: {highlights: true}
"""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _wait(cond: Any, what: str, timeout_s: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"live exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        out = cond()
        if out:
            return out
        time.sleep(1.0)
    raise AssertionError(f"{what}: not after {timeout_s}s\n{log.read_text()[-3000:]}")


def test_live_serves_the_dashboard_and_executes_an_approval_once(
    live_registry: Path, data_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    repo = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "training")]),
        "PROSOCIAL_DATA_DIR": str(data_dir),
        "PROSOCIAL_REGISTRY_DIR": str(live_registry),
        "PROSOCIAL_DATABASE_URL": f"sqlite:///{tmp_path}/service.db",
        "praw_client_id": "live",
        "praw_client_secret": "live",
        "praw_username": "prosocial_bot",
        "praw_password": "live",
        # the dashboard, configured by environment: the dev server's dev app
        "PROSOCIAL_DASHBOARD_CLIENT_ID": "prosocial-dashboard-dev",
        "PROSOCIAL_DASHBOARD_CLIENT_SECRET": "dev-secret",
        "PROSOCIAL_DASHBOARD_PORT": str(port),
        "PROSOCIAL_DASHBOARD_REDIRECT_URI": f"http://127.0.0.1:{port}/auth/callback",
        "PROSOCIAL_DASHBOARD_SESSION_SECRET": "live-dashboard-test-secret",
    }
    wiki = tmp_path / "wiki.yaml"
    wiki.write_text(WIKI)
    config = tmp_path / "live.yaml"
    config.write_text("horizon_s: 172800\nquiet_period_s: 600\ntorch_threads: 1\n")
    cli = [sys.executable, "-m", "streaming.cli"]
    ds_log = (tmp_path / "devserver.err").open("wb")
    ds = subprocess.Popen(
        [*cli, "bot", "devserver", "--subreddits", ",".join(SUBS), "--days", "1", "--port", "0"]
        + ["--speed", "300", "--paused", "--day", "2021-11-11"]
        + [a for s in SUBS for a in ("--wiki", f"{s}={wiki}")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=ds_log,
    )
    procs = [ds]
    log = tmp_path / "live.err"
    try:
        assert ds.stdout is not None
        dev = json.loads(ds.stdout.readline())["url"]
        env |= {
            "PROSOCIAL_REDDIT_URL": dev,
            "PROSOCIAL_REDDIT_OAUTH_URL": dev,
            "PROSOCIAL_DASHBOARD_REDDIT_URL": dev,
            "PROSOCIAL_DASHBOARD_OAUTH_URL": dev,
        }
        live = subprocess.Popen(
            [*cli, "-v", "live", "--subreddits", ",".join(SUBS), "--config", str(config)]
            + ["--state-dir", str(tmp_path / "state")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        procs.append(live)
        _wait(lambda: "live: r/" in log.read_text(errors="replace"), "start", 600, live, log)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/login", timeout=10) as r:
            assert r.status == 200 and "Log in with Reddit" in r.read().decode()
        req = urllib.request.Request(dev + "/dev/clock/start", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10).close()
        # a digest with a proposal, from the live jobs (simulated hours pass in seconds)
        store = tmp_path / "state" / "approvals.sqlite"

        def proposal() -> Any:
            import sqlite3

            if not store.exists():
                return None
            with sqlite3.connect(store) as db:
                return db.execute(
                    "SELECT id, subreddit, target FROM proposals WHERE status='proposed' "
                    "AND subreddit='gradschool' ORDER BY id LIMIT 1"
                ).fetchone()

        pid, _sub, target = _wait(proposal, "a proposal", 900, live, log)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto(base + "/")
            page.click("#reddit-login")
            page.select_option("#user", "mod_alice")
            page.click("#allow")
            page.wait_for_load_state()
            assert page.url.startswith(base), page.url
            page.goto(base + "/r/GradSchool")
            assert page.locator("table.queue tbody tr").count() > 0
            page.goto(base + f"/r/GradSchool/comments/{target[3:]}")
            assert page.locator("article.tlc").count() >= 3
            page.screenshot(path=str(_shot_path("live-post-desktop")))
            before = _get(dev + "/dev/state")["mod_actions"]
            page.click(f"#proposal-{pid} button.approve")
            flash = page.inner_text("p.flash")
            assert "approved by u/mod_alice" in flash and "executed (ok)" in flash, flash
            after = _get(dev + "/dev/state")["mod_actions"]
            new = after[len(before) :]
            assert [(a["action"], a["by"]) for a in new] == [("distinguish", "prosocial_bot")]
            page.goto(base + "/health")
            health = page.inner_text("main")
            assert "reader rounds" in health and "requests in 10 min window" in health
            page.screenshot(path=str(_shot_path("live-health-desktop")))
            browser.close()
        # the live jobs' next approval run finds nothing left to do
        time.sleep(5)
        assert _get(dev + "/dev/state")["mod_actions"] == after
        live.send_signal(signal.SIGTERM)
        assert live.wait(timeout=120) == 0
        assert "stopped cleanly" in log.read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ds_log.close()


def _shot_path(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"
