"""Fitting the prosocial trajectory: standardiser + first principal component (paper §4,
Appendix B) over the outcome metrics of matured training conversations.

* Conversations: every TLC (with at least ``min_replies`` replies, as in the paper where every
  conversation has a reply) of posts scraped at least ``min_age_hours`` after posting
  (``retrieved_on - created_utc``), so that their outcome has had time to mature.
* Split by post (a stable hash of the post id), so the held-out figures come from posts whose
  conversations were never seen in fitting.
* Each metric is transformed (``models.metrics.names.METRIC_TRANSFORMS``), z-scored with the
  training mean / std (a constant metric gets std 1 and so loading 0), and PC1 is taken from
  the SVD of the standardised matrix. Its sign is fixed so that ``Σ sign_m · loading_m > 0``
  with the expected signs of ``METRIC_SIGNS`` (prosocial +, toxic counts −).
* The moderator-safe outcome (``safe.json``, :class:`models.trajectory.SafeOutcome`) is
  fitted on the same conversations' civil metrics (:data:`SAFE_METRIC_NAMES`): their
  sign-constrained first principal component (:func:`fit_safe`: the unit vector of largest
  variance whose every weight has its expected sign or is 0, by projected power iteration),
  with the correlations the README quotes (with PC1, with conversation size, with each metric).
* The bundle ``trajectory`` holds ``trajectory.json`` (features, transforms, mean, std,
  loadings), ``safe.json`` and ``markers.json`` (the function-word markers accommodation was computed with); the report (JSON + loadings bar plot) goes to ``var/reports/trajectory/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.bundle import BundleWriter, Registry, hash_files
from models.metrics.accommodation import Markers, load_markers
from models.metrics.aux import AuxScorer
from models.metrics.names import (
    METRIC_NAMES,
    METRIC_SIGNS,
    METRIC_TRANSFORMS,
    SAFE_METRIC_NAMES,
    SAFE_METRIC_SIGNS,
    SAFE_METRIC_TRANSFORMS,
)
from models.outcomes import OutcomeComputer
from models.trajectory import (
    BUNDLE_NAME,
    MARKERS_FILE,
    SAFE_FILE,
    TRAJECTORY_FILE,
    SafeOutcome,
    Trajectory,
    apply_transforms,
)
from redditdata.dumps import DumpReport, find_dump_files
from redditdata.forest import iter_threads
from redditdata.tree import Node
from training.errors import TrainingError

__all__ = [
    "PAPER_PC1_EVR",
    "MetricTable",
    "TrajectoryArgs",
    "TrajectoryFit",
    "collect_metrics",
    "fit_pc1",
    "fit_safe",
    "heldout_mask",
    "plot_loadings",
    "safe_report",
    "train_trajectory",
]

logger = logging.getLogger(__name__)

#: The paper's share of variance explained by PC1 (Figure 2).
PAPER_PC1_EVR = 0.574


@dataclass(frozen=True)
class TrajectoryArgs:
    """Which conversations are read (threads scraped ``min_age_hours`` after posting, up to
    ``max_threads``, TLCs with ``min_replies``; ``batch_comments`` scored at a time), the share
    of posts held out, and whether the bundle becomes current (else: a candidate)."""

    min_age_hours: float = 48
    max_threads: int | None = None
    min_replies: int = 1
    heldout_frac: float = 0.2
    batch_comments: int = 20_000
    make_current: bool = True


@dataclass
class MetricTable:
    """Metric rows of the collected conversations with their post ids."""

    x: np.ndarray
    posts: list[str]
    #: the civil metrics of the same conversations (SAFE_METRIC_NAMES order)
    safe: np.ndarray = field(default_factory=lambda: np.zeros((0, len(SAFE_METRIC_NAMES))))
    n_threads: int = 0
    n_comments: int = 0
    report: DumpReport = field(default_factory=DumpReport)


def _batches(
    threads: Iterator[Any], min_replies: int, batch_comments: int
) -> Iterator[tuple[list[Node], int]]:
    batch: list[Node] = []
    size = 0
    n_threads = 0
    for th in threads:
        n_threads += 1
        for tlc in th.tlcs:
            n = tlc.size() - 1
            if n < min_replies:
                continue
            batch.append(tlc)
            size += n + 1
        if size >= batch_comments:
            yield batch, n_threads
            batch, size, n_threads = [], 0, 0
    if batch or n_threads:
        yield batch, n_threads


def collect_metrics(
    data: str | Path,
    aux: AuxScorer,
    args: TrajectoryArgs = TrajectoryArgs(),
    *,
    markers: Markers | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> MetricTable:
    """Outcome metrics of the matured conversations of a dump directory (``args`` says
    which)."""
    report = DumpReport()
    computer = OutcomeComputer(
        aux, None, markers if markers is not None else load_markers(data), memo=True
    )
    threads = iter_threads(
        data, report, max_threads=args.max_threads, min_age_s=int(args.min_age_hours * 3600)
    )
    xs: list[np.ndarray] = []
    ss: list[np.ndarray] = []
    posts: list[str] = []
    n_threads = n_comments = 0
    for tlcs, k in _batches(threads, args.min_replies, args.batch_comments):
        n_threads += k
        if tlcs:
            x, n_rep = computer.metric_matrix(tlcs)
            xs.append(x)
            ss.append(computer.safe_matrix(tlcs, x))
            assert computer.memo is not None
            computer.memo.clear()
            posts.extend(t.parent for t in tlcs)
            c = int(n_rep.sum()) + len(tlcs)
            n_comments += c
        else:
            c = 0
        if on_batch is not None:
            on_batch(k, c)
    x = np.vstack(xs) if xs else np.zeros((0, len(METRIC_NAMES)))
    safe = np.vstack(ss) if ss else np.zeros((0, len(SAFE_METRIC_NAMES)))
    return MetricTable(
        x=x, posts=posts, safe=safe, n_threads=n_threads, n_comments=n_comments, report=report
    )


def heldout_mask(posts: list[str], frac: float) -> np.ndarray:
    """``True`` for conversations of held-out posts (stable hash of the post id)."""

    def bucket(p: str) -> float:
        return int(hashlib.sha1(p.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    return np.fromiter((bucket(p) < frac for p in posts), dtype=bool, count=len(posts))


@dataclass
class TrajectoryFit:
    """A fitted (unsaved) trajectory and its figures."""

    trajectory: Trajectory
    explained_variance_ratio: list[float]  # first five components, training rows
    heldout_explained_variance: float | None
    n_train: int
    n_heldout: int
    disagreeing: list[str]  # metrics whose PC1 loading has the opposite of the expected sign
    untransformed_pc1_evr: float | None = None  # PC1 share without the log transforms

    @property
    def pc1_evr(self) -> float:
        return self.explained_variance_ratio[0]

    def loadings(self) -> dict[str, float]:
        return {f: float(v) for f, v in zip(self.trajectory.features, self.trajectory.loadings)}


def _standardised(
    x: np.ndarray, transforms: tuple[str, ...], what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z, mean, std)`` of the transformed columns of ``x`` (a constant column keeps std 1)."""
    if x.shape[0] < 3:
        raise TrainingError(f"need at least 3 conversations to fit PCA, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise TrainingError(f"{what} has NaN/inf values (are the aux models missing?)")
    t = apply_transforms(x, transforms)
    mean = t.mean(axis=0)
    std = t.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (t - mean) / std, mean, std


def fit_pc1(x: np.ndarray, x_heldout: np.ndarray | None = None) -> TrajectoryFit:
    """Standardiser + sign-fixed PC1 of a metric matrix in ``METRIC_NAMES`` order."""
    transforms = tuple(METRIC_TRANSFORMS[m] for m in METRIC_NAMES)
    z, mean, std = _standardised(x, transforms, "metric matrix")
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    var = s**2
    evr = (var / var.sum()).tolist() if var.sum() > 0 else [0.0] * len(s)
    pc1 = vt[0].copy()
    signs = np.array([METRIC_SIGNS[m] for m in METRIC_NAMES], dtype=np.float64)
    if float(pc1 @ signs) < 0:
        pc1 = -pc1
    traj = Trajectory(
        version="unsaved",
        features=METRIC_NAMES,
        transforms=transforms,
        mean=mean,
        std=std,
        loadings=pc1,
        explained_variance_ratio=evr[0],
    )
    held = None
    if x_heldout is not None and len(x_heldout) >= 2:
        zh = traj.standardise(x_heldout)
        zh = zh - zh.mean(axis=0)
        total = float((zh**2).sum())
        held = float(((zh @ pc1) ** 2).sum() / total) if total > 0 else None
    disagreeing = [m for m, v in zip(METRIC_NAMES, pc1) if v * METRIC_SIGNS[m] < -1e-9]
    raw_std = x.std(axis=0)
    zr = (x - x.mean(axis=0)) / np.where(raw_std > 1e-12, raw_std, 1.0)
    sr = np.linalg.svd(zr, compute_uv=False) ** 2
    raw_evr = float(sr[0] / sr.sum()) if sr.sum() > 0 else 0.0
    return TrajectoryFit(
        trajectory=traj,
        explained_variance_ratio=[float(v) for v in evr[:5]],
        heldout_explained_variance=held,
        n_train=int(x.shape[0]),
        n_heldout=0 if x_heldout is None else int(x_heldout.shape[0]),
        disagreeing=disagreeing,
        untransformed_pc1_evr=raw_evr,
    )


def _sign_constrained_pc1(z: np.ndarray, signs: np.ndarray, iters: int = 500) -> np.ndarray:
    """Unit vector ``w`` maximising the variance of ``z @ w`` subject to ``signs * w >= 0``
    (projected power iteration from the clipped PC1 and from ``signs``; the better one)."""
    cov = z.T @ z / max(len(z) - 1, 1)
    pc1 = np.linalg.svd(z, full_matrices=False)[2][0]
    if float(pc1 @ signs) < 0:
        pc1 = -pc1
    best, best_var = signs / np.linalg.norm(signs), -1.0
    for start in (pc1, signs.astype(np.float64)):
        w = np.where(signs * start > 0, start, 0.0)
        if not np.any(w):
            w = signs.astype(np.float64)
        w = w / np.linalg.norm(w)
        for _ in range(iters):
            v = cov @ w
            v = np.where(signs * v > 0, v, 0.0)
            norm = np.linalg.norm(v)
            if norm == 0:
                break
            v = v / norm
            if np.allclose(v, w, atol=1e-10):
                w = v
                break
            w = v
        var = float(w @ cov @ w)
        if var > best_var:
            best, best_var = w, var
    return best


def _toxic_neutral(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """``w`` with the two toxic counts weighted ``-λ/√2`` each, ``λ ≥ 0`` the smallest that
    leaves the index uncorrelated (or negatively correlated) with the log toxic count, then
    renormalised; returns (weights, λ)."""
    tox = [SAFE_METRIC_NAMES.index(m) for m in ("toxic_count", "extremely_toxic_count")]
    col = z[:, tox[0]]

    def with_lam(lam: float) -> np.ndarray:
        v = w.copy()
        v[tox] = -lam / np.sqrt(2.0)
        return v

    def corr(lam: float) -> float:
        s = z @ with_lam(lam)
        return float(np.corrcoef(s, col)[0, 1]) if np.std(s) > 0 and np.std(col) > 0 else 0.0

    if corr(0.0) <= 0:
        return w, 0.0
    lo, hi = 0.0, 1.0
    while corr(hi) > 0 and hi < 1e3:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if corr(mid) > 0 else (lo, mid)
    v = with_lam(hi)
    return v / np.linalg.norm(v), hi


def fit_safe(x_safe: np.ndarray, toxic_neutral: bool = True) -> tuple[SafeOutcome, float]:
    """The moderator-safe outcome: standardised (transformed) civil metrics weighted by their
    sign-constrained first principal component; with ``toxic_neutral`` the toxic counts then
    get the smallest negative weight that leaves the outcome uncorrelated with the log toxic
    count on the fitting conversations (big conversations draw civil and toxic replies
    alike: without it a conversation that draws toxic replies still ranks higher on
    average). Returns (outcome, that weight λ)."""
    transforms = tuple(SAFE_METRIC_TRANSFORMS[m] for m in SAFE_METRIC_NAMES)
    z, mean, std = _standardised(x_safe, transforms, "civil metric matrix")
    signs = np.array([SAFE_METRIC_SIGNS[m] for m in SAFE_METRIC_NAMES], dtype=np.float64)
    w = _sign_constrained_pc1(z, signs)
    w = np.where(np.abs(w) < 1e-12, 0.0, w)
    lam = 0.0
    if toxic_neutral:
        w, lam = _toxic_neutral(z, w)
    return SafeOutcome(SAFE_METRIC_NAMES, transforms, mean, std, w), lam


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def safe_report(
    safe: SafeOutcome, trajectory: Trajectory, x: np.ndarray, x_safe: np.ndarray
) -> dict[str, Any]:
    """How the safe outcome relates to PC1, to conversation size and to every metric (on the
    given conversations, e.g. the held-out ones)."""
    s = safe.transform(x_safe)
    pc1 = trajectory.transform(x)
    col = {m: x[:, j] for j, m in enumerate(METRIC_NAMES)}
    return {
        "corr_with_pc1": _corr(s, pc1),
        "corr_with_log_size": _corr(s, np.log1p(col["subsequent_comments"])),
        "pc1_corr_with_log_size": _corr(pc1, np.log1p(col["subsequent_comments"])),
        "corr_with_log_toxic_count": _corr(s, np.log1p(col["toxic_count"])),
        "pc1_corr_with_log_toxic_count": _corr(pc1, np.log1p(col["toxic_count"])),
        "corr_with_metric": {
            m: _corr(s, apply_transforms(col[m][:, None], (METRIC_TRANSFORMS[m],))[:, 0])
            for m in METRIC_NAMES
        },
        "corr_with_civil_metric": {
            m: _corr(s, apply_transforms(x_safe[:, j : j + 1], (SAFE_METRIC_TRANSFORMS[m],))[:, 0])
            for j, m in enumerate(SAFE_METRIC_NAMES)
        },
        "weights": {f: float(w) for f, w in zip(safe.features, safe.loadings)},
        "n": len(s),
    }


def plot_loadings(loadings: dict[str, float], evr: float, path: Path) -> Path:
    """Horizontal bar plot of PC1 loadings (prosocial blue, antisocial red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(loadings)
    vals = [loadings[n] for n in names]
    colors = ["#c0392b" if METRIC_SIGNS[n] < 0 else "#2e86c1" for n in names]
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.barh(names[::-1], vals[::-1], color=colors[::-1])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("PC1 loading")
    ax.set_title(f"Prosocial trajectory: PC1 loadings ({evr:.1%} of variance)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def train_trajectory(
    data: str | Path,
    registry: Registry,
    aux: AuxScorer,
    args: TrajectoryArgs = TrajectoryArgs(),
    *,
    report_dir: Path | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Collect metrics, fit, write the ``trajectory`` bundle and the report; return the
    report dict (also saved as ``report.json``). ``args.make_current=False``
    registers a candidate."""
    markers = load_markers(data)
    table = collect_metrics(data, aux, args, markers=markers, on_batch=on_batch)
    if table.x.shape[0] == 0:
        raise TrainingError(
            f"no conversation in {data} is at least {args.min_age_hours} h old "
            f"with ≥{args.min_replies} replies"
        )
    held = heldout_mask(table.posts, args.heldout_frac)
    if held.all() or (~held).sum() < 3:
        held = np.zeros(len(table.posts), dtype=bool)
    fit = fit_pc1(table.x[~held], table.x[held] if held.any() else None)
    safe, lam = fit_safe(table.safe[~held])
    plain, _ = fit_safe(table.safe[~held], toxic_neutral=False)
    ev = held if held.any() else ~held
    safe_fig = safe_report(safe, fit.trajectory, table.x[ev], table.safe[ev])
    safe_fig["toxic_weight_lambda"] = lam
    safe_fig["without_toxic_penalty"] = {
        k: v
        for k, v in safe_report(plain, fit.trajectory, table.x[ev], table.safe[ev]).items()
        if k != "corr_with_metric" and k != "corr_with_civil_metric"
    }
    files = find_dump_files(data)
    data_hash = hash_files([p for p in (files.submissions, files.comments) if p is not None])
    metrics = {
        "explained_variance_ratio": fit.pc1_evr,
        "explained_variance_ratio_top5": fit.explained_variance_ratio,
        "heldout_explained_variance": fit.heldout_explained_variance,
        "untransformed_explained_variance_ratio": fit.untransformed_pc1_evr,
        "paper_explained_variance_ratio": PAPER_PC1_EVR,
        "n_train_conversations": fit.n_train,
        "n_heldout_conversations": fit.n_heldout,
        "n_threads": table.n_threads,
        "n_comments": table.n_comments,
        "loadings_against_expected_sign": fit.disagreeing,
        "safe_outcome": safe_fig,
    }
    params = {
        "min_age_hours": args.min_age_hours,
        "max_threads": args.max_threads,
        "min_replies": args.min_replies,
        "heldout_frac": args.heldout_frac,
        "aux_version": str(aux.version),
        "markers": markers.source,
    }
    with BundleWriter(
        registry,
        BUNDLE_NAME,
        features=list(METRIC_NAMES),
        params=params,
        metrics=metrics,
        training_data_hash=data_hash,
        make_current=args.make_current,
    ) as w:
        w.save_json(TRAJECTORY_FILE, fit.trajectory.to_json())
        w.save_json(SAFE_FILE, safe.to_json())
        w.save_json(MARKERS_FILE, markers.to_json())
    version = w.version
    report: dict[str, Any] = {
        "bundle": BUNDLE_NAME,
        "version": version,
        "registry": str(registry.root),
        **metrics,
        "loadings": fit.loadings(),
        "params": params,
        "dump_report": {
            "accepted": dict(table.report.accepted),
            "rejected": dict(table.report.rejected),
        },
    }
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        report["plot"] = str(
            plot_loadings(fit.loadings(), fit.pc1_evr, report_dir / "loadings.png")
        )
    logger.info(
        "trajectory %s: PC1 explains %.1f%% (held-out %.1f%%)",
        version,
        100 * fit.pc1_evr,
        100 * (fit.heldout_explained_variance or float("nan")),
    )
    return report
