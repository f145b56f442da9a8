"""Fitting the forecaster's regressors: n-gram ridge and XGBoost (paper Appendix C)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from models.forecaster.linear import NGRAM_TOKEN_PATTERN, NgramRidge
from training.forecaster.weights import train_threads

__all__ = [
    "MAIN_XGB_PARAMS",
    "PAPER_XGB_PARAMS",
    "NgramCorpus",
    "TextRows",
    "fit_ngram_ridge",
    "fit_xgb",
    "oof_text_scores",
    "post_relative",
    "predict_ridge",
]

logger = logging.getLogger(__name__)

#: Appendix C, Table 6 (5000 rounds, early stopping after 50 on the validation set).
PAPER_XGB_PARAMS: dict[str, Any] = {
    "booster": "gbtree",
    "eta": 0.05,
    "gamma": 1.0,
    "max_depth": 4,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 3.0,
    "alpha": 1.0,
    "num_parallel_tree": 1,
    "objective": "reg:squarederror",
    "tree_method": "hist",
    "eval_metric": "rmse",
    "seed": 42,
}
#: The main model's: the paper's with deeper trees (chosen on the validation split of the full
#: reddit-college run: depth 6 / min child weight 5 beat depth 4 and depth 8 on R²).
MAIN_XGB_PARAMS: dict[str, Any] = PAPER_XGB_PARAMS | {"max_depth": 6, "min_child_weight": 5.0}
PAPER_XGB_ROUNDS = 5000
PAPER_XGB_EARLY_STOP = 50


class NgramCorpus:
    """Every text's uni+bigram counts, tokenised once: each n-gram ridge fitted on (and each
    prediction over) rows of these texts reads them instead of re-tokenising
    (:class:`TextRows`). Vocabulary, idf and design matrices are exactly those of fitting on
    the rows' texts."""

    def __init__(self, texts: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        vec = CountVectorizer(
            ngram_range=(1, 2), token_pattern=NGRAM_TOKEN_PATTERN, dtype=np.float64
        )
        self.texts = texts
        self.counts = sparse.csr_matrix(vec.fit_transform(texts))  # columns: terms, sorted
        self.counts.sort_indices()
        self.terms = np.asarray(vec.get_feature_names_out(), dtype=object)
        self._col = {str(t): j for j, t in enumerate(self.terms)}

    def rows(self, idx: Sequence[int] | np.ndarray) -> TextRows:
        return TextRows(self, np.asarray(idx, dtype=np.int64))

    def columns(self, vocab: Sequence[str]) -> np.ndarray:
        return np.asarray([self._col.get(w, -1) for w in vocab], dtype=np.int64)


class TextRows(Sequence[str]):
    """Rows of an :class:`NgramCorpus`: a sequence of their texts that also carries their
    counts."""

    def __init__(self, corpus: NgramCorpus, idx: np.ndarray) -> None:
        self.corpus, self.idx = corpus, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.corpus.texts[j] for j in self.idx[i].tolist()]
        return self.corpus.texts[int(self.idx[i])]

    def take(self, pos: np.ndarray) -> TextRows:
        return TextRows(self.corpus, self.idx[pos])

    def counts(self, vocab: Sequence[str] | None = None) -> sparse.csr_matrix:
        """Counts over ``vocab`` (an n-gram the corpus never saw counts 0); all columns
        when ``None``."""
        m = self.corpus.counts[self.idx]
        if vocab is None:
            return sparse.csr_matrix(m)
        cols = self.corpus.columns(vocab)
        if (cols < 0).any():  # unseen n-grams: an empty column each
            m = sparse.hstack([m, sparse.csr_matrix((m.shape[0], 1))]).tocsr()
            cols = np.where(cols < 0, m.shape[1] - 1, cols)
        out = sparse.csr_matrix(m[:, cols])
        out.sort_indices()
        return out


def _take(texts: Sequence[str], idx: np.ndarray) -> Sequence[str]:
    return texts.take(idx) if isinstance(texts, TextRows) else [texts[i] for i in idx.tolist()]


def _vocab(texts: Sequence[str], min_df: int, max_features: int) -> tuple[list[str], np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if isinstance(texts, TextRows):
        return _vocab_of_rows(texts, min_df, max_features)
    vec = TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=min_df,
        max_features=max_features,
        sublinear_tf=True,
        token_pattern=NGRAM_TOKEN_PATTERN,
    )
    vec.fit(texts)
    return list(vec.get_feature_names_out()), np.asarray(vec.idf_, dtype=np.float64)


def _vocab_of_rows(rows: TextRows, min_df: int, max_features: int) -> tuple[list[str], np.ndarray]:
    """What ``TfidfVectorizer(min_df, max_features, ...).fit`` learns on the rows' texts,
    from their counts (the same steps: terms of the rows in sorted order, document
    frequency ≥ ``min_df``, the ``max_features`` most frequent, smoothed idf)."""
    m = rows.counts()
    df_all = np.bincount(m.indices, minlength=m.shape[1])
    present = np.flatnonzero(df_all > 0)  # the rows' own terms, in sorted order
    dfs = df_all[present]
    tfs = np.asarray(m.sum(axis=0)).ravel()[present]
    mask = dfs >= min_df
    if mask.sum() > max_features:
        keep = np.flatnonzero(mask)[(-tfs[mask]).argsort()[:max_features]]
        mask = np.zeros(len(dfs), dtype=bool)
        mask[keep] = True
    if not mask.any():
        raise ValueError("After pruning, no terms remain. Try a lower min_df.")
    cols = present[mask]
    idf = np.log((len(rows) + 1) / (dfs[mask].astype(np.float64) + 1.0)) + 1.0
    return [str(t) for t in rows.corpus.terms[cols]], idf


