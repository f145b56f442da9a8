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

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.forecaster.checkpoint import CHECKPOINT_FEATURES, DEFAULT_CHECKPOINTS, checkpoint_key
from models.forecaster.context import AUTHOR_FEATURES, CONTEXT_FEATURES
from models.forecaster.evaluation import evaluate, paired_margins
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
from models.forecaster.text import TextFeaturizer
from training.forecaster.dataset import Examples, Split
from training.forecaster.fit import (
    MAIN_XGB_PARAMS,
    NgramCorpus,
    TextRows,
    fit_ngram_ridge,
    fit_xgb,
    oof_text_scores,
    post_relative,
    predict_ridge,
)
from training.forecaster.topics import fit_topics
from training.forecaster.weights import DEFAULT_SCHEMES, VAL_SCHEME, post_weights, weighted_mse

__all__ = [
    "Checkpoint",
    "ForecasterArgs",
    "ForecasterTrainer",
    "TextInputs",
    "Trained",
    "featurize",
    "reference_scores",
    "validation_summary",
]

logger = logging.getLogger(__name__)

EmpathyFn = Callable[[Sequence[str]], Sequence[EmpathyLike]]


@dataclass
class Checkpoint:
    """The model re-forecasting a TLC ``delay`` seconds after it was posted."""

    delay: int
    model: Any
    names: list[str]
    conformal_q: float
    val: dict[str, float] = field(default_factory=dict)
    val_pred: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_pred: np.ndarray = field(default_factory=lambda: np.zeros(0))


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
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    #: test figures per checkpoint key ("0" = at creation): main and the references
    by_checkpoint: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per-subreddit offsets kept by calibration, per checkpoint delay (0 = at creation)
    offsets: dict[int, dict[str, float]] = field(default_factory=dict)


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


@dataclass
class ForecasterArgs:
    """Everything that decides how the forecaster is trained (SetFit-style Args).

    ``target``: the outcome (``"safe"``: the moderator-safe outcome, the default; or
    ``"trajectory"``: the paper's PC1). ``checkpoints``: re-forecast delays in seconds, one
    model each (besides the model at creation). ``weight_schemes``: the main model's
    candidate training weightings (:mod:`training.forecaster.weights`; the lowest balanced
    validation MSE wins, and the checkpoint models use it). ``text_relative``: whether the
    main model also reads the out-of-fold score of an n-gram ridge on the outcome relative to
    the post's mean (``None``: decided on validation). ``history_scope``: author history
    counted in the TLC's subreddit only (``"subreddit"``) or across every subreddit
    (``"all"``, an explicit opt-in). ``calibrate``: measure per-subreddit offsets on
    validation posts and keep them only where they lower the validation MSE.
    ``max_threads`` / ``max_tlcs``: read the dump's matured threads up to that many threads /
    TLCs. ``ridge_alpha``: the paper's ridge baseline with this α instead of one chosen on
    validation. ``eta``: the learning rate of the main and checkpoint models (default
    :data:`~training.forecaster.fit.MAIN_XGB_PARAMS`; a larger one needs fewer rounds)."""

    target: str = "safe"
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS
    n_boot: int = 200
    lda_iterations: int = 200
    coverage: float = 0.9
    ablations: bool = True
    weight_schemes: tuple[str, ...] = DEFAULT_SCHEMES
    text_relative: bool | None = None
    history_scope: str = "subreddit"
    calibrate: bool = True
    min_age_s: int = 48 * 3600
    max_threads: int | None = None
    max_tlcs: int | None = None
    eta: float | None = None
    ridge_alpha: float | None = None
    time_split: bool = True
    minilm: int = 0  # max training TLCs for the MiniLM comparison (0 = skip)
    make_current: bool = True


