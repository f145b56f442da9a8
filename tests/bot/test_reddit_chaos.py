"""The Reddit side effects under faults, in CI: the short version of the Reddit chaos
scenarios (:mod:`tests.chaos.reddit`). The live service runs against the dev server process;
at a digest period's start the API fails for 10 simulated minutes (503, 500, timeouts, and
the first POSTs performed with their answer lost) and the wiki for 20 (so the digests' modmail
goes out before their pages can be written). Checked against the dev server's own record."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.reddit import RedditFaults, run_reddit

pytestmark = pytest.mark.slow


def test_reddit_outage_and_wiki_failure_lose_and_repeat_nothing(tmp_path: Path) -> None:
    faults = RedditFaults("ci_reddit_outage_and_wiki", api_down_min=10, wiki_down_min=20)
    r = run_reddit(tmp_path, faults, speed=120, after_min=10)
    # the premises: POSTs were performed though the bot saw them fail, the wiki failed, and
    # digests, pages, alerts and actions were due
    assert r["late_answered_posts"] >= 1, r
    assert r["faults_injected"].get("path_outage_503", 0) > 0, r
    side = r["side_effects"]
    assert side["modmail_keys"] > 3 and side["wiki_keys"] >= 3 and side["mod_actions"] > 0, r
    assert r["approved_actions"] > 0 and r["events"] > 0, r
    # nothing lost, nothing done twice, everything due delivered after the fault
    assert r["undelivered_at_end"] == {
        "deliveries_unfinished": 0,
        "fault_period_digest_channels": 0,
        "approved_actions_not_done": 0,
        "backfills_missing": 0,
    }, r
    assert r["lost"] == 0 and r["duplicated_rows"] == 0, r
    assert r["duplicate_side_effects"] == 0, side
    assert r["dead_lettered_valid"] == 0, r
    assert r["recovered_s"] == r["recovered_s"], r  # not NaN: it recovered
    assert r["exit_code"] == 0
    # the fault period's digests: one modmail, one page each; a page written after the wiki came
    # back though its modmail had gone out while the wiki was down
    periods = r["fault_period_digests"]
    assert all(len(v["modmail_min"]) <= 1 >= len(v["page_min"]) for v in periods.values()), r
    assert any(
        v["modmail_min"] and v["page_min"] and v["modmail_min"][0] < 20 <= v["page_min"][0]
        for v in periods.values()
    ), periods