def _tfidf(shell: NgramRidge, texts: Sequence[str]) -> sparse.csr_matrix:
    """``shell.tfidf(texts)``, from the corpus counts for :class:`TextRows`."""
    if not isinstance(texts, TextRows):
        return shell.tfidf(texts)
    m = texts.counts(shell.vocab)
    m.data = 1.0 + np.log(m.data)
    m = m @ sparse.diags(shell.idf)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)


def predict_ridge(
    model: NgramRidge, texts: Sequence[str], dense: np.ndarray | None = None
) -> np.ndarray:
    """``model.predict(texts, dense)``, from the corpus counts for :class:`TextRows`."""
    if not isinstance(texts, TextRows):
        return model.predict(texts, dense)
    out = model.text_terms(texts.counts(model.vocab)) + model.intercept
    if model.coef_dense is not None:
        if dense is None:
            raise ValueError("this ridge needs dense features")
        out = out + model.dense_terms(dense).sum(axis=1)
    return out


def fit_ngram_ridge(
    texts: Sequence[str],
    y: np.ndarray,
    dense: np.ndarray | None = None,
    val: tuple[Sequence[str], np.ndarray, np.ndarray | None] | None = None,
    alphas: Sequence[float] = (1.0, 3.0, 10.0, 30.0),
    min_df: int = 3,
    max_features: int = 50_000,
) -> tuple[NgramRidge, dict[str, float]]:
    """Ridge on TF-IDF uni+bigrams (+ standardised dense features); α picked on ``val``."""
    from sklearn.linear_model import Ridge

    vocab, idf = _vocab(texts, min_df, max_features)
    d = 0 if dense is None else dense.shape[1]
    mean = None if dense is None else dense.mean(axis=0).astype(np.float64)
    std = None if dense is None else (dense.std(axis=0) + 1e-6).astype(np.float64)
    shell = NgramRidge(
        vocab, idf, np.zeros(len(vocab)), 0.0, None if dense is None else np.zeros(d), mean, std
    )

    def design(tx: Sequence[str], dn: np.ndarray | None) -> sparse.csr_matrix:
        m = _tfidf(shell, tx)
        if dn is None:
            return m
        return sparse.hstack([m, sparse.csr_matrix(shell.standardize(dn))]).tocsr()

    xtr = design(texts, dense)
    scores: dict[str, float] = {}
    best = (np.inf, alphas[0])
    if val is not None and len(alphas) > 1:
        xva = design(val[0], val[2])
        for a in alphas:
            r = Ridge(alpha=a, solver="auto").fit(xtr, y)
            mse = float(np.mean((r.predict(xva) - val[1]) ** 2))
            scores[f"alpha_{a:g}"] = mse
            best = min(best, (mse, a))
    r = Ridge(alpha=best[1]).fit(xtr, y)
    coef = np.asarray(r.coef_, dtype=np.float64)
    model = NgramRidge(
        vocab,
        idf,
        coef[: len(vocab)],
        float(r.intercept_),
        None if dense is None else coef[len(vocab) :],
        mean,
        std,
    )
    scores["alpha"] = best[1]
    return model, scores


def post_relative(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``y`` minus the mean ``y`` of its post (group): how a TLC fares against its siblings."""
    _, inv = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.bincount(inv, weights=y)
    return y - (sums / np.bincount(inv))[inv]


def oof_text_scores(
    texts: Sequence[str],
    y: np.ndarray,
    groups: np.ndarray,
    alpha: float,
    folds: int = 5,
    seed: int = 3,
) -> np.ndarray:
    """Out-of-fold predictions of a text-only n-gram ridge (folds by post), for stacking."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    fold_of = dict(zip(uniq, rng.integers(0, folds, len(uniq))))
    f = np.asarray([fold_of[g] for g in groups])
    out = np.zeros(len(texts))
    for k in range(folds):
        tr, te = np.flatnonzero(f != k), np.flatnonzero(f == k)
        m, _ = fit_ngram_ridge(_take(texts, tr), y[tr], alphas=(alpha,))
        out[te] = predict_ridge(m, _take(texts, te))
    return out


def fit_xgb(
    xtr: np.ndarray,
    ytr: np.ndarray,
    xva: np.ndarray,
    yva: np.ndarray,
    names: Sequence[str],
    params: dict[str, Any] | None = None,
    rounds: int = PAPER_XGB_ROUNDS,
    early_stop: int = PAPER_XGB_EARLY_STOP,
    nthread: int | None = None,
    wtr: np.ndarray | None = None,
    wva: np.ndarray | None = None,
) -> Any:
    """XGBoost early-stopped on the validation RMSE; ``wtr`` / ``wva``: per-row weights of the
    training loss / of the validation RMSE (:mod:`training.forecaster.weights`).
    ``nthread``: default :func:`~training.forecaster.weights.train_threads`."""
    import xgboost as xgb

    p = dict(PAPER_XGB_PARAMS if params is None else params)
    p["nthread"] = train_threads() if nthread is None else nthread
    dtr = xgb.DMatrix(xtr, label=ytr, weight=wtr, feature_names=list(names), nthread=p["nthread"])
    dva = xgb.DMatrix(xva, label=yva, weight=wva, feature_names=list(names), nthread=p["nthread"])
    bst = xgb.train(
        p,
        dtr,
        num_boost_round=rounds,
        evals=[(dva, "val")],
        early_stopping_rounds=early_stop,
        verbose_eval=False,
    )
    best = int(bst.best_iteration)
    logger.info("xgboost: best iteration %d, val rmse %.4f", best, bst.best_score)
    sliced = bst[: best + 1]  # keep only the trees up to the early-stopping point
    sliced.best_iteration = best
    return sliced
