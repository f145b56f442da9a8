"""Ranking metrics on hand-made posts (pairwise, time-matched pairs, NDCG@5, Spearman)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.forecaster.evaluation import evaluate, ndcg_at_k


@pytest.fixture()
def one_post():
    y = np.array([3.0, 2.0, 1.0, 0.0])
    times = np.array([0.0, 60.0, 5000.0, 5100.0])
    return y, np.zeros(4, dtype=int), times


def test_perfect_forecast_scores_one(one_post):
    y, g, t = one_post
    r = evaluate(y, y * 2 + 1, g, t)
    assert r["pairwise_acc"] == 1.0
    assert r["pairwise_acc_time_matched"] == 1.0
    assert r["ndcg5"] == pytest.approx(1.0)
    assert r["spearman"] == pytest.approx(1.0)
    assert r["n_pairs"] == 6


def test_reversed_forecast_scores_zero_and_constant_scores_half(one_post):
    y, g, t = one_post
    assert evaluate(y, -y, g, t)["pairwise_acc"] == 0.0
    r = evaluate(y, np.zeros(4), g, t)
    assert r["pairwise_acc"] == 0.5
    assert r["spearman"] == 0.0


def test_time_matched_pairs_are_only_those_within_ten_minutes(one_post):
    y, g, t = one_post
    # pairs (0,1) and (2,3) are within 600 s; get (0,1) right and (2,3) wrong
    pred = np.array([1.0, 0.0, 0.0, 1.0])
    r = evaluate(y, pred, g, t)
    assert r["n_pairs_time_matched"] == 2
    assert r["pairwise_acc_time_matched"] == 0.5


def test_tied_outcomes_are_not_pairs_and_posts_never_mix():
    y = np.array([1.0, 1.0, 5.0, 0.0])
    g = np.array([0, 0, 1, 1])
    t = np.zeros(4)
    # across posts this forecast would be wrong (post 0 forecasts above post 1's best),
    # within post 1 it is right
    pred = np.array([10.0, 9.0, 2.0, 1.0])
    r = evaluate(y, pred, g, t)
    assert r["n_pairs"] == 1
    assert r["pairwise_acc"] == 1.0


def test_ndcg_at_5_matches_hand_computation():
    y = np.array([3.0, 2.0, 1.0, 0.0])
    pred = np.array([0.5, 0.9, 0.1, 0.0])  # order: idx1 (gain 2), idx0 (3), idx2 (1), idx3
    dcg = 2 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(y, pred) == pytest.approx(dcg / idcg)


def test_ndcg_cuts_at_five():
    y = np.arange(8, dtype=float)
    pred = y.copy()
    pred[0] = 100.0  # the worst item ranked first pushes one good item out of the top 5
    assert ndcg_at_k(y, pred) < 1.0
    pred2 = y.copy()
    pred2[0], pred2[1] = pred2[1], pred2[0]  # a swap below the top 5 does not matter
    assert ndcg_at_k(y, pred2) == pytest.approx(1.0)


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(40), 6)
    y = rng.normal(size=len(g))
    pred = y + rng.normal(scale=1.0, size=len(g))
    t = np.tile(np.arange(6) * 100.0, 40)
    r = evaluate(y, pred, g, t, n_boot=100, seed=1)
    for k in ("r2", "pairwise_acc", "pairwise_acc_time_matched", "ndcg5", "spearman"):
        lo, hi = r["ci"][k]
        assert lo <= r[k] <= hi
        assert hi > lo
    assert 0.6 < r["pairwise_acc"] < 0.9


def test_per_post_figures_equal_scipys_on_tied_values():
    from itertools import combinations

    from scipy.stats import rankdata, spearmanr

    from models.forecaster.evaluation import _ranks, post_stats

    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 12, 40)
    groups = np.repeat(np.arange(40), sizes)
    y = rng.integers(0, 4, len(groups)).astype(float)  # many ties
    pred = rng.integers(0, 5, len(groups)).astype(float)
    times = rng.uniform(0, 3600, len(groups))
    assert np.array_equal(_ranks(y), rankdata(y))
    s = post_stats(y, pred, groups, times)
    for j in range(40):
        yy, pp, tt = y[groups == j], pred[groups == j], times[groups == j]
        pairs = [(a, b) for a, b in combinations(range(len(yy)), 2) if yy[a] != yy[b]]
        ok = [
            0.5 if pp[a] == pp[b] else float((yy[a] > yy[b]) == (pp[a] > pp[b])) for a, b in pairs
        ]
        close = [k for k, (a, b) in enumerate(pairs) if abs(tt[a] - tt[b]) <= 600]
        assert (s.pair_ok[j], s.pair_n[j]) == (sum(ok), len(pairs))
        assert (s.tm_ok[j], s.tm_n[j]) == (sum(ok[k] for k in close), len(close))
        if len(yy) >= 3 and np.ptp(yy) > 0 and np.ptp(pp) > 0:
            assert s.rho[j] == pytest.approx(spearmanr(yy, pp).statistic)
