"""Train every forecaster model on one split, evaluate side by side, write the bundle.

Models: mean baseline; ridge on TLC uni+bigrams + the §5.2 features (paper's linear
baseline); XGBoost on the §5.2 features with the paper's Appendix C hyper-parameters (``gbm``);
the main model = the same XGBoost over the §5.2 features + the out-of-fold score of a
text-only n-gram ridge (+ the TLC's empathy direction when available) + the context columns
(OP answering, rate of earlier TLCs, the author's history before the TLC) when the examples
carry contexts. Ablations: the main model without the order features (minutes since post,
earlier-TLC count and rate: "beyond time"); without the author history; without any context
column; without empathy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.forecaster.context import AUTHOR_FEATURES, CONTEXT_FEATURES
from models.forecaster.features import (
    EMPATHY_FEATURES,
    ORDER_FEATURES,
    EmpathyLike,
    FeatureExtractor,
    MetricFn,
)
from models.forecaster.lda import TopicModel
from models.forecaster.linear import NgramRidge
from models.forecaster.model import TEXT_REL_SCORE, TEXT_SCORE
from models.forecaster.ranking import evaluate
from models.forecaster.text import TextFeaturizer
from training.forecaster.dataset import Examples, Split
from training.forecaster.fit import (
    MAIN_XGB_PARAMS,
    fit_ngram_ridge,
    fit_xgb,
    oof_text_scores,
    post_relative,
)
from training.forecaster.topics import fit_topics
from training.forecaster.weights import DEFAULT_SCHEMES, VAL_SCHEME, post_weights, weighted_mse

__all__ = ["Trained", "featurize", "reference_scores", "train_models"]

logger = logging.getLogger(__name__)

EmpathyFn = Callable[[Sequence[str]], Sequence[EmpathyLike]]


@dataclass
class Trained:
    topics: TopicModel
    extractor: FeatureExtractor
    text_ridge: NgramRidge
    ridge: NgramRidge
    gbm: Any
    main: Any
    main_names: list[str]
    mean_value: float
    conformal_q: float
    n_base: int
    preds: dict[str, np.ndarray] = field(default_factory=dict)  # test predictions by model
    results: dict[str, Any] = field(default_factory=dict)  # test metrics by model
    info: dict[str, Any] = field(default_factory=dict)
    x: np.ndarray | None = None  # feature matrix of every example (for the MiniLM model)
    text_rel_ridge: NgramRidge | None = None  # when the main model reads TEXT_REL_SCORE


def featurize(
    ex: Examples,
    fe: FeatureExtractor,
    empathy: Sequence[EmpathyLike] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 4000,
) -> np.ndarray:
    """Feature rows of every example, posts batched ~``chunk`` TLCs at a time (one text /
    topic / metric batch per chunk)."""
    x = np.zeros((len(ex), len(fe.names)), dtype=np.float32)
    groups: list[Any] = []
    rows: list[int] = []

    def flush() -> None:
        emp = [empathy[i] for i in rows] if empathy is not None else None
        x[rows] = fe.extract_many(groups, emp)
        if progress is not None:
            progress(len(rows))
        groups.clear()
        rows.clear()

    for post, idx in ex.by_post():
        ctx = [ex.context[i] for i in idx] if ex.context else None
        groups.append((post, [ex.tlcs[i] for i in idx], None, ctx))
        rows.extend(idx)
        if len(rows) >= chunk:
            flush()
    if rows:
        flush()
    return x


def reference_scores(ex: Examples, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Order-only references: chronological (earlier first) and Reddit's order (score)."""
    y, _, score, created, _ = ex.arrays()
    return {"chronological": -created[idx], "reddit_order": score[idx], "oracle": y[idx]}


