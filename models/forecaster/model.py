"""The trajectory forecaster (inference): forecast, interval and reasons for a post's TLCs.

Bundle ``forecaster`` (written by ``prosocial-train forecaster``):

* ``topics.safetensors`` (``phi``, ``alpha``) + ``topics_vocab.json``: LDA for numpy inference;
* ``subjectivity.json``: MPQA strong/weak clue words;
* ``ngram_vocab.json`` + ``text_ridge.safetensors``: text-only n-gram ridge (its score is an
  input of the main model); when the main model reads :data:`TEXT_REL_SCORE`,
  ``text_rel_ridge.safetensors`` (the same on the outcome relative to the post's mean);
  ``ridge.safetensors``: the paper's ridge baseline (n-grams + features);
* ``main.json`` (main model) and ``gbm.json`` (paper's XGBoost baseline): XGBoost JSON models;
* ``config.json`` params: feature layout, subreddits, metric names, empathy use, context
  use (``use_context``: OP answering, TLC rate, author history — absent in bundles trained
  before it, which load with the old layout), mean baseline, conformal residual quantile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.bundle import Bundle, Registry
from models.forecaster.context import TlcContext
from models.forecaster.features import (
    EmpathyLike,
    FeatureExtractor,
    Group,
    MetricFn,
    unpack_group,
)
from models.forecaster.lda import TopicModel
from models.forecaster.linear import NgramRidge
from models.forecaster.text import TextFeaturizer
from redditdata.tree import Node, Post

__all__ = ["RETRAIN_COMMAND", "Forecast", "Forecaster", "make_metric_fn", "reason_group"]

logger = logging.getLogger(__name__)

TEXT_SCORE = "tlc_wording_ngram_score"
#: Score of an n-gram ridge fitted on the outcome minus the post's mean outcome (what in the
#: wording makes a TLC better than its siblings); optional (``text_rel_ridge.safetensors``).
TEXT_REL_SCORE = "tlc_wording_relative_score"
#: What to run when a bundle does not fit this code.
RETRAIN_COMMAND = "prosocial-train forecaster"


@dataclass
class Forecast:
    value: float
    lower: float
    upper: float
    reasons: list[tuple[str, float]] = field(default_factory=list)


def reason_group(name: str) -> str:
    """Human-readable group of a feature column (topic / subreddit one-hots are summed)."""
    if name.startswith("post_topic_"):
        return "post topics"
    if name.startswith("tlc_topic_"):
        return "TLC topics"
    if name.startswith("sub_"):
        return "subreddit"
    if name in ("minutes_since_post", "log_minutes_since_post"):
        return "minutes since post"
    if name in ("n_prior_tlcs", "log_n_prior_tlcs"):
        return "earlier TLCs on the post"
    if name in (TEXT_SCORE, TEXT_REL_SCORE):
        return "TLC wording (n-grams)"
    if name.startswith("emp_"):
        return "empathy direction"
    if name.startswith("author_"):
        return "author's earlier TLCs"
    if name == "is_op":
        return "post author answering"
    if name == "tlc_rate_per_hour":
        return "rate of earlier TLCs"
    return name


def make_metric_fn(names: Sequence[str], aux: Any) -> MetricFn | None:
    """TLC-level prosocial metrics (``models.metrics.text_metrics``) as a feature block."""
    if not names:
        return None
    from models.metrics import text_metrics

    cols = list(names)

    def fn(texts: Sequence[str]) -> np.ndarray:
        m = text_metrics(list(texts), aux=aux)
        return np.column_stack([np.asarray(m[c], dtype=np.float64) for c in cols])

    return fn


class Forecaster:
    """Load with :meth:`from_registry`; :meth:`predict` forecasts a post's TLCs in one batch."""

    def __init__(
        self, bundle: Bundle, *, fast: bool = True, aux: Any = None, empathy: Any = None
    ) -> None:
        import xgboost as xgb

        self.bundle = bundle
        self.version = bundle.version
        self.fast = fast
        p = bundle.params
        self.params = p
        t = bundle.load_tensors("topics.safetensors")
        topics = TopicModel(t["phi"], bundle.read_json("topics_vocab.json"), t["alpha"])
        subj = bundle.read_json("subjectivity.json")
        self.metric_names: list[str] = list(p.get("metric_names", []))
        self.use_empathy = bool(p.get("use_empathy", False))
        #: whether the bundle reads per-TLC context (False for bundles trained before it)
        self.use_context = bool(p.get("use_context", False))
        self.features = FeatureExtractor(
            topics,
            TextFeaturizer(subj["strong"], subj["weak"]),
            p["subreddits"],
            self.metric_names,
            make_metric_fn(self.metric_names, aux),
            self.use_empathy,
            post_cache_size=4096 if fast else 0,
            use_context=self.use_context,
        )
        if self.features.names != list(p["feature_names"]):
            from models.errors import BundleError

            raise BundleError(
                f"forecaster bundle {bundle.version} has a feature layout this code "
                f"does not know; retrain it with `{RETRAIN_COMMAND}`"
            )
        vocab = bundle.read_json("ngram_vocab.json")
        self.text_ridge = NgramRidge.from_tensors(
            vocab, bundle.load_tensors("text_ridge.safetensors")
        )
        self.ridge = NgramRidge.from_tensors(vocab, bundle.load_tensors("ridge.safetensors"))
        self.text_rel_ridge = (
            NgramRidge.from_tensors(vocab, bundle.load_tensors("text_rel_ridge.safetensors"))
            if TEXT_REL_SCORE in p["main_feature_names"]
            else None
        )
        self.main = xgb.Booster(model_file=str(bundle.file("main.json")))
        self.gbm = xgb.Booster(model_file=str(bundle.file("gbm.json")))
        for b in (self.main, self.gbm):
            # small batches per call: thread start-up costs more than it saves
            b.set_param({"nthread": 1})
        self.main_names: list[str] = list(p["main_feature_names"])
        self.mean_value = float(p["mean_value"])
        self.q = float(p["conformal_q"])
        self.empathy = empathy
        groups = [reason_group(n) for n in self.main_names]
        self._group_names: list[str] = list(dict.fromkeys(groups))
        #: feature column -> reason group, as a 0/1 matrix (contributions @ it = group sums)
        self._group_matrix = np.zeros((len(groups), len(self._group_names)), dtype=np.float32)
        for c, g in enumerate(groups):
            self._group_matrix[c, self._group_names.index(g)] = 1.0

    @classmethod
    def from_registry(
        cls,
        registry: Registry | str | Path,
        *,
        fast: bool = True,
        aux: Any = None,
        empathy: Any = None,
    ) -> Forecaster:
        reg = registry if isinstance(registry, Registry) else Registry(Path(registry))
        bundle = reg.current("forecaster")
        if bundle.params.get("use_empathy") and empathy is None:
            from models.empathy import EmpathyClassifier  # type: ignore[attr-defined]

            empathy = EmpathyClassifier.from_registry(reg, fast=fast)
        if bundle.params.get("metrics_need_aux") and aux is None:
            from models.aux import AuxModels

            want = bundle.params.get("aux_version")
            # the aux version the forecaster was trained with, when the registry still has it
            aux = (
                AuxModels.from_bundle(reg.get("aux", str(want)))
                if want and str(want) in reg.versions("aux")
                else AuxModels.from_registry(reg)
            )
        return cls(bundle, fast=fast, aux=aux, empathy=empathy)

    # -- features --------------------------------------------------------------------------
    def _empathy(
        self, tlcs: Sequence[Node], empathy: Sequence[EmpathyLike] | None
    ) -> Sequence[EmpathyLike] | None:
        if not self.use_empathy or empathy is not None:
            return empathy
        if self.empathy is None:
            raise ValueError("this forecaster uses empathy: pass empathy= or an empathy model")
        return list(self.empathy.predict_comments([t.body for t in tlcs]))

    def design(
        self,
        post: Post,
        tlcs: Sequence[Node],
        empathy: Sequence[EmpathyLike] | None = None,
        n_prior: Sequence[int] | None = None,
        context: Sequence[TlcContext | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(feature matrix, main-model matrix = features + n-gram text score)."""
        return self.design_many([(post, tlcs, n_prior, context)], empathy)

    def design_many(
        self, groups: Sequence[Group], empathy: Sequence[EmpathyLike] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`design` for several posts' TLCs in one batch (rows in the groups' order)."""
        tlcs = [t for g in groups for t in g[1]]
        x = self.features.extract_many(groups, self._empathy(tlcs, empathy))
        counts = self.text_ridge.counts([t.body for t in tlcs])
        cols = [self.text_ridge.text_terms(counts) + self.text_ridge.intercept]
        if self.text_rel_ridge is not None:
            cols.append(self.text_rel_ridge.text_terms(counts) + self.text_rel_ridge.intercept)
        ts = np.column_stack(cols).astype(np.float32)
        return x, np.concatenate([x, ts], axis=1)

    # -- prediction ------------------------------------------------------------------------
    def predict(
        self,
        post: Post,
        tlcs: Sequence[Node],
        empathy: Sequence[EmpathyLike] | None = None,
        n_reasons: int = 3,
        *,
        n_prior: Sequence[int] | None = None,
        context: Sequence[TlcContext | None] | None = None,
    ) -> list[Forecast]:
        """Forecasts for ``tlcs`` of ``post``, one batch.

        The count of the post's TLCs created before each one is a feature: by default it is
        counted among ``tlcs`` (pass the post's TLCs known so far), or give it as ``n_prior``
        (e.g. forecasting only the newest TLC of a post). ``empathy``: one result per TLC,
        else computed with the empathy model when the bundle uses it. ``context``: each TLC's
        author history (:class:`~models.forecaster.context.TlcContext`); missing (``None``
        or a ``None`` entry) means a first-time author with no matured earlier outcome —
        what the features default to; bundles without ``use_context`` ignore it."""
        return self.predict_many([(post, tlcs, n_prior, context)], empathy, n_reasons)

    def predict_many(
        self,
        groups: Sequence[Group],
        empathy: Sequence[EmpathyLike] | None = None,
        n_reasons: int = 3,
    ) -> list[Forecast]:
        """Forecasts for the TLCs of several posts in one batch: ``groups`` of
        ``(post, tlcs, n_prior or None)`` or ``(post, tlcs, n_prior or None, contexts or
        None)`` (see :meth:`predict`); one forecast per TLC, in the groups' order. One
        feature pass and one XGBoost call for the whole batch, which is what a stream scorer
        wants (its batches mix many posts)."""
        groups = [unpack_group(g) for g in groups if len(g[1])]
        if not groups:
            return []
        import xgboost as xgb

        _, xm = self.design_many(groups, empathy)
        dm = xgb.DMatrix(xm, feature_names=self.main_names, nthread=1)
        pred = self.main.predict(dm)
        # Reasons: exact TreeSHAP costs ~2 ms per TLC with the depth-6 main model (half of
        # the forecaster's time); the fast path uses Saabas path attributions (~100x faster;
        # same top reason for 91% of 1,280 real TLCs, same top-3 set for 60%).
        contrib = self.main.predict(dm, pred_contribs=True, approx_contribs=self.fast)[
            :, :-1
        ]  # last column = bias
        gsum = contrib @ self._group_matrix
        top = np.argsort(-np.abs(gsum), axis=1)[:, :n_reasons]
        uniq = self._group_names
        return [
            Forecast(
                float(v),
                float(v - self.q),
                float(v + self.q),
                [(uniq[j], float(gsum[i, j])) for j in top[i]],
            )
            for i, v in enumerate(pred)
        ]

    def predict_models(
        self,
        post: Post,
        tlcs: Sequence[Node],
        empathy: Sequence[EmpathyLike] | None = None,
        context: Sequence[TlcContext | None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Point forecasts of the main model and every stored baseline (for evaluation)."""
        import xgboost as xgb

        x, xm = self.design(post, tlcs, empathy, context=context)
        base = x[:, : len(self.gbm.feature_names or [])]
        bodies = [t.body for t in tlcs]
        return {
            "main": self.main.predict(xgb.DMatrix(xm, feature_names=self.main_names)),
            "mean": np.full(len(tlcs), self.mean_value),
            "ridge": self.ridge.predict(
                bodies,
                x[:, : self.ridge.coef_dense.shape[0]]
                if self.ridge.coef_dense is not None
                else None,
            ),
            "gbm": self.gbm.predict(xgb.DMatrix(base, feature_names=self.gbm.feature_names)),
        }
