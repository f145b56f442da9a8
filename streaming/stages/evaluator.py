"""The evaluator: rolling forecast quality per subreddit and model (DESIGN.md §6).

Consumes ``prosocial.outcomes``. Every ``every`` outcomes (and at drain) it takes, per
subreddit and overall (``*``), the newest ``window`` TLCs that have both a forecast and an
outcome, and stores one row per model version plus the reference orders:

* ``<forecaster version>``: MSE, R², Spearman (all TLCs), and within posts: pairwise
  accuracy, NDCG@10, mean Spearman;
* ``reddit_order`` (score, older first) and ``chronological`` (oldest first): the same
  within-post figures for the order Reddit shows and for time order;
* ``mean_baseline``: MSE / R² of predicting the window's mean outcome.

With a :class:`~streaming.drift.DriftMonitor` each subreddit's forecaster figures are also
checked against the subreddit's own history (``drift`` in the stored figures, gauges, logs).
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from redditdata.events import TOPIC_OUTCOMES
from streaming.bus.base import Message
from streaming.clock import Clock
from streaming.drift import DriftMonitor
from streaming.evaluation import mean_within_spearman, mse, ndcg, pairwise_accuracy, r2, spearman
from streaming.ops import StageMetrics
from streaming.stages.base import DeadLetters, Stage, now_ms
from streaming.storage import EvaluationRow, OutcomeRow, ScoreRow, SessionFactory, TlcRow, upsert

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
    rows: Sequence[tuple[str, str, int, int, float, float]],
) -> dict[str, dict[str, Any]]:
    """``rows`` = (tlc, post, created_utc, reddit_score, forecast, outcome) → figures by model
    name (``model``, ``reddit_order``, ``chronological``, ``mean_baseline``)."""
    if not rows:
        return {}
    true = [r[5] for r in rows]
    posts: dict[str, list[tuple[str, str, int, int, float, float]]] = defaultdict(list)
    for r in rows:
        posts[r[1]].append(r)
    groups = [g for g in posts.values() if len(g) >= 2]
    with_fc = [r for r in rows if r[4] is not None]
    model_groups = [[r for r in g if r[4] is not None] for g in groups]
    model_g = [[(r[4], r[5]) for r in g] for g in model_groups if len(g) >= 2]
    # reference orders as keys (higher = shown earlier)
    reddit_g = [[(float(r[3]) - r[2] * 1e-10, r[5]) for r in g] for g in groups]
    chrono_g = [[(-float(r[2]), r[5]) for r in g] for g in groups]
    mean = sum(true) / len(true)
    n_posts = len(groups)

    def ranks(gs: list[list[tuple[float, float]]]) -> dict[str, Any]:
        return {
            "pairwise_accuracy": pairwise_accuracy(gs),
            "ndcg@10": ndcg(gs, 10),
            "spearman_within_post": mean_within_spearman(gs),
            "n_posts": n_posts,
        }

    out: dict[str, dict[str, Any]] = {}
    if with_fc:
        pred, ftrue = [r[4] for r in with_fc], [r[5] for r in with_fc]
        out["model"] = _clean(
            {
                "n": len(with_fc),
                "mse": mse(pred, ftrue),
                "r2": r2(pred, ftrue),
                "spearman": spearman(pred, ftrue),
                **ranks(model_g),
                "n_posts": len(model_g),
            }
        )
    return out | {
        "reddit_order": _clean({"n": len(rows), **ranks(reddit_g)}),
        "chronological": _clean({"n": len(rows), **ranks(chrono_g)}),
        "mean_baseline": _clean(
            {
                "n": len(rows),
                "mse": mse([mean] * len(true), true),
                "r2": r2([mean] * len(true), true),
            }
        ),
    }


class EvaluatorStage(Stage):
    name = "evaluator"
    topics = (TOPIC_OUTCOMES,)

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        metrics: StageMetrics,
        dead: DeadLetters,
        *,
        window: int = 2000,
        every: int = 500,
        drift: DriftMonitor | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.metrics = metrics
        self.dead = dead
        self.window = window
        self.every = every
        self.drift = drift
        self._since = 0
        self._subs: set[str] = set()
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}

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

    def evaluate(self, all_subreddits: bool = False) -> list[dict[str, Any]]:
        with self.sessions() as s:
            if all_subreddits:
                self._subs |= set(s.scalars(select(OutcomeRow.subreddit).distinct()))
            subs = sorted(self._subs)
            out_rows: list[dict[str, Any]] = []
            for sub in [*subs, "*"]:
                q = (
                    select(
                        ScoreRow.tlc_name,
                        ScoreRow.post_name,
                        ScoreRow.created_utc,
                        TlcRow.score,
                        ScoreRow.forecast,
                        OutcomeRow.trajectory,
                        ScoreRow.forecaster_version,
                    )
                    .join(OutcomeRow, OutcomeRow.tlc_name == ScoreRow.tlc_name)
                    .join(TlcRow, TlcRow.name == ScoreRow.tlc_name)
                    .where(OutcomeRow.trajectory.is_not(None))
                    .order_by(ScoreRow.created_utc.desc())
                    .limit(self.window)
                )
                if sub != "*":
                    q = q.where(ScoreRow.subreddit == sub)
                by_version: dict[str, list[Any]] = defaultdict(list)
                for r in s.execute(q):
                    by_version[r[6] or "none"].append(tuple(r[:6]))
                # drift follows the forecaster serving now: the newest version in the window
                newest = max(by_version, key=lambda v: max(r[2] for r in by_version[v]), default="")
                for version, rows in by_version.items():
                    window_end = max(r[2] for r in rows)
                    for model, figs in evaluate_rows(rows).items():
                        name = f"forecaster:{version}" if model == "model" else model
                        if (
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
                            "figures": figs,
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
