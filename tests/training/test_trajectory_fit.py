"""Fitting the trajectory PCA on synthetic metric matrices with a known structure."""

from __future__ import annotations

import numpy as np
import pytest
from training.errors import TrainingError
from training.trajectory import fit_pc1, heldout_mask

from models.metrics.names import METRIC_NAMES, METRIC_SIGNS


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    """One latent 'prosocial' factor drives every metric in its expected direction."""
    rng = np.random.default_rng(seed)
    latent = rng.gamma(1.0, 2.0, size=n)
    k = len(METRIC_NAMES)
    x = np.empty((n, k))
    for j, m in enumerate(METRIC_NAMES):
        s = METRIC_SIGNS[m]
        if m.startswith("pct_") or m in (
            "politeness",
            "supportiveness",
            "linguistic_accommodation",
        ):
            x[:, j] = np.clip(0.5 + 0.1 * s * latent + rng.normal(0, 0.05, n), -1, 1)
        else:
            z = (latent - latent.mean()) / latent.std()
            x[:, j] = rng.poisson(np.exp(1.0 + 0.8 * s * z))
    x[:, METRIC_NAMES.index("donations")] = 0.0  # constant column (as in small real slices)
    return x


def test_pc1_loads_in_the_expected_directions_and_explains_most_variance() -> None:
    fit = fit_pc1(_matrix(2000), _matrix(500, seed=1))
    load = fit.loadings()
    assert fit.pc1_evr > 0.5
    assert fit.heldout_explained_variance is not None and fit.heldout_explained_variance > 0.4
    assert load["donations"] == 0.0
    assert fit.disagreeing == []
    assert all(load[m] * METRIC_SIGNS[m] > 0 for m in METRIC_NAMES if m != "donations")
    assert np.linalg.norm(fit.trajectory.loadings) == pytest.approx(1.0)


def test_sign_is_fixed_whatever_the_svd_returns() -> None:
    x = _matrix(800)
    a = fit_pc1(x).trajectory.loadings
    b = fit_pc1(x[::-1]).trajectory.loadings  # same data, different row order
    assert np.allclose(a, b, atol=1e-9)
    signs = np.array([METRIC_SIGNS[m] for m in METRIC_NAMES])
    assert float(a @ signs) > 0


def test_metrics_against_their_expected_sign_are_reported() -> None:
    x = _matrix(1500)
    j = METRIC_NAMES.index("toxic_count")
    x[:, j] = x[:, METRIC_NAMES.index("subsequent_comments")]  # toxicity grows with size
    assert "toxic_count" in fit_pc1(x).disagreeing


def test_trajectory_scores_separate_high_and_low_conversations() -> None:
    x = _matrix(1000)
    traj = fit_pc1(x).trajectory
    hi = np.argsort(x[:, METRIC_NAMES.index("subsequent_comments")])[-50:]
    lo = np.argsort(x[:, METRIC_NAMES.index("subsequent_comments")])[:50]
    assert traj.transform(x[hi]).mean() > traj.transform(x[lo]).mean() + 1


def test_too_few_rows_or_nan_are_errors() -> None:
    with pytest.raises(TrainingError):
        fit_pc1(_matrix(2))
    x = _matrix(50)
    x[0, 0] = np.nan
    with pytest.raises(TrainingError, match="NaN"):
        fit_pc1(x)


def test_heldout_split_is_by_post_and_stable() -> None:
    posts = [f"t3_{i}" for i in range(400) for _ in range(3)]
    m = heldout_mask(posts, 0.2)
    assert m.tolist() == heldout_mask(posts, 0.2).tolist()
    by_post: dict[str, set[bool]] = {}
    for p, h in zip(posts, m):
        by_post.setdefault(p, set()).add(bool(h))
    assert all(len(v) == 1 for v in by_post.values())
    assert 0.1 < m.mean() < 0.3
