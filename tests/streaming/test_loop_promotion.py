"""Hot reload mid-stream, shadow scores apart from the champion's, ``compare`` on back-filled
outcomes, the promotion gate both ways (and ``--force`` in the audit log), rollback."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from models.bundle import BundleWriter, Registry
from models.registry import audit_log, challenger_version, promote, set_challenger
from redditdata.tree import iter_replies
from streaming.cli import main as prosocial
from streaming.clock import EventClock
from streaming.compare import compare_models
from streaming.gate import GateThresholds, decide
from streaming.replay import ReplayIndex
from streaming.runtime import assemble, run_embedded
from streaming.settings import load_settings
from streaming.stages.shadow import ModelReloader
from streaming.storage import ScoreRow, ShadowScoreRow, TlcRow
from tests.streaming.tiny import TinyForecast, TinyForecaster, tiny_models

HORIZON = 48 * 3600


class Versioned(TinyForecaster):
    def __init__(self, version: str, shift: float) -> None:
        super().__init__()
        self.version = version
        self.shift = shift

    def predict(self, post, tlcs, empathy=None, *, n_prior=None):  # type: ignore[no-untyped-def]
        return [
            TinyForecast(f.value + self.shift, f.lower, f.upper, f.reasons)
            for f in super().predict(post, tlcs, n_prior=n_prior)
        ]


class Peeking(TinyForecaster):
    """A test instrument: forecasts from the reply tree the back-fill will see (``sign`` +1:
    far better than any real forecaster; −1: far worse)."""

    def __init__(self, version: str, index: ReplayIndex, sign: float) -> None:
        super().__init__()
        self.version, self.index, self.sign = version, index, sign

    def predict(self, post, tlcs, empathy=None, *, n_prior=None):  # type: ignore[no-untyped-def]
        out = []
        for t in tlcs:
            th = self.index.thread(post.name, t.created_utc + HORIZON)
            node = next(x for x in th.tlcs if x.name == t.name)
            reps = list(iter_replies(node))
            v = math.log1p(len(reps)) + 0.1 * max((r.depth for r in reps), default=0)
            out.append(TinyForecast(self.sign * v, 0.0, 0.0, []))
        return out


def _registry(root: Path, versions: list[str]) -> Registry:
    reg = Registry(root)
    for v in versions:
        with BundleWriter(reg, "forecaster", version=v, make_current=False) as w:
            w.save_json("weights.json", {"v": v})
    reg.set_current("forecaster", versions[0])
    return reg


def _replay(index, db_url, reg, loader, on_progress=None):  # type: ignore[no-untyped-def]
    s = load_settings(
        database_url=db_url, clock="event", replay_data="-", horizon_s=HORIZON, quiet_period_s=600
    )
    models = tiny_models()
    models.forecaster = loader(reg.current_version("forecaster"), models)
    reloader = ModelReloader(reg.root, loader, check_every_s=0)
    p = assemble(s, models=models, index=index, clock=EventClock(), reloader=reloader)
    run_embedded(p, progress=on_progress, chunk=128)
    return p, reloader


def _cli(argv: list[str]) -> tuple[int, Any]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = prosocial(argv)
    return rc, json.loads(buf.getvalue())


@pytest.fixture()
def loader(small_index: ReplayIndex):  # type: ignore[no-untyped-def]
    made = {
        "v1": lambda: Versioned("v1", 0.0),
        "v2": lambda: Versioned("v2", 1.0),
        "oracle": lambda: Peeking("oracle", small_index, 1.0),
        "anti": lambda: Peeking("anti", small_index, -1.0),
    }
    return lambda version, _models: made[version]()


def test_hot_reload_mid_stream_scores_every_tlc_once_and_shadows_apart(
    small_index: ReplayIndex, tmp_path: Path, loader
) -> None:  # type: ignore[no-untyped-def]
    reg = _registry(tmp_path / "reg", ["v1", "v2", "oracle"])
    set_challenger(reg, "forecaster", "oracle", by="test", reason="shadow")
    total = len(small_index.submissions) + small_index.n_comments
    db = f"sqlite:///{tmp_path / 'p.db'}"

    def halfway(st: Any) -> None:
        if st.published >= total // 2 and reg.current_version("forecaster") == "v1":
            promote(reg, "forecaster", "v2", by="test", reason="mid-stream", force=True)

    p, reloader = _replay(small_index, db, reg, loader, halfway)
    tlcs = {c.name for cs in small_index.comments.values() for c in cs if c.is_tlc}
    with p.sessions() as s:
        rows = list(s.scalars(select(ScoreRow)))
        shadow = list(s.scalars(select(ShadowScoreRow)))
        unscored = s.scalar(
            select(func.count()).select_from(TlcRow).where(TlcRow.status != "scored")
        )
    # every TLC scored exactly once by a champion (the key is the TLC), none left unscored
    assert len(rows) == len({r.tlc_name for r in rows}) == len(tlcs) and unscored == 0
    by_v: dict[str, list[ScoreRow]] = {}
    for r in rows:
        by_v.setdefault(r.forecaster_version, []).append(r)
    assert set(by_v) == {"v1", "v2"} and reloader.reloads == 1
    # the swap happened at one batch boundary: every v1 score precedes every v2 score
    assert max(r.scored_ms for r in by_v["v1"]) <= min(r.scored_ms for r in by_v["v2"])
    # shadow scores: apart, same provenance fields, the challenger's version, never a champion's
    assert {r.challenger for r in shadow} == {"forecaster@oracle"}
    assert {r.tlc_name for r in shadow} == tlcs
    assert {r.forecaster_version for r in shadow} == {"oracle"}
    champ = {r.tlc_name: r for r in rows}
    for r in shadow[:50]:
        c = champ[r.tlc_name]
        assert (r.config_hash, r.empathy_version, r.created_utc, r.due_utc) == (
            c.config_hash,
            c.empathy_version,
            c.created_utc,
            c.due_utc,
        )
        assert r.empathy == c.empathy
    assert p.stages["scorer"].health()["shadow_scored"] == len(tlcs)

    # compare on the back-filled outcomes, then the gate lets the better challenger in
    rep = compare_models(p.sessions, challenger="oracle", n_boot=50)
    overall = rep["by_subreddit"]["*"]
    assert overall["n_tlcs"] > 100 and rep["champion"] in ("v1", "v2")
    assert overall["challenger"]["pairwise_acc"] > overall["champion"]["pairwise_acc"]
    assert set(overall["challenger"]["ci"]) >= {"r2", "pairwise_acc_time_matched", "ndcg5"}
    assert any(k != "*" for k in rep["by_subreddit"])
    rc, out = _cli(
        ["models", "--registry", str(reg.root), "promote", "forecaster", "oracle",
         "--database-url", db, "--n-boot", "50", "--min-posts", "5", "--by", "alice",
         "--reason", "better on back-filled outcomes"]
    )  # fmt: skip
    assert rc == 0 and out["promoted"] and out["decision"]["promote"]
    assert reg.current_version("forecaster") == "oracle"
    assert challenger_version(reg, "forecaster") is None  # the challenger became champion
    last = audit_log(reg, "forecaster")[-1]
    assert (last.action, last.by, last.force, last.previous) == ("promote", "alice", False, "v2")
    # rollback restores the previous champion
    rc, out = _cli(["models", "--registry", str(reg.root), "rollback", "forecaster", "--by", "bob"])
    assert rc == 0 and reg.current_version("forecaster") == "v2"
    assert audit_log(reg, "forecaster")[-1].action == "rollback"


def test_gate_refuses_a_worse_challenger_and_records_force(
    small_index: ReplayIndex, tmp_path: Path, loader
) -> None:  # type: ignore[no-untyped-def]
    reg = _registry(tmp_path / "reg", ["v1", "anti"])
    set_challenger(reg, "forecaster", "anti", by="test")
    db = f"sqlite:///{tmp_path / 'p.db'}"
    p, _ = _replay(small_index, db, reg, loader)
    rep = compare_models(p.sessions, challenger="anti", n_boot=50)
    d = decide(rep, GateThresholds(min_posts=5))
    assert not d.promote and d.checked_subreddits
    assert any("worse" in r for r in d.reasons) and any("overall" in r for r in d.reasons)
    base = ["models", "--registry", str(reg.root), "promote", "forecaster", "anti",
            "--database-url", db, "--n-boot", "50", "--min-posts", "5"]  # fmt: skip
    rc, out = _cli(base)
    assert rc == 1 and not out["promoted"] and out["refused"]
    assert reg.current_version("forecaster") == "v1"
    assert [e.action for e in audit_log(reg, "forecaster")] == ["challenger"]
    # an override is possible, and recorded as such with the refused gate as evidence
    rc, out = _cli([*base, "--force", "--by", "carol", "--reason", "drill"])
    assert rc == 0 and reg.current_version("forecaster") == "anti"
    last = audit_log(reg, "forecaster")[-1]
    assert last.force and last.by == "carol" and last.info is not None
    assert last.info["gate"]["promote"] is False


def test_drift_flags_a_subreddit_whose_forecast_quality_falls_below_its_history(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The evaluator over real storage: r/good keeps its quality, r/bad's forecasts turn
    anti-correlated after eight good windows."""
    from streaming.drift import DriftMonitor
    from streaming.ops import StageMetrics
    from streaming.stages.base import DeadLetters
    from streaming.stages.evaluator import EvaluatorStage
    from streaming.storage import EvaluationRow, OutcomeRow, open_database, upsert

    _, sessions = open_database(f"sqlite:///{tmp_path / 'e.db'}")
    metrics = StageMetrics()
    drift = DriftMonitor(metrics.registry, history=4, margin=0.1)
    ev = EvaluatorStage(
        sessions, EventClock(), metrics, DeadLetters(cast(Any, None), sessions, metrics), window=40,
        every=1, drift=drift, target="trajectory",
    )  # fmt: skip
    t = 1_633_000_000
    with caplog.at_level("WARNING", logger="streaming.drift"):
        for step in range(12):
            rows: dict[type, list[dict[str, Any]]] = {TlcRow: [], ScoreRow: [], OutcomeRow: []}
            for sub in ("good", "bad"):
                for k in range(40):  # 8 posts of 5 TLCs per window
                    name, post = f"t1_{sub}{step}x{k}", f"t3_{sub}{step}x{k // 5}"
                    y = float((k * 7) % 5)
                    f = -y if (sub == "bad" and step >= 8) else y + 0.1 * ((k * 3) % 2)
                    t += 60
                    rows[TlcRow].append(
                        {"name": name, "post_name": post, "subreddit": sub, "author": None,
                         "body": "x", "score": 1, "created_utc": t, "stored_ms": 0,
                         "status": "scored"}
                    )  # fmt: skip
                    rows[ScoreRow].append(
                        {"tlc_name": name, "post_name": post, "subreddit": sub,
                         "created_utc": t, "due_utc": t, "forecast": f, "reasons": [],
                         "forecaster_version": "v1", "config_hash": "h", "scored_ms": 0}
                    )  # fmt: skip
                    rows[OutcomeRow].append(
                        {"tlc_name": name, "post_name": post, "subreddit": sub, "as_of_utc": t,
                         "trajectory": y, "metrics": {}, "computed_ms": 0}
                    )  # fmt: skip
            with sessions() as s:
                for table, rs in rows.items():
                    upsert(s, table, rs)
                s.commit()
            ev._subs |= {"good", "bad"}
            ev.evaluate()
    assert drift.drifting == {"bad"}
    assert any("drift: r/bad " in r.getMessage() for r in caplog.records)
    assert not any("r/good" in r.getMessage() for r in caplog.records)
    get = metrics.registry.get_sample_value
    assert get("prosocial_forecast_drift", {"subreddit": "bad"}) == 1.0
    assert get("prosocial_forecast_drift", {"subreddit": "good"}) == 0.0
    with sessions() as s:
        bad = [
            r.figures["drift"]["drift"]
            for r in s.scalars(
                select(EvaluationRow)
                .where(EvaluationRow.subreddit == "bad", EvaluationRow.model == "forecaster:v1")
                .order_by(EvaluationRow.window_end_utc)
            )
        ]
    assert bad[:8] == [False] * 8 and bad[8] is True


def test_a_comparison_on_the_challengers_training_window_is_no_evidence() -> None:
    from streaming.compare import _overlaps

    month1 = {"since": 100, "until": 200}
    assert _overlaps(month1, 150, 300) and _overlaps(month1, None, None)
    assert not _overlaps(month1, 200, 300) and not _overlaps(None, 0, 1)
    good = {"paired": {"diff": {"pairwise_acc": 0.1}, "ci": {"pairwise_acc": [0.05, 0.15]}}}
    report = {"by_subreddit": {"*": good}, "overlap": False}
    assert decide(report).promote
    refused = decide({**report, "overlap": True})
    assert not refused.promote and "overlaps" in refused.reasons[0]