@dataclass
class TextInputs:
    """The split-independent text inputs of every example: the MPQA subjectivity clues
    (``subj``), the TLC text metrics (``metric_names``, computed by ``metric_fn``), the TLCs'
    empathy directions (``empathy``, one per example, or ``None``) and the text featurizer
    (``text_featurizer``: a TextFeaturizer stand-in, e.g. a
    :class:`training.forecaster.memo.MemoText` shared by several runs; default built from
    ``subj``)."""

    subj: tuple[list[str], list[str]]
    metric_names: Sequence[str] = ()
    metric_fn: MetricFn | None = None
    empathy: Sequence[EmpathyLike] | None = None
    text_featurizer: Any = None

    def featurizer(self) -> Any:
        return (
            self.text_featurizer if self.text_featurizer is not None else TextFeaturizer(*self.subj)
        )


@dataclass(eq=False)
class ForecasterTrainer:
    """Fits every forecaster model on ``split.train`` (early stopping / α on ``split.val``)
    and evaluates on ``split.test``, one named step at a time (:meth:`train` runs them)."""

    args: ForecasterArgs
    ex: Examples
    split: Split
    text: TextInputs
    progress: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.y, _, _, self.created, self.groups = self.ex.arrays()
        self.bodies = [t.body for t in self.ex.tlcs]
        self.info: dict[str, Any] = {}
        self.preds: dict[str, np.ndarray] = {}

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)
        else:
            logger.info("%s", message)

    # -- steps -------------------------------------------------------------------------------
    def fit_topics(self) -> TopicModel:
        """LDA over the training posts' and TLCs' text."""
        ex, tr = self.ex, self.split.train
        self.say("fitting LDA on training text")
        self.train_posts = list(dict.fromkeys(ex.post_of[i] for i in tr))
        texts = [f"{ex.posts[p].title}\n{ex.posts[p].selftext}" for p in self.train_posts]
        self.topics = fit_topics(
            texts + [self.bodies[i] for i in tr], iterations=self.args.lda_iterations
        )
        return self.topics

    def featurize(self) -> np.ndarray:
        """The §5.2 + context feature matrix of every example."""
        ex = self.ex
        subs = sorted({ex.posts[p].subreddit for p in self.train_posts}, key=str.lower)
        self.extractor = FeatureExtractor(
            self.topics,
            self.text.featurizer(),
            subs,
            self.text.metric_names,
            self.text.metric_fn,
            use_empathy=self.text.empathy is not None,
            use_context=bool(ex.context),
        )
        self.say(f"extracting features for {len(ex)} TLCs")
        self.x = featurize(ex, self.extractor, self.text.empathy)
        return self.x

    def _txt(self, idx: np.ndarray) -> TextRows:
        """The texts of rows ``idx`` (tokenised once for every n-gram ridge)."""
        if getattr(self, "corpus", None) is None:
            self.corpus = NgramCorpus(self.bodies)
        return self.corpus.rows(idx)

    def fit_ridges(self) -> None:
        """The paper's n-gram ridge baseline and the text-only ridge whose out-of-fold score
        the main model reads."""
        tr, va, te = self.split.train, self.split.val, self.split.test
        y, xb = self.y, self.x[:, : self.extractor.n_base]
        self.say("fitting n-gram ridge (paper's linear baseline)")
        self.ridge, self.info["ridge"] = fit_ngram_ridge(
            self._txt(tr),
            y[tr],
            xb[tr],
            val=(self._txt(va), y[va], xb[va]),
            alphas=ALPHAS if self.args.ridge_alpha is None else (float(self.args.ridge_alpha),),
        )
        self.say("fitting text-only n-gram ridge + out-of-fold scores")
        self.text_ridge, tinfo = fit_ngram_ridge(
            self._txt(tr), y[tr], val=(self._txt(va), y[va], None), alphas=ALPHAS
        )
        self.info["text_ridge"] = tinfo
        ts = np.zeros(len(self.ex))
        ts[tr] = oof_text_scores(self._txt(tr), y[tr], self.groups[tr], alpha=float(tinfo["alpha"]))
        rest = np.concatenate([va, te])
        ts[rest] = predict_ridge(self.text_ridge, self._txt(rest))
        self.text_scores = ts

    def fit_gbm(self) -> Any:
        """XGBoost on the §5.2 features with the paper's hyper-parameters."""
        tr, va = self.split.train, self.split.val
        nb = self.extractor.n_base
        self.say("fitting XGBoost (paper hyper-parameters)")
        self.gbm = fit_xgb(
            self.x[tr, :nb], self.y[tr], self.x[va, :nb], self.y[va], self.extractor.names[:nb]
        )
        return self.gbm

    def fit_main(self) -> Any:
        """The main model: one fit per candidate training weighting (and with / without the
        relative text score), chosen on the balanced validation MSE."""
        tr, va, te = self.split.train, self.split.val, self.split.test
        y, groups, created = self.y, self.groups, self.created
        main_names = list(self.extractor.names) + [TEXT_SCORE]
        xm = np.concatenate([self.x, self.text_scores[:, None].astype(np.float32)], axis=1)
        self.text_rel_ridge: NgramRidge | None = None
        want_rel = self.args.text_relative
        if want_rel is not False:
            self.say("fitting relative text ridge (outcome − post mean) + out-of-fold scores")
            yrel = post_relative(y, groups)  # validation rows: only to pick α
            self.text_rel_ridge, rinfo = fit_ngram_ridge(
                self._txt(tr), yrel[tr], val=(self._txt(va), yrel[va], None), alphas=ALPHAS
            )
            tsr = np.zeros(len(self.ex))
            tsr[tr] = oof_text_scores(
                self._txt(tr), yrel[tr], groups[tr], alpha=float(rinfo["alpha"])
            )
            rest = np.concatenate([va, te])
            tsr[rest] = predict_ridge(self.text_rel_ridge, self._txt(rest))
            rel_names = [*main_names, TEXT_REL_SCORE]
            xm_rel = np.concatenate([xm, tsr[:, None].astype(np.float32)], axis=1)
            if want_rel:  # fixed by the caller: every candidate reads it
                main_names, xm = rel_names, xm_rel
        self.wva = post_weights(groups[va], VAL_SCHEME)
        cands: dict[str, dict[str, float]] = {}
        fits: dict[str, Any] = {}
        for scheme in self.args.weight_schemes:
            self.say(f"fitting main model (training weights: {scheme})")
            b = self._fit(xm, main_names, post_weights(groups[tr], scheme))
            fits[scheme] = b
            cands[scheme] = validation_summary(
                y[va], _xpred(b, xm, main_names, va), groups[va], created[va], self.wva
            ) | {"best_iteration": b.best_iteration}
        scheme = min(cands, key=lambda k: cands[k]["mse_balanced"])
        main = fits[scheme]
        self.wtr = post_weights(groups[tr], scheme)
        logger.info("main model: training weights %s chosen on validation %s", scheme, cands)
        rel_val: dict[str, Any] | None = None
        if want_rel is None:  # keep the relative text score only if validation says so
            assert self.text_rel_ridge is not None
            self.say(f"fitting main model + relative text score (training weights: {scheme})")
            b = self._fit(xm_rel, rel_names, self.wtr)
            v = validation_summary(
                y[va], _xpred(b, xm_rel, rel_names, va), groups[va], created[va], self.wva
            ) | {"best_iteration": b.best_iteration}
            kept = v["mse_balanced"] < cands[scheme]["mse_balanced"]
            rel_val = {"with": v, "without": cands[scheme], "alpha": rinfo["alpha"], "kept": kept}
            logger.info("relative text score on validation: %s", rel_val)
            if kept:
                main, main_names, xm = b, rel_names, xm_rel
            else:
                self.text_rel_ridge = None
        self.main, self.main_names, self.xm = main, main_names, xm
        self.info |= {
            "main_weights": scheme,
            "val_objective": f"{VAL_SCHEME}-weighted MSE",
            "main_weight_candidates_val": cands,
            "text_relative": TEXT_REL_SCORE in main_names,
            "text_relative_val": rel_val,
        }
        return main

    def _fit(self, xm: np.ndarray, names: Sequence[str], wtr: np.ndarray) -> Any:
        tr, va = self.split.train, self.split.val
        params = MAIN_XGB_PARAMS
        if self.args.eta is not None:
            params = params | {"eta": float(self.args.eta)}
        return fit_xgb(
            xm[tr],
            self.y[tr],
            xm[va],
            self.y[va],
            list(names),
            params=params,
            wtr=wtr,
            wva=self.wva,
        )

    def _conformal_q(self, pred_val: np.ndarray) -> float:
        va = self.split.val
        res = np.abs(self.y[va] - pred_val)
        return float(np.quantile(res, min(1.0, self.args.coverage * (1 + 1 / len(va)))))

    def fit_checkpoints(self) -> dict[int, Checkpoint]:
        """One model per re-forecast delay: the main model's inputs + the conversation as
        visible at the delay (:mod:`models.forecaster.checkpoint`), same weighting."""
        self.checkpoints: dict[int, Checkpoint] = {}
        va, te = self.split.val, self.split.test
        for d in self.args.checkpoints:
            if d not in self.ex.at:
                continue
            names = [*self.main_names, *CHECKPOINT_FEATURES]
            xc = np.concatenate([self.xm, self.ex.at[d]], axis=1)
            self.say(f"fitting checkpoint model +{d}s")
            b = self._fit(xc, names, self.wtr)
            pv = _xpred(b, xc, names, va)
            cp = Checkpoint(d, b, names, self._conformal_q(pv))
            cp.val = validation_summary(self.y[va], pv, self.groups[va], self.created[va], self.wva)
            cp.test_pred = _xpred(b, xc, names, te)
            cp.val_pred = pv
            self.checkpoints[d] = cp
        return self.checkpoints

    def calibrate(self) -> dict[str, Any]:
        """Per-subreddit offsets (mean validation residual per subreddit), measured by 2-fold
        over validation posts at every checkpoint; kept only when they lower the validation
        MSE on the held-out fold of both folds' average."""
        va = self.split.val
        subs = np.asarray([self.ex.posts[self.ex.post_of[i]].subreddit.lower() for i in va])
        fold = np.asarray([hash_fold(self.ex.post_of[i]) for i in va])
        preds = {0: _xpred(self.main, self.xm, self.main_names, va)} | {
            d: cp.val_pred for d, cp in self.checkpoints.items()
        }
        out: dict[str, Any] = {}
        for d, p in preds.items():
            r = self.y[va] - p
            before = after = 0.0
            for k in (0, 1):
                fit, ev = fold == k, fold != k
                off = {s: float(r[fit & (subs == s)].mean()) for s in set(subs[fit])}
                adj = np.asarray([off.get(s, 0.0) for s in subs[ev]])
                before += float(np.mean(r[ev] ** 2))
                after += float(np.mean((r[ev] - adj) ** 2))
            out[checkpoint_key(d)] = {
                "val_mse": before / 2,
                "val_mse_with_offsets": after / 2,
                "kept": after < before,
            }
        self.offsets: dict[int, dict[str, float]] = {}
        for d, p in preds.items():
            if out[checkpoint_key(d)]["kept"] and self.args.calibrate:
                r = self.y[va] - p
                self.offsets[d] = {s: float(r[subs == s].mean()) for s in set(subs)}
        self.info["calibration"] = out
        return out

    def predict_test(self) -> dict[str, np.ndarray]:
        """Test predictions of every model (and the order-only references)."""
        tr, va, te = self.split.train, self.split.val, self.split.test
        nb = self.extractor.n_base
        self.mean_value = float(self.y[tr].mean())
        main_val = _xpred(self.main, self.xm, self.main_names, va)
        self.conformal_q = self._conformal_q(main_val)
        self.preds = {
            "main": self._offset(0, te, _xpred(self.main, self.xm, self.main_names, te)),
            "mean": np.full(len(te), self.mean_value),
            "ridge": predict_ridge(self.ridge, self._txt(te), self.x[te, :nb]),
            "gbm": _xpred(self.gbm, self.x[:, :nb], self.extractor.names[:nb], te),
            "text_ridge": self.text_scores[te],
        }
        for d, cp in self.checkpoints.items():
            cp.test_pred = self._offset(d, te, cp.test_pred)
        self.info |= {
            "gbm_best_iteration": int(self.gbm.best_iteration),
            "main_best_iteration": int(self.main.best_iteration),
            "n_train": len(tr),
            "n_val": len(va),
            "n_test": len(te),
            "coverage_test": float(
                np.mean(np.abs(self.y[te] - self.preds["main"]) <= self.conformal_q)
            ),
            "checkpoints_val": {checkpoint_key(d): cp.val for d, cp in self.checkpoints.items()},
        }
        return self.preds

    def _offset(self, d: int, idx: np.ndarray, pred: np.ndarray) -> np.ndarray:
        off = getattr(self, "offsets", {}).get(d)
        if not off:
            return pred
        subs = [self.ex.posts[self.ex.post_of[i]].subreddit.lower() for i in idx]
        return pred + np.asarray([off.get(s, 0.0) for s in subs])

    def run_ablations(self) -> None:
        """The main model without the order features, the author history, all context, or
        empathy (same weighting)."""
        drops: dict[str, tuple[str, ...]] = {"main_no_time": ORDER_FEATURES}
        if self.extractor.use_context:
            drops |= {"main_no_author": AUTHOR_FEATURES, "main_no_context": CONTEXT_FEATURES}
        if self.text.empathy is not None:
            drops["main_no_empathy"] = EMPATHY_FEATURES
        for key, drop in drops.items():
            keep = [i for i, n in enumerate(self.main_names) if n not in drop]
            self.say(f"ablation: {key}")
            nm = [self.main_names[i] for i in keep]
            b = self._fit(self.xm[:, keep], nm, self.wtr)
            self.preds[key] = _xpred(b, self.xm[:, keep], nm, self.split.test)

    def evaluate(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Test figures with bootstrap CIs over posts: every model at creation, and per
        checkpoint the checkpoint model beside the same references."""
        te = self.split.test
        y, g, t = self.y[te], self.groups[te], self.created[te]
        self.preds |= reference_scores(self.ex, te)
        self.say("evaluating with bootstrap over posts")
        n_boot = self.args.n_boot
        results = {k: evaluate(y, v, g, t, n_boot=n_boot, seed=1) for k, v in self.preds.items()}
        # bootstrap of the main model's margin over each baseline (paired: same resampled posts)
        results["_margins"] = paired_margins(y, self.preds, g, t, n_boot, ORDERS)
        by_cp: dict[str, dict[str, Any]] = {"0": {k: results[k] for k in CHECKPOINT_ROWS}}
        for d, cp in self.checkpoints.items():
            row = {"main": evaluate(y, cp.test_pred, g, t, n_boot=n_boot, seed=1)}
            row |= {k: results[k] for k in CHECKPOINT_ROWS if k != "main"}
            by_cp[checkpoint_key(d)] = row
        return results, by_cp

    def train(self) -> Trained:
        self.fit_topics()
        self.featurize()
        self.fit_ridges()
        self.fit_gbm()
        self.fit_main()
        self.fit_checkpoints()
        self.calibrate()
        self.predict_test()
        if self.args.ablations:
            self.run_ablations()
        results, by_cp = self.evaluate()
        return Trained(
            self.topics,
            self.extractor,
            self.text_ridge,
            self.ridge,
            self.gbm,
            self.main,
            self.main_names,
            self.mean_value,
            self.conformal_q,
            self.extractor.n_base,
            self.preds,
            results,
            self.info,
            x=self.xm,
            text_rel_ridge=self.text_rel_ridge,
            checkpoints=self.checkpoints,
            by_checkpoint=by_cp,
            offsets=getattr(self, "offsets", {}),
        )


def validation_summary(
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
#: the rows reported per checkpoint (``eval-forecaster --json`` ``by_checkpoint``)
CHECKPOINT_ROWS = ("main", "mean", "chronological", "reddit_order")
ALPHAS = (3.0, 10.0, 30.0, 100.0)  # 30 was the top of the old grid on reddit-college


def hash_fold(post: str) -> int:
    """A stable 0/1 fold of a post (calibration's 2-fold over validation posts)."""
    return int(hashlib.sha1(post.encode()).hexdigest()[:8], 16) & 1


def _xpred(b: Any, m: np.ndarray, names: Sequence[str], idx: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    return b.predict(xgb.DMatrix(m[idx], feature_names=list(names)))
