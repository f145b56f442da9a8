"""Fitting the auxiliary heads on the shared featurisation (scikit-learn, training only).

Steps: word uni+bigram vocabulary from the training texts (document frequency ≥ ``min_df``,
the ``vocab_max`` most frequent) → idf over the same texts → one feature matrix for every
text → per head, a linear model (logistic regression for probabilities, ridge for [-1, 1]
regressions) with its regularisation chosen on the head's validation split → the toxicity
calibrator fitted on the calibration half of ``perspective_2k``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.stats import pearsonr
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from sklearn.model_selection import KFold
from training.aux.datasets import AuxData, HeadData
from training.errors import TrainingError
from training.progress import Progress

from models.aux import AUX_HEADS, HEAD_KINDS, Calibrator, Featurizer, FeaturizerSpec
from models.aux.features import Parts, clean_text, tokenize

__all__ = [
    "TRAINING_FEATURES",
    "AuxConfig",
    "FeatureCache",
    "TrainedAux",
    "build_vocab",
    "fit_calibrator",
    "fit_idf",
    "train_aux",
    "validation_score",
]

logger = logging.getLogger(__name__)

#: The largest C fitted with liblinear's dual solver (see :func:`_fit_linear`).
DUAL_MAX_C = 16.0
#: The paper's toxicity thresholds, at which calibration is judged.
CALIBRATION_THRESHOLDS = (0.5, 0.8)


#: The featuriser settings a new aux bundle gets: runs of a repeated n-gram / word count once.
TRAINING_FEATURES = FeaturizerSpec(repeat_window=(8, 2))


@dataclass(frozen=True)
class AuxConfig:
    vocab_min_df: int = 3
    vocab_max: int = 200_000
    #: the featuriser's settings (its ``vocab`` is learned: :func:`build_vocab`)
    features: FeaturizerSpec = TRAINING_FEATURES
    c_grid: tuple[float, ...] = (1.0, 4.0, 16.0, 64.0)
    alpha_grid: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
    #: ``(head, value)`` pairs: these heads skip the validation grid and use ``value``
    fixed_reg: tuple[tuple[str, float], ...] = ()
    #: "isotonic" | "quantile" | "platt" | "auto" (see fit_calibrator). Isotonic by default:
    #: on held-out Perspective data it agrees about as well as quantile matching at 0.5/0.8,
    #: and the calibration set is Wikipedia, so the conservative E[Perspective | model] map
    #: flags far fewer benign Reddit comments (see the bundle's validation.toxicity).
    calibration: str = "isotonic"
    chunk: int = 4096


@dataclass
class TrainedAux:
    featurizer: Featurizer
    weights: np.ndarray  # (n_features, len(AUX_HEADS))
    bias: np.ndarray
    calibrator: Calibrator
    params: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)


def build_vocab(
    texts: Sequence[str], min_df: int, max_size: int, max_chars: int
) -> tuple[str, ...]:
    """Word unigrams + bigrams with document frequency ≥ ``min_df`` (most frequent first)."""
    df: Counter[str] = Counter()
    for t in texts:
        toks = tokenize(clean_text(t, max_chars))
        df.update(set(toks) | {" ".join(p) for p in pairwise(toks)})
    items = [(c, w) for w, c in df.items() if c >= min_df]
    items.sort(key=lambda cw: (-cw[0], cw[1]))
    return tuple(w for _, w in items[:max_size])


def fit_idf(
    featurizer: Featurizer,
    texts: Sequence[str],
    chunk: int = 4096,
    keep: list[Parts] | None = None,
) -> np.ndarray:
    """Smoothed idf ``log((1 + n) / (1 + df)) + 1`` over ``texts`` for every sparse column;
    ``keep`` receives each chunk's :meth:`~models.aux.features.Featurizer.parts` (to build
    the features of the same texts without featurising them again)."""
    df = np.zeros(featurizer.n_sparse, dtype=np.float64)
    for s in range(0, len(texts), chunk):
        parts = featurizer.parts(texts[s : s + chunk])
        x = featurizer.presence_of(parts)
        df += np.bincount(x.indices, minlength=featurizer.n_sparse)
        if keep is not None:
            keep.append(parts)
    return (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)


class FeatureCache:
    """Featurises each distinct text once; ``rows(texts)`` gathers their matrix rows.
    ``known``: texts whose parts were already computed, in chunks of ``chunk`` (see
    :func:`fit_idf`); they are assembled, not featurised again."""

    def __init__(
        self,
        featurizer: Featurizer,
        texts: Sequence[str],
        chunk: int = 4096,
        progress: Progress | None = None,
        known: tuple[Sequence[str], Sequence[Parts]] | None = None,
    ) -> None:
        uniq = list(dict.fromkeys(texts))
        done: list[str] = list(known[0]) if known is not None else []
        have = set(done)
        rest = [t for t in uniq if t not in have]
        self.index = {t: i for i, t in enumerate(done + rest)}
        blocks = [featurizer.assemble(p) for p in known[1]] if known is not None else []
        total = len(done) + len(rest)
        for s in range(0, len(rest), chunk):
            blocks.append(featurizer.transform(rest[s : s + chunk]))
            if progress:
                progress(f"features {len(done) + min(s + chunk, len(rest))}/{total}")
        self.x: sp.csr_matrix = (
            sp.vstack(blocks, format="csr")
            if blocks
            else sp.csr_matrix((0, featurizer.n_features), dtype=np.float32)
        )
        assert self.x.shape[0] == total

    def rows(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.x[[self.index[t] for t in texts]]


def validation_score(
    kind: str, y: np.ndarray, z: np.ndarray, sources: np.ndarray | None = None
) -> float:
    """Validation score: AUC (logistic) or Pearson r (regression), macro-averaged over the
    sources where it is defined (so a large source cannot drown the others), else pooled."""

    def one(yy: np.ndarray, zz: np.ndarray) -> float | None:
        if kind == "regression":
            ok = len(yy) > 2 and np.std(zz) > 0 and np.std(yy) > 0
            return float(pearsonr(zz, yy)[0]) if ok else None
        yb = yy > 0.5
        return float(roc_auc_score(yb, zz)) if 0 < yb.mean() < 1 else None

    if sources is not None:
        per = [one(y[sources == s], z[sources == s]) for s in sorted(set(sources))]
        good = [v for v in per if v is not None]
        if good:
            return float(np.mean(good))
    return one(y, z) or 0.0


def _fit_linear(
    kind: str, x: sp.csr_matrix, y: np.ndarray, w: np.ndarray, reg: float
) -> tuple[np.ndarray, float]:
    if kind == "regression":
        m = Ridge(alpha=reg, solver="sparse_cg", max_iter=2000, tol=1e-5)
        m.fit(x, y, sample_weight=w)
        return np.asarray(m.coef_, np.float64).ravel(), float(m.intercept_)
    # liblinear's dual coordinate descent up to C = DUAL_MAX_C: the same L2-regularised
    # objective as its primal Newton solver (validation AUC equal to 4 decimals) in a third of
    # the time or less, as the hashed n-gram features far outnumber the texts; at C = 64 it
    # converges slowly (toxicity: 500 iterations, twice the primal's time), so the primal
    # solver fits the larger C.
    lr = LogisticRegression(C=reg, solver="liblinear", dual=reg <= DUAL_MAX_C, max_iter=500)
    lr.fit(x, (y > 0.5).astype(int), sample_weight=w)
    return lr.coef_.ravel().astype(np.float64), float(lr.intercept_[0])


def _quantile_map(zt: np.ndarray, yt: np.ndarray, knots: int = 101) -> Calibrator:
    probs = np.linspace(0.0, 1.0, min(knots, max(len(zt), 2)))
    x, y = np.quantile(zt, probs), np.quantile(yt, probs)
    x, idx = np.unique(x, return_index=True)  # strictly increasing knots
    return Calibrator("quantile", x=tuple(map(float, x)), y=tuple(map(float, y[idx])))


def fit_calibrator(
    z: np.ndarray,
    y: np.ndarray,
    kind: str = "auto",
    thresholds: Sequence[float] = CALIBRATION_THRESHOLDS,
) -> tuple[Calibrator, dict[str, Any]]:
    """Monotone map from raw logits ``z`` to reference scores ``y`` in [0, 1].

    ``kind``: ``isotonic`` (E[y | z], minimises squared error), ``quantile`` (matches the
    distribution of ``y``, so the share above any threshold matches the reference), ``platt``,
    or ``auto``: the one whose decisions at ``thresholds`` agree best with the reference's
    (mean Cohen's kappa, 5-fold CV), ties broken by CV squared error.
    """

    def iso(zt: np.ndarray, yt: np.ndarray) -> Calibrator:
        m = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(zt, yt)
        return Calibrator(
            "isotonic", x=tuple(map(float, m.X_thresholds_)), y=tuple(map(float, m.y_thresholds_))
        )

    def platt(zt: np.ndarray, yt: np.ndarray) -> Calibrator:
        def loss(ab: np.ndarray) -> float:
            p = np.clip(1 / (1 + np.exp(-(ab[0] * zt + ab[1]))), 1e-7, 1 - 1e-7)
            return float(-np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p)))

        r = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead")
        return Calibrator("platt", a=float(r.x[0]), b=float(r.x[1]))

    fitters = {"isotonic": iso, "quantile": _quantile_map, "platt": platt}
    cv: dict[str, dict[str, float]] = {}
    if len(y) >= 20:
        for name, f in fitters.items():
            pred = np.zeros_like(y, dtype=np.float64)
            for tr, te in KFold(5, shuffle=True, random_state=0).split(z):
                pred[te] = f(z[tr], y[tr])(z[te])
            kappas = [
                cohen_kappa_score(y >= t, pred >= t) if (y >= t).any() else 0.0 for t in thresholds
            ]
            cv[name] = {
                "mse": round(float(np.mean((pred - y) ** 2)), 5),
                "kappa": round(float(np.mean(kappas)), 4),
                **{
                    f"kappa_at_{t}": round(float(k), 4)
                    for t, k in zip(thresholds, kappas, strict=True)
                },
            }
    if kind == "auto":
        kind = max(cv, key=lambda k: (cv[k]["kappa"], -cv[k]["mse"])) if cv else "platt"
    if kind not in fitters:
        raise TrainingError(f"unknown calibration {kind!r}")
    return fitters[kind](z, y), {"chosen": kind, "cv": cv, "n": len(y)}


def train_aux(
    data: AuxData, cfg: AuxConfig = AuxConfig(), progress: Progress | None = None
) -> TrainedAux:
    """Fit the shared featuriser, one linear head per :data:`AUX_HEADS` entry (regularisation
    chosen on validation), and the toxicity head's calibration against Perspective."""
    say = progress or (lambda _msg: None)
    featurizer, known = _fit_featurizer(data, cfg, say)
    every_text = [
        t for hd in data.heads.values() for s in ("train", "val") for t in hd.arrays(s)[0]
    ] + data.perspective["train"].texts
    cache = FeatureCache(featurizer, every_text, cfg.chunk, say, known=known)
    del known
    weights = np.zeros((featurizer.n_features, len(AUX_HEADS)), dtype=np.float32)
    bias = np.zeros(len(AUX_HEADS), dtype=np.float32)
    validation: dict[str, Any] = {}
    chosen: dict[str, float] = {}
    for j, head in enumerate(AUX_HEADS):
        weights[:, j], bias[j], chosen[head], validation[head] = _fit_head(
            head, data.heads[head], cache, cfg, say
        )
    calibrator, validation["toxicity"]["calibration"] = _calibrate(data, cache, weights, bias, cfg)
    params = {"config": {k: v for k, v in asdict(cfg).items()}, "chosen_reg": chosen}
    return TrainedAux(featurizer, weights, bias, calibrator, params=params, validation=validation)


def _fit_featurizer(
    data: AuxData, cfg: AuxConfig, say: Progress
) -> tuple[Featurizer, tuple[list[str], list[Parts]]]:
    """Vocabulary and idf over the distinct training texts of every head (and those texts
    with their parts, to assemble their features from)."""
    train_texts = data.all_train_texts()
    say(f"vocabulary over {len(set(train_texts))} training texts")
    distinct = list(dict.fromkeys(train_texts))
    vocab = build_vocab(distinct, cfg.vocab_min_df, cfg.vocab_max, cfg.features.max_chars)
    spec = replace(cfg.features, vocab=vocab)
    parts: list[Parts] = []
    idf = fit_idf(Featurizer(spec), distinct, cfg.chunk, keep=parts)
    return Featurizer(spec, idf=idf), (distinct, parts)


def _fit_head(
    head: str, hd: HeadData, cache: FeatureCache, cfg: AuxConfig, say: Progress
) -> tuple[np.ndarray, float, float, dict[str, Any]]:
    """(coefficients, intercept, chosen regularisation, validation record) of one head."""
    kind = "regression" if HEAD_KINDS[head] == "regression" else "logistic"
    train_texts, train_y, train_w = hd.arrays("train")
    val_texts, val_y, _ = hd.arrays("val")
    if not train_texts:
        raise TrainingError(f"no training data for head {head}")
    x_train = cache.rows(train_texts)
    x_val = cache.rows(val_texts) if val_texts else None
    grid = cfg.alpha_grid if kind == "regression" else cfg.c_grid
    grid = tuple(v for h, v in cfg.fixed_reg if h == head) or grid
    best: tuple[float, float, np.ndarray, float] | None = None
    scores = {}
    for reg in grid:
        say(f"{head}: fitting {kind} reg={reg}")
        coef, intercept = _fit_linear(kind, x_train, train_y, train_w, reg)
        score = (
            validation_score(kind, val_y, x_val @ coef + intercept, hd.sources("val"))
            if x_val is not None
            else 0.0
        )
        scores[str(reg)] = round(score, 4)
        if best is None or score > best[0]:
            best = (score, reg, coef, intercept)
    assert best is not None
    logger.info("%s: chose reg=%s (val %s)", head, best[1], scores)
    record = {
        "metric": ("pearson_r" if kind == "regression" else "auc") + " (macro over sources)",
        "by_reg": scores,
        "chosen_reg": best[1],
        "n_train": len(train_texts),
        "n_val": len(val_texts),
    }
    return best[2], best[3], best[1], record


def _calibrate(
    data: AuxData, cache: FeatureCache, weights: np.ndarray, bias: np.ndarray, cfg: AuxConfig
) -> tuple[Calibrator, dict[str, Any]]:
    """The toxicity head calibrated on Perspective's training scores, and each method's flag
    rate on benign Reddit validation comments (the false positives moderators would see)."""
    perspective = data.perspective["train"]
    tox = AUX_HEADS.index("toxicity")
    z = np.asarray(cache.rows(perspective.texts) @ weights[:, tox] + bias[tox], np.float64)
    calibrator, info = fit_calibrator(z, perspective.y, cfg.calibration)
    hd = data.heads["toxicity"]
    val_texts, _, _ = hd.arrays("val")
    sources = hd.sources("val")
    benign = [t for t, src in zip(val_texts, sources, strict=True) if src == "goemotions_benign"]
    if benign:
        z_benign = np.asarray(cache.rows(benign) @ weights[:, tox] + bias[tox], np.float64)
        info["benign_val_flag_rate_at_0.5"] = {
            k: round(float((fit_calibrator(z, perspective.y, k)[0](z_benign) >= 0.5).mean()), 4)
            for k in ("isotonic", "quantile", "platt")
        }
    return calibrator, info
