"""The evaluator: rolling forecast quality per subreddit and model (docs/architecture.md,
"Stages and their contracts").

Consumes ``prosocial.outcomes``. Every ``every`` outcomes (and at drain) it takes, per
subreddit and overall (``*``), the newest ``window`` TLCs that have both a forecast and an
outcome (the target outcome: ``safe`` unless the forecaster forecasts the trajectory), and
stores one row per model version and checkpoint (the forecast at creation and each
re-forecast, ``forecaster:<version>@+<delay>s``) plus the reference orders:

* ``<forecaster version>``: MSE, R² (all TLCs), and within posts: pairwise accuracy (all
  pairs, time-matched pairs, per-post macro), NDCG@5, mean Spearman
  (:mod:`models.forecaster.evaluation`, the same figures training reports);
* ``reddit_order`` (score, older first) and ``chronological`` (oldest first): the same
  within-post figures for the order Reddit shows and for time order;
* ``mean_baseline``: MSE / R² of predicting the window's mean outcome.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from models.forecaster.evaluation import METRIC_KEYS, ORDER_KEYS, evaluate
from redditdata.events import TOPIC_OUTCOMES
from streaming.bus.base import Message
from streaming.drift import DriftMonitor
from streaming.stages.base import DatabaseStage, now_ms
from streaming.storage import (
    CheckpointScoreRow,
    EvaluationRow,
    OutcomeRow,
    ScoreRow,
    TlcRow,
    upsert,
)

__all__ = ["EvaluatorStage", "evaluate_rows"]

logger = logging.getLogger(__name__)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (
            None
            if isinstance(v, float) and math.isnan(v)
            else round(v, 5)
            if isinstance(v, float)
            else v
        )
        for k, v in d.items()
    }


def evaluate_rows(
    rows: Sequence[tuple[str, str, int, int, float | None, float]],
) -> dict[str, dict[str, Any]]:
    """``rows`` = (tlc, post, created_utc, reddit_score, forecast, outcome) → figures by model
    name (``model``, ``reddit_order``, ``chronological``, ``mean_baseline``), computed by
    :mod:`models.forecaster.evaluation` exactly as training reports them."""
    if not rows:
        return {}
    post_ids = {p: i for i, p in enumerate(dict.fromkeys(r[1] for r in rows))}
    y = np.asarray([r[5] for r in rows], dtype=np.float64)
    groups = np.asarray([post_ids[r[1]] for r in rows])
    created = np.asarray([r[2] for r in rows], dtype=np.float64)
    score = np.asarray([r[3] for r in rows], dtype=np.float64)
    n_posts = int(np.sum(np.bincount(groups) >= 2))

    def figs(pred: np.ndarray, keep: np.ndarray, keys: Sequence[str]) -> dict[str, Any]:
        r = evaluate(y[keep], pred[keep], groups[keep], created[keep])
        ok = np.bincount(groups[keep]) >= 2
        return _clean({"n": int(keep.sum()), **{k: r[k] for k in keys}, "n_posts": int(ok.sum())})

    every = np.ones(len(rows), dtype=bool)
    out: dict[str, dict[str, Any]] = {}
    has_fc = np.asarray([r[4] is not None for r in rows])
    if has_fc.any():
        pred = np.asarray([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64)
        out["model"] = figs(pred, has_fc, METRIC_KEYS)
    mean = np.full(len(rows), float(y.mean()))
    base = figs(mean, every, ("mse", "r2"))
    base.pop("n_posts", None)
    return out | {
        # reference orders as keys (higher = shown earlier); Reddit ties: older first
        "reddit_order": figs(score - created * 1e-10, every, ORDER_KEYS) | {"n_posts": n_posts},
        "chronological": figs(-created, every, ORDER_KEYS),
        "mean_baseline": base,
    }


@dataclass(eq=False)
class EvaluatorStage(DatabaseStage):
    name = "evaluator"
    topics = (TOPIC_OUTCOMES,)

    _: KW_ONLY
    window: int = 2000
    every: int = 500
    #: the outcome forecasts are scored against ("safe" or "trajectory")
    target: str = "safe"
    drift: DriftMonitor | None = None
    latest: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, init=False)
    _since: int = field(default=0, init=False)
    _subs: set[str] = field(default_factory=set, init=False)

    def handle(self, messages: Sequence[Message]) -> None:
        for m in messages:
            try:
                d = json.loads(m.value)
                self._subs.add(str(d["subreddit"]))
            except (ValueError, KeyError, TypeError) as exc:
                self.dead.send(self.name, m, f"bad_outcome: {exc}")
                continue
            self._since += 1
        if self._since >= self.every:
            self.evaluate()

    def drain(self) -> None:
        self.evaluate(all_subreddits=True)

    def _rows(self, s: Any, sub: str, delay: int) -> dict[str, list[Any]]:
        """The window's (tlc, post, created, reddit score, forecast, outcome) rows by forecaster
        version, for the forecast at creation (``delay`` 0) or a checkpoint re-forecast."""
        outcome = OutcomeRow.safe if self.target == "safe" else OutcomeRow.trajectory
        src: Any = ScoreRow if delay == 0 else CheckpointScoreRow
        query = (
            select(
                src.tlc_name,
                src.post_name,
                src.created_utc,
                TlcRow.score,
                src.forecast,
                outcome,
                src.forecaster_version,
            )
            .join(OutcomeRow, OutcomeRow.tlc_name == src.tlc_name)
            .join(TlcRow, TlcRow.name == src.tlc_name)
            .where(outcome.is_not(None))
            .order_by(src.created_utc.desc())
            .limit(self.window)
        )
        if delay:
            query = query.where(CheckpointScoreRow.checkpoint_s == delay)
        if sub != "*":
            query = query.where(src.subreddit == sub)
        by_version: dict[str, list[Any]] = defaultdict(list)
        for r in s.execute(query):
            by_version[r[6] or "none"].append(tuple(r[:6]))
        return by_version

    def evaluate(self, all_subreddits: bool = False) -> list[dict[str, Any]]:
        """One row per subreddit (and ``*``) and model: the forecast at creation
        (``forecaster:<version>``), each checkpoint's re-forecast
        (``forecaster:<version>@+<delay>s``), and the references, against the target
        outcome (``safe`` by default, else the trajectory)."""
        with self.sessions() as s:
            if all_subreddits:
                self._subs |= set(s.scalars(select(OutcomeRow.subreddit).distinct()))
            subs = sorted(self._subs)
            delays = [0, *sorted(s.scalars(select(CheckpointScoreRow.checkpoint_s).distinct()))]
            out_rows: list[dict[str, Any]] = []
            for sub in [*subs, "*"]:
                for delay in delays:
                    by_version = self._rows(s, sub, delay)
                    # drift follows the forecaster serving now: the newest version in the window
                    newest = max(
                        by_version, key=lambda v: max(r[2] for r in by_version[v]), default=""
                    )
                    for version, rows in by_version.items():
                        window_end = max(r[2] for r in rows)
                        for model, figs in evaluate_rows(rows).items():
                            if delay and model != "model":
                                continue  # the references are the same at every checkpoint
                            name = f"forecaster:{version}" if model == "model" else model
                            if delay:
                                name += f"@+{delay}s"
                            elif (
                                model == "model"
                                and self.drift is not None
                                and sub != "*"
                                and version == newest
                            ):
                                verdict = self.drift.observe(sub, figs)
                                if verdict is not None:
                                    figs = {**figs, "drift": verdict}
                            if version != "none" and len(by_version) > 1 and model != "model":
                                name = f"{model}@{version}"
                            row = {
                                "subreddit": sub,
                                "model": name,
                                "window_end_utc": window_end,
                                "n_tlcs": len(rows),
                                "n_posts": int(figs.get("n_posts") or 0),
                                "figures": figs | {"checkpoint": delay, "target": self.target},
                                "computed_ms": now_ms(),
                            }
                            out_rows.append(row)
                            self.latest[(sub, name)] = row
            upsert(
                s, EvaluationRow, out_rows, update=["n_tlcs", "n_posts", "figures", "computed_ms"]
            )
            s.commit()
        self._since = 0
        self._subs.clear()
        self.metrics.events_out.labels(stage=self.name).inc(len(out_rows))
        return out_rows
