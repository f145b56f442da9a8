from __future__ import annotations

import math

import numpy as np
import pytest

from models.forecaster.evaluation import evaluate
from streaming.orders import Scored, build_suggestion, chronological_order, reddit_order
from streaming.stages.evaluator import evaluate_rows


def _s(name: str, t: int, score: int, f: float, lo: float, hi: float) -> Scored:
    """A scored TLC, its fields in :class:`Scored`'s order, with a reason and "providing"."""
    return Scored(name, t, score, f, lo, hi, reasons=["r"], empathy_label="providing")


def test_suggestion_orders_by_forecast_and_diffs_against_reddit_order() -> None:
    items = [
        _s("a", 1, 50, 0.1, 0.0, 0.2),
        _s("b", 2, 10, 0.9, 0.8, 1.0),
        _s("c", 3, 10, 0.5, 0.45, 0.55),
    ]
    order, diff = build_suggestion(items)
    assert [o["tlc"] for o in order] == ["b", "c", "a"]
    assert [o["reddit_rank"] for o in order] == [2, 3, 1]  # reddit: a (50), b (older), c
    assert order[0]["separated_from_next"] is True  # 0.8 > 0.55
    assert order[1]["separated_from_next"] is True  # 0.45 > 0.2
    assert order[0]["reasons"][0] == "empathy: providing"
    assert {d["tlc"]: d["move"] for d in diff} == {"a": -2, "b": 1, "c": 1}
    assert [s.name for s in reddit_order(items)] == ["a", "b", "c"]
    assert [s.name for s in chronological_order(items)] == ["a", "b", "c"]


def test_overlapping_intervals_are_not_separated() -> None:
    order, _ = build_suggestion([_s("a", 1, 0, 0.5, 0.1, 0.9), _s("b", 2, 0, 0.4, 0.0, 0.8)])
    assert order[0]["separated_from_next"] is False


def test_rank_figures_on_hand_worked_examples() -> None:
    y = np.array([3.0, 2.0, 1.0])
    g = np.zeros(3, dtype=int)
    t = np.array([0.0, 1.0, 2.0])
    perfect = evaluate(y, np.array([3.0, 2.0, 1.0]), g, t)
    reversed_ = evaluate(y, np.array([1.0, 2.0, 3.0]), g, t)
    assert perfect["pairwise_acc"] == 1.0 and reversed_["pairwise_acc"] == 0.0
    tie = evaluate(np.array([1.0, 2.0]), np.array([1.0, 1.0]), g[:2], t[:2])
    assert tie["pairwise_acc"] == 0.5  # forecast tie = half
    assert perfect["ndcg5"] == pytest.approx(1.0)
    # gains (y - min) shown: 0, 1, 2 → DCG = 0/1 + 1/log2(3) + 2/log2(4); IDCG = 2 + 1/log2(3)
    assert reversed_["ndcg5"] == pytest.approx((1 / math.log2(3) + 1) / (2 + 1 / math.log2(3)))
    assert perfect["r2"] == 1.0
    assert evaluate(y, np.array([3.0, 2.0, 3.0]), g, t)["mse"] == pytest.approx(4 / 3)


def test_evaluate_rows_scores_reference_orders_with_the_same_code() -> None:
    # (tlc, post, created, reddit score, forecast, outcome). Oldest (c) has the best outcome:
    # chronological order is right; Reddit's order (a: 9 points first) is exactly reversed.
    rows = [("a", "p", 30, 9, 0.0, 1.0), ("b", "p", 20, 5, 0.0, 2.0), ("c", "p", 10, 1, 0.0, 3.0)]
    figs = evaluate_rows(rows)
    assert figs["reddit_order"]["pairwise_acc"] == 0.0
    assert figs["chronological"]["pairwise_acc"] == 1.0
    assert figs["model"]["pairwise_acc"] == 0.5  # all forecasts tie
    assert figs["model"]["spearman"] == 0.0  # a constant forecast: no rank information
    assert "r2" not in figs["chronological"]
    assert figs["mean_baseline"]["r2"] == 0.0