def train_models(
    ex: Examples,
    split: Split,
    *,
    subj: tuple[list[str], list[str]],
    metric_names: Sequence[str] = (),
    metric_fn: MetricFn | None = None,
    empathy: Sequence[EmpathyLike] | None = None,
    n_boot: int = 200,
    lda_iterations: int = 200,
    coverage: float = 0.9,
    ablations: bool = True,
    progress: Callable[[str], None] | None = None,
    text_featurizer: Any = None,
    weight_schemes: Sequence[str] = DEFAULT_SCHEMES,
    text_relative: bool | None = None,
) -> Trained:
    """Fit every model on ``split.train`` (early stopping / α on ``split.val``), evaluate on
    ``split.test``. ``text_featurizer``: a TextFeaturizer stand-in (e.g. a
    :class:`training.forecaster.memo.MemoText` shared by several runs); default built from
    ``subj``. ``weight_schemes``: the main model's candidate training weightings
    (:mod:`training.forecaster.weights`); the one with the lowest balanced validation MSE
    is kept (and used by the ablations). ``text_relative``: whether the main model also
    reads the out-of-fold score of an n-gram ridge on the outcome relative to the post's mean
    (``None``: one more fit with it, kept only if it lowers the balanced validation MSE)."""
    say = progress or (lambda s: logger.info("%s", s))
    y, _, _, created, groups = ex.arrays()
    tr, va, te = split.train, split.val, split.test
    bodies = [t.body for t in ex.tlcs]
    say("fitting LDA on training text")
    train_posts = list(dict.fromkeys(ex.post_of[i] for i in tr))
    lda_texts = [f"{ex.posts[p].title}\n{ex.posts[p].selftext}" for p in train_posts] + [
        bodies[i] for i in tr
    ]
    topics = fit_topics(lda_texts, iterations=lda_iterations)
    subs = sorted({ex.posts[p].subreddit for p in train_posts}, key=str.lower)
    text = text_featurizer if text_featurizer is not None else TextFeaturizer(*subj)
    fe = FeatureExtractor(
        topics,
        text,
        subs,
        metric_names,
        metric_fn,
        use_empathy=empathy is not None,
        use_context=bool(ex.context),
    )
    say(f"extracting features for {len(ex)} TLCs")
    x = featurize(ex, fe, empathy)
    n_base = fe.n_base  # the paper's §5.2 features: the baselines' inputs
    xb = x[:, :n_base]
    names = fe.names

    say("fitting n-gram ridge (paper's linear baseline)")
    alphas = (3.0, 10.0, 30.0, 100.0)  # 30 was the top of the old grid on reddit-college
    txt = lambda idx: [bodies[i] for i in idx]
    ridge, ridge_info = fit_ngram_ridge(
        txt(tr), y[tr], xb[tr], val=(txt(va), y[va], xb[va]), alphas=alphas
    )
    say("fitting text-only n-gram ridge + out-of-fold scores")
    text_ridge, tinfo = fit_ngram_ridge(txt(tr), y[tr], val=(txt(va), y[va], None), alphas=alphas)
    ts = np.zeros(len(ex))
    ts[tr] = oof_text_scores(txt(tr), y[tr], groups[tr], alpha=float(tinfo["alpha"]))
    rest = np.concatenate([va, te])
    ts[rest] = text_ridge.predict(txt(rest))

    say("fitting XGBoost (paper hyper-parameters)")
    gbm = fit_xgb(xb[tr], y[tr], xb[va], y[va], names[:n_base])
    main_names = list(names) + [TEXT_SCORE]
    xm = np.concatenate([x, ts[:, None].astype(np.float32)], axis=1)
    text_rel_ridge: NgramRidge | None = None
    if text_relative is not False:
        say("fitting relative text ridge (outcome − post mean) + out-of-fold scores")
        yrel = post_relative(y, groups)  # validation rows: only to pick α
        text_rel_ridge, rinfo = fit_ngram_ridge(
            txt(tr), yrel[tr], val=(txt(va), yrel[va], None), alphas=alphas
        )
        tsr = np.zeros(len(ex))
        tsr[tr] = oof_text_scores(txt(tr), yrel[tr], groups[tr], alpha=float(rinfo["alpha"]))
        tsr[rest] = text_rel_ridge.predict(txt(rest))
        rel_names = [*main_names, TEXT_REL_SCORE]
        xm_rel = np.concatenate([xm, tsr[:, None].astype(np.float32)], axis=1)
        if text_relative:  # fixed by the caller: every candidate reads it
            main_names, xm = rel_names, xm_rel
    import xgboost as xgb

    def xpred(b: Any, m: np.ndarray, nm: Sequence[str], idx: np.ndarray) -> np.ndarray:
        return b.predict(xgb.DMatrix(m[idx], feature_names=list(nm)))

    # main model: one fit per training weighting, early-stopped and compared on the balanced
    # validation objective (VAL_SCHEME weights), so no single huge post decides either
    wva = post_weights(groups[va], VAL_SCHEME)
    cands: dict[str, dict[str, float]] = {}
    fits: dict[str, Any] = {}
    for scheme in weight_schemes:
        say(f"fitting main model (training weights: {scheme})")
        b = fit_xgb(
            xm[tr],
            y[tr],
            xm[va],
            y[va],
            main_names,
            params=MAIN_XGB_PARAMS,
            wtr=post_weights(groups[tr], scheme),
            wva=wva,
        )
        fits[scheme] = b
        cands[scheme] = _val_summary(
            y[va], xpred(b, xm, main_names, va), groups[va], created[va], wva
        ) | {"best_iteration": b.best_iteration}
    scheme = min(cands, key=lambda k: cands[k]["mse_balanced"])
    main = fits[scheme]
    wtr = post_weights(groups[tr], scheme)
    logger.info("main model: training weights %s chosen on validation %s", scheme, cands)
    rel_val: dict[str, Any] | None = None
    if text_relative is None:  # keep the relative text score only if validation says so
        assert text_rel_ridge is not None
        say(f"fitting main model + relative text score (training weights: {scheme})")
        b = fit_xgb(
            xm_rel[tr],
            y[tr],
            xm_rel[va],
            y[va],
            rel_names,
            params=MAIN_XGB_PARAMS,
            wtr=wtr,
            wva=wva,
        )
        v = _val_summary(y[va], xpred(b, xm_rel, rel_names, va), groups[va], created[va], wva) | {
            "best_iteration": b.best_iteration
        }
        kept = v["mse_balanced"] < cands[scheme]["mse_balanced"]
        rel_val = {"with": v, "without": cands[scheme], "alpha": rinfo["alpha"], "kept": kept}
        logger.info("relative text score on validation: %s", rel_val)
        if kept:
            main, main_names, xm = b, rel_names, xm_rel
        else:
            text_rel_ridge = None

    mean_value = float(y[tr].mean())
    res_val = np.abs(y[va] - xpred(main, xm, main_names, va))
    q = float(np.quantile(res_val, min(1.0, coverage * (1 + 1 / len(va)))))
    preds = {
        "main": xpred(main, xm, main_names, te),
        "mean": np.full(len(te), mean_value),
        "ridge": ridge.predict(txt(te), xb[te]),
        "gbm": xpred(gbm, xb, names[:n_base], te),
        "text_ridge": ts[te],
    }
    info: dict[str, Any] = {
        "ridge": ridge_info,
        "text_ridge": tinfo,
        "gbm_best_iteration": int(gbm.best_iteration),
        "main_best_iteration": int(main.best_iteration),
        "main_weights": scheme,
        "val_objective": f"{VAL_SCHEME}-weighted MSE",
        "main_weight_candidates_val": cands,
        "text_relative": TEXT_REL_SCORE in main_names,
        "text_relative_val": rel_val,
        "n_train": len(tr),
        "n_val": len(va),
        "n_test": len(te),
        "coverage_test": float(np.mean(np.abs(y[te] - preds["main"]) <= q)),
    }
    if ablations:
        drops: dict[str, tuple[str, ...]] = {"main_no_time": ORDER_FEATURES}
        if fe.use_context:
            drops |= {"main_no_author": AUTHOR_FEATURES, "main_no_context": CONTEXT_FEATURES}
        if empathy is not None:
            drops["main_no_empathy"] = EMPATHY_FEATURES
        for key, drop in drops.items():
            keep = [i for i, n in enumerate(main_names) if n not in drop]
            say(f"ablation: {key}")
            nm = [main_names[i] for i in keep]
            b = fit_xgb(
                xm[tr][:, keep],
                y[tr],
                xm[va][:, keep],
                y[va],
                nm,
                params=MAIN_XGB_PARAMS,
                wtr=wtr,
                wva=wva,
            )
            preds[key] = xpred(b, xm[:, keep], nm, te)
    preds |= reference_scores(ex, te)
    say("evaluating with bootstrap over posts")
    results = {
        k: evaluate(y[te], v, groups[te], created[te], n_boot=n_boot, seed=1)
        for k, v in preds.items()
    }
    # bootstrap of the main model's margin over each baseline (paired: same resampled posts)
    results["_margins"] = _paired_margins(y[te], preds, groups[te], created[te], n_boot)
    return Trained(
        topics,
        fe,
        text_ridge,
        ridge,
        gbm,
        main,
        main_names,
        mean_value,
        q,
        n_base,
        preds,
        results,
        info,
        x=xm,
        text_rel_ridge=text_rel_ridge,
    )


