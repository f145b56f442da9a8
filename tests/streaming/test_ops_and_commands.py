"""/healthz + /metrics, structured error logs, and the CLI commands on a small real slice."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

from streaming.cli import main
from streaming.clock import EventClock
from streaming.ops import JsonLogFormatter, OpsServer
from streaming.replay import ReplayIndex
from streaming.runtime import assemble, run_embedded
from streaming.settings import load_settings


def test_healthz_and_metrics_report_stages_lag_and_model_versions(
    small_index: ReplayIndex, tmp_path: Path, models
) -> None:  # type: ignore[no-untyped-def]
    s = load_settings(database_url=f"sqlite:///{tmp_path / 'db'}", clock="event", replay_data="-")
    p = assemble(s, models=models, index=small_index, clock=EventClock())
    run_embedded(p)
    ops = OpsServer(p.metrics, p.health).start()
    try:
        base = f"http://127.0.0.1:{ops.port}"
        health = json.loads(urllib.request.urlopen(base + "/healthz").read())
        text = urllib.request.urlopen(base + "/metrics").read().decode()
    finally:
        ops.stop()
    assert health["ok"] and health["models"]["forecaster"] == "tiny-forecaster-1"
    assert health["stages"]["suggester"]["suggestions"] > 0
    n_in = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('prosocial_events_in_total{stage="scorer"}')
    )
    assert n_in == len(small_index.submissions) + small_index.n_comments
    assert 'prosocial_model_info{model="empathy",version="tiny-empathy-1"} 1.0' in text
    assert "prosocial_latency_seconds_bucket" in text
    assert health["stages"]["scorer"]["lag"] == 0  # everything consumed and committed
    assert 'prosocial_consumer_lag{stage="scorer"} 0.0' in text


def test_json_logs_carry_topic_partition_offset() -> None:
    rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed on %s", ("m",), None)
    rec.topic, rec.partition, rec.offset = "reddit.comments", 2, 41
    out = json.loads(JsonLogFormatter().format(rec))
    assert (out["msg"], out["topic"], out["partition"], out["offset"]) == (
        "failed on m",
        "reddit.comments",
        2,
        41,
    )


def _write_dump(index: ReplayIndex, d: Path, n_posts: int = 30) -> int:
    d.mkdir()
    posts = list(index.submissions.values())[:n_posts]
    with open(d / "submissions.jsonl", "w") as f:
        f.writelines(p.model_dump_json() + "\n" for p in posts)
    n = 0
    with open(d / "comments.jsonl", "w") as f:
        for p in posts:
            for c in index.comments.get(p.name, []):
                f.write(c.model_dump_json() + "\n")
                n += 1
    return len(posts) + n


def test_replay_command_without_bundles_says_which_are_missing(
    small_index: ReplayIndex, tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    n = _write_dump(small_index, tmp_path / "dump")
    monkeypatch.setenv("PROSOCIAL_REGISTRY_DIR", str(tmp_path / "no-registry"))
    rc = main(
        [
            "replay",
            "--data",
            str(tmp_path / "dump"),
            "--speed",
            "max",
            "--json",
            "--database-url",
            f"sqlite:///{tmp_path / 'r.db'}",
            "--report",
            str(tmp_path / "r.md"),
        ]
    )
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["events_published"] == n
    assert {"empathy", "forecaster"} <= set(rep["missing_models"])
    assert rep["tlcs_scored"] == 0 and rep["suggestions"] == 0
    md = (tmp_path / "r.md").read_text()
    assert "Missing bundles" in md and "prosocial-train empathy" in md


def test_run_check_opens_everything_from_a_config_file(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database_url: sqlite:///{tmp_path / 'db'}\nstages: [suggester, evaluator]\n")
    monkeypatch.setenv("PROSOCIAL_REGISTRY_DIR", str(tmp_path / "no-registry"))
    assert main(["run", "--config", str(cfg), "--check"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert set(health["stages"]) == {"suggester", "evaluator"}
