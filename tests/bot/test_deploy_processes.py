"""The shipped one-machine topology run as processes (no Docker): docker compose's ``live``
service — its command and environment, credentials as from ``reddit.env`` — against the dev
server. It must come up ready, do the work (TLCs stored and scored), stay up, report itself
not ready when stuck (Reddit gone), and stop cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SUBS = "GradSchool,College"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def test_compose_live_service_runs_does_the_work_and_reports_when_stuck(
    live_registry: Path, data_dir: Path, tmp_path: Path
) -> None:
    repo = DEPLOY.parent
    svc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["live"]
    port = _free_port()
    state = tmp_path / "state"
    # the container's paths, mapped to this machine
    paths = {
        "/etc/prosocial/config.yaml": str(DEPLOY / "live.example.yaml"),
        "/var/lib/prosocial/state": str(state),
        "/var/lib/prosocial/registry": str(live_registry),
    }
    args = [paths.get(a, a) for a in svc["command"]]
    env = {k: str(v) for k, v in svc["environment"].items()}
    env["PROSOCIAL_SUBREDDITS"] = SUBS
    env["PROSOCIAL_DATABASE_URL"] = f"sqlite:///{state}/prosocial.db"
    env["PROSOCIAL_REGISTRY_DIR"] = str(live_registry)
    env["PROSOCIAL_METRICS_PORT"] = str(port)
    creds = {  # reddit.env, as the compose file's env_file would load it
        "praw_client_id": "deploy",
        "praw_client_secret": "deploy",
        "praw_username": "prosocial_bot",
        "praw_password": "deploy",
    }
    base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "training")]),
        "PROSOCIAL_DATA_DIR": str(data_dir),
    }
    cli = [sys.executable, "-m", "streaming.cli"]
    ds = subprocess.Popen(
        [*cli, "bot", "devserver", "--subreddits", SUBS, "--days", "1", "--port", "0"]
        + ["--speed", "600", "--fault-rate", "0.05", "--paused"],
        env=base,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "ds.err").open("wb"),
    )
    live = None
    try:
        assert ds.stdout is not None
        url = json.loads(ds.stdout.readline())["url"]
        log = tmp_path / "live.err"
        live = subprocess.Popen(
            [*cli, *args],
            env={
                **base,
                **env,
                **creds,
                "PROSOCIAL_REDDIT_URL": url,
                "PROSOCIAL_REDDIT_OAUTH_URL": url,
                "PROSOCIAL_LOG_JSON": "false",
            },
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        deadline = time.monotonic() + 600
        while _health(port)[0] == 0:
            assert live.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the live service never served /healthz"
            time.sleep(1)
        urllib.request.urlopen(urllib.request.Request(url + "/dev/clock/start", method="POST"))
        ready_seen = False
        for _ in range(90):  # ~90 s wall = 15 simulated hours
            assert live.poll() is None, log.read_text()[-3000:]
            status, health = _health(port)
            ready_seen |= status == 200 and health["ok"]
            time.sleep(1)
        assert ready_seen, health
        db = sqlite3.connect(state / "prosocial.db")
        (tlcs,) = db.execute("SELECT COUNT(*) FROM tlcs").fetchone()
        (scored,) = db.execute("SELECT COUNT(*) FROM scores").fetchone()
        assert tlcs > 50 and scored > 50
        # Reddit gone: within the stuck limit (15 simulated minutes) the service is not ready
        ds.kill()
        ds.wait()
        for _ in range(60):
            status, health = _health(port)
            if status == 503:
                break
            time.sleep(1)
        assert status == 503 and any("Reddit poll" in p for p in health["problems"]), health
        live.send_signal(signal.SIGTERM)
        assert live.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert "stopped cleanly" in log.read_text()
    finally:
        for p in (live, ds):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