def _val_summary(
    y: np.ndarray, pred: np.ndarray, groups: np.ndarray, times: np.ndarray, w: np.ndarray
) -> dict[str, float]:
    """Validation figures of a candidate: the balanced (``w``-weighted) MSE / R² that decide,
    and the plain R² / pairwise accuracies (all pairs, per-post macro) beside them."""
    mse = weighted_mse(y, pred, w)
    ybar = float(np.sum(w * y) / np.sum(w))
    r = evaluate(y, pred, groups, times)
    return {
        "mse_balanced": mse,
        "r2_balanced": 1 - mse / weighted_mse(y, np.full(len(y), ybar), w),
        "r2": float(r["r2"]),
        "pairwise_acc": float(r["pairwise_acc"]),
        "pairwise_acc_post_macro": float(r["pairwise_acc_post_macro"]),
    }


#: rankings that are orders, not forecasts (no MSE / R²)
ORDERS = ("chronological", "reddit_order")


def _paired_margins(
    y: np.ndarray, preds: dict[str, np.ndarray], groups: np.ndarray, times: np.ndarray, n_boot: int
) -> dict[str, Any]:
    from models.forecaster.ranking import _summ, post_stats

    stats = {k: post_stats(y, v, groups, times) for k, v in preds.items()}
    m = len(stats["main"].n)
    rng = np.random.default_rng(5)
    ws = [np.bincount(rng.integers(0, m, m), minlength=m).astype(np.float64) for _ in range(n_boot)]
    out: dict[str, Any] = {}
    for k in preds:
        if k in ("main", "oracle"):
            continue
        d: dict[str, list[float]] = {}
        # orders (chronological, reddit_order) are not forecasts: no R² margin
        metrics = (
            "pairwise_acc",
            "pairwise_acc_time_matched",
            "ndcg5",
            "spearman",
            "pairwise_acc_post_macro",
        )
        for metric in metrics if k in ORDERS else ("r2", *metrics):
            diffs = [(_summ(stats["main"], w)[metric] - _summ(stats[k], w)[metric]) for w in ws]
            d[metric] = [float(np.nanquantile(diffs, 0.025)), float(np.nanquantile(diffs, 0.975))]
        out[k] = d
    return out
