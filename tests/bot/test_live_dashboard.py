"""``prosocial live`` serving the dashboard (configured by environment), as processes against the
dev server (subprocess, simulated clock): a moderator logs in through the dev server in real
Chromium, sees live suggestions, approves a proposal in the browser, and the live process
performs it once on the dev server; the health page shows the live reader and request budget."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bot.dashboard_env import free_port
from tests.bot.support import LiveHarness, wait_until
from tests.bot.test_dashboard_browser import CHROMIUM, SHOTS

pytestmark = pytest.mark.slow

SUBS = ["GradSchool", "College"]
WIKI = """version: 1
dry_run: false
digest: {every_hours: 2}
thresholds: {min_rank_distance: 0.05, min_tlcs: 3, max_posts: 5}
actions: {highlights: true}
"""


def test_live_serves_the_dashboard_and_executes_an_approval_once(
    live_registry: Path, data_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    wiki = tmp_path / "wiki.yaml"
    wiki.write_text(WIKI)
    config = tmp_path / "live.yaml"
    config.write_text("horizon_s: 172800\nquiet_period_s: 600\ntorch_threads: 1\n")
    # the dashboard, configured by environment: the dev server's dev app
    dashboard = {
        "PROSOCIAL_DASHBOARD_CLIENT_ID": "prosocial-dashboard-dev",
        "PROSOCIAL_DASHBOARD_CLIENT_SECRET": "dev-secret",
        "PROSOCIAL_DASHBOARD_PORT": str(port),
        "PROSOCIAL_DASHBOARD_REDIRECT_URI": f"http://127.0.0.1:{port}/auth/callback",
        "PROSOCIAL_DASHBOARD_SESSION_SECRET": "live-dashboard-test-secret",
    }
    with LiveHarness(
        tmp_path,
        data_dir=data_dir,
        registry=live_registry,
        database_url=f"sqlite:///{tmp_path}/service.db",
        env=dashboard,
    ) as run:
        dev = run.devserver(
            SUBS,
            *("--days", "1", "--speed", "300", "--paused", "--day", "2021-11-11"),
            *[a for s in SUBS for a in ("--wiki", f"{s}={wiki}")],
        )["url"]
        run.env |= {"PROSOCIAL_DASHBOARD_REDDIT_URL": dev, "PROSOCIAL_DASHBOARD_OAUTH_URL": dev}
        live, log = run.live(
            SUBS, *("--config", str(config), "--state-dir", str(tmp_path / "state"))
        )
        base = f"http://127.0.0.1:{port}"

        def login_page() -> str | None:
            # the dashboard's server starts beside the stages: poll until it listens
            try:
                with urllib.request.urlopen(base + "/login", timeout=10) as r:
                    return r.read().decode() if r.status == 200 else None
            except OSError:
                return None

        login_html = wait_until(login_page, "dashboard listening", 120, live, log)
        assert "Log in with Reddit" in login_html
        run.start_clock()
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

        pid, _sub, target = wait_until(proposal, "a proposal", 900, live, log, every_s=1.0)
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
            before = run.dev("/dev/state")["mod_actions"]
            page.click(f"#proposal-{pid} button.approve")
            flash = page.inner_text("p.flash")
            assert "approved by u/mod_alice" in flash and "executed (ok)" in flash, flash
            after = run.dev("/dev/state")["mod_actions"]
            new = after[len(before) :]
            assert [(a["action"], a["by"]) for a in new] == [("distinguish", "prosocial_bot")]
            page.goto(base + "/health")
            health = page.inner_text("main")
            assert "reader rounds" in health and "requests in 10 min window" in health
            page.screenshot(path=str(_shot_path("live-health-desktop")))
            browser.close()
        # the live jobs' next approval run finds nothing left to do
        time.sleep(5)
        assert run.dev("/dev/state")["mod_actions"] == after
        live.send_signal(signal.SIGTERM)
        assert live.wait(timeout=120) == 0
        assert "stopped cleanly" in log.read_text()


def _shot_path(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"
