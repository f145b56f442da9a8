"""End to end on loopback: a simulated day of four real subreddits (reddit-college, 2021-11-11)
flows dev Reddit server (10% of requests faulted) → real praw ingest → embedded bus → the
stream service's scorer / suggester / back-fill (tiny stand-in models) → modmail digests →
a moderator's approval → the approved action. Plus the asyncpraw reader over the same server."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from bot.devserver.simasync import run_simulated_async
from bot.devserver.simday import run_simulated_day
from streaming.bus.embedded import EmbeddedBus
from tests.streaming.tiny import tiny_models

SUBS = ["GradSchool", "CollegeRant", "AskAcademia", "College"]
DAY = "2021-11-11"


@pytest.mark.slow
def test_simulated_day_ingests_every_tlc_exactly_once_and_delivers(data_dir, tmp_path):
    bus = EmbeddedBus()
    fig = run_simulated_day(
        data_dir / "reddit-college",
        SUBS,
        DAY,
        bus,
        hours=24,
        workdir=tmp_path,
        models=tiny_models(),
        database_url=f"sqlite:///{tmp_path}/service.db",
    )
    out = os.environ.get("PROSOCIAL_BOT_FIGURES")  # e.g. var/reports/bot/e2e_day.json
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(fig, indent=1, default=str))
    # ingest: every TLC that appeared during the day, once; nothing twice; no bots
    assert fig["tlcs_present"] > 500
    assert fig["tlcs_ingested"] == fig["tlcs_present"] and fig["tlcs_ingested_twice"] == 0
    assert fig["missing"] == 0 and fig["duplicates_published"] == 0
    assert fig["bot_items_published"] == 0 and fig["skipped_bot_items"] > 0
    # late-visible items the streams skipped during the day were caught by the sweeps
    # and the 2 h outage at 16:00 (more new items than one listing page) left real gaps
    assert fig["late_items_during_run"] > 0
    assert fig["sweep_filled_during_run"].get("comments", 0) > 50
    assert fig["restarts"] == 1 and fig["stream_replays_suppressed"] > 0
    # faults and rate limits
    assert set(fig["faults_injected"]) == {"429", "500", "timeout", "truncated"}
    assert 0.07 < fig["fault_share"] < 0.14
    assert fig["max_requests_per_10min"] <= fig["rate_budget_per_10min"]
    assert fig["throttled_429"] == fig["faults_injected"]["429"]  # never really over budget
    # the stream service scored, suggested and back-filled through the bot's API fetcher
    svc = fig["stream_service"]
    assert svc["skipped"] == {} and svc["scored_tlcs"] >= fig["tlcs_present"]
    assert svc["posts_with_suggestions"] > 50 and svc["outcomes_backfilled"] > 100
    # delivery: digests every 6 h where configured, one notice for the broken wiki page
    assert fig["config_sources"] == {
        "GradSchool": "wiki",
        "CollegeRant": "default",
        "AskAcademia": "wiki",
        "College": "wiki",
    }
    for sub, every_h in (
        ("gradschool", 6),
        ("askacademia", 6),
        ("college", 6),
        ("collegerant", 24),
    ):  # the broken page: defaults, daily
        times = fig["digest_times"][sub]
        assert len(times) >= 24 // every_h
        assert all(b - a >= every_h * 3600 - 60 for a, b in itertools.pairwise(times))
    assert fig["notices"] == {"collegerant": 1}
    assert "missing moderator permissions posts" in fig["permissions"]["College"]
    # exactly one approved action, performed once, logged with its approver
    assert len(fig["action_log"]) == 1
    entry = fig["action_log"][0]
    assert entry["approved_by"] == "mod_alice" and entry["dry_run"] == 0
    assert [a["action"] for a in fig["mod_actions"]] == ["distinguish"]
    assert fig["mod_actions"][0]["id"] == entry["target"]
    assert fig["mod_actions"][0]["form"]["sticky"] == "True"


@pytest.mark.slow
def test_asyncpraw_reader_ingests_every_tlc_exactly_once(data_dir):
    fig = run_simulated_async(data_dir / "reddit-college", SUBS, DAY, EmbeddedBus(), hours=3)
    out = os.environ.get("PROSOCIAL_BOT_FIGURES")
    if out:
        Path(out).with_name("e2e_async.json").write_text(json.dumps(fig, indent=1))
    assert fig["tlcs_present"] > 50
    assert fig["tlcs_ingested"] == fig["tlcs_present"]
    assert fig["duplicates_published"] == 0 and fig["missing"] == 0
    assert sum(fig["faults_injected"].values()) > 0 and fig["stats"]["errors"] > 0
    assert fig["max_requests_per_10min"] <= 600
