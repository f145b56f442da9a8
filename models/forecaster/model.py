"""The trajectory forecaster (inference): forecast, interval and reasons for a post's TLCs.

Bundle ``forecaster`` (written by ``prosocial-train forecaster``):

* ``topics.safetensors`` (``phi``, ``alpha``) + ``topics_vocab.json``: LDA for numpy inference;
* ``subjectivity.json``: MPQA strong/weak clue words;
* ``ngram_vocab.json`` + ``text_ridge.safetensors``: text-only n-gram ridge (its score is an
  input of the main model); when the main model reads :data:`TEXT_REL_SCORE`,
  ``text_rel_ridge.safetensors`` (the same on the outcome relative to the post's mean);
  ``ridge.safetensors``: the paper's ridge baseline (n-grams + features);
* ``main.json`` (main model) and ``gbm.json`` (paper's XGBoost baseline): XGBoost JSON models;
* ``checkpoint_<delay>.json``: one XGBoost model per re-forecast delay (seconds after the
  TLC was posted), reading the main model's inputs + the conversation as visible then
  (:mod:`models.forecaster.checkpoint`); ``trajectory.json`` / ``safe.json`` /
  ``markers.json``: how that conversation is measured (copied from the trajectory bundle the
  forecaster was trained with);
* ``config.json`` params: target (``safe`` or ``trajectory``), checkpoints and their
  feature layout / interval, per-subreddit offsets kept by calibration, feature layout,
  subreddits, metric names, empathy use, context use (``use_context``: OP answering, TLC rate, author history — absent in bundles trained
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
from models.forecaster.checkpoint import CheckpointFeaturizer, PostTimeline
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
from models.forecaster.rowcache import DESIGN_CACHE_SIZE, RowCache
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
    if name.startswith("cp_post_"):
        return "the post's other TLCs so far"
    if name.startswith("cp_"):
        return "replies so far"
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
        self,
        bundle: Bundle,
        *,
        fast: bool = True,
        aux: Any = None,
        empathy: Any = None,
        design_cache_size: int | None = None,
    ) -> None:
        import xgboost as xgb

        #: each TLC's main-model row from its forecast at creation, reused by its checkpoint
        #: re-forecasts (training concatenates the same row with the checkpoint columns); an
        #: LRU bounded by TLC count, 0 = off (default: on in the fast path)
        if design_cache_size is None:
            design_cache_size = DESIGN_CACHE_SIZE if fast else 0
        self.design_rows = RowCache(design_cache_size)
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
        self.aux = aux
        #: the outcome the bundle forecasts ("safe" or "trajectory"; older bundles: trajectory)
        self.target = str(p.get("target", "trajectory"))
        #: re-forecast delay (s) -> (model, its feature names, conformal half-width)
        self.checkpoints: dict[int, tuple[Any, list[str], float]] = {}
        for key, spec in dict(p.get("checkpoint_models", {})).items():
            b = xgb.Booster(model_file=str(bundle.file(f"checkpoint_{int(key)}.json")))
            b.set_param({"nthread": 1})
            self.checkpoints[int(key)] = (
                b,
                list(spec["feature_names"]),
                float(spec["conformal_q"]),
            )
        self.offsets: dict[int, dict[str, float]] = {
            int(k): dict(v) for k, v in dict(p.get("subreddit_offsets", {})).items()
        }
        self._featurizer: CheckpointFeaturizer | None = None
        self._reason_groups = {0: _group_matrix(self.main_names)} | {
            d: _group_matrix(names) for d, (_, names, _) in self.checkpoints.items()
        }

    @classmethod
    def from_registry(
        cls,
        registry: Registry | str | Path,
        *,
        fast: bool = True,
        aux: Any = None,
        empathy: Any = None,
        design_cache_size: int | None = None,
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
        return cls(bundle, fast=fast, aux=aux, empathy=empathy, design_cache_size=design_cache_size)

    # -- checkpoints -----------------------------------------------------------------------
    @property
    def featurizer(self) -> CheckpointFeaturizer:
        """How the bundle measures a conversation at a checkpoint (its own trajectory /
        safe outcome copies, the aux models it was trained with)."""
        if self._featurizer is None:
            from models.outcomes import OutcomeComputer
            from models.trajectory import TRAJECTORY_FILE, Trajectory

            traj = (
                Trajectory.from_bundle(self.bundle)
                if (self.bundle.path / TRAJECTORY_FILE).exists()
                else None
            )
            self._featurizer = CheckpointFeaturizer(OutcomeComputer(self.aux, traj, memo=True))
        return self._featurizer

    def checkpoint_features(
        self,
        groups: Sequence[Group],
        delay: int,
        timelines: Sequence[PostTimeline] | None = None,
    ) -> np.ndarray:
        """Checkpoint feature rows of the groups' TLCs ``delay`` s after each was posted. The
        TLCs carry their replies as known (anything later than the checkpoint is ignored);
        ``timelines``: each group's post timeline (default: from the group's TLCs)."""
        rows = []
        for k, g in enumerate(groups):
            post, tlcs = g[0], g[1]
            tl = timelines[k] if timelines is not None else PostTimeline.of(list(tlcs))
            rows += [(post, t, tl, int(delay)) for t in tlcs]
        fz = self.featurizer
        try:
            return fz.features(rows)
        finally:
            if fz.outcomes.memo is not None:
                fz.outcomes.memo.clear()

    def _with_checkpoint(
        self, xm: np.ndarray, delay: int, xc: np.ndarray | None, groups: Sequence[Group]
    ) -> tuple[Any, np.ndarray, list[str], float]:
        if delay == 0:
            return self.main, xm, self.main_names, self.q
        model, names, q = self.checkpoints[self.model_for(delay)]
        if xc is None:
            xc = self.checkpoint_features(groups, delay)
        return model, np.concatenate([xm, xc], axis=1), names, q

    def model_for(self, delay: int) -> int:
        """The checkpoint model that re-forecasts at ``delay`` s: its own, else the one of the
        latest trained delay before it (else the earliest); 0 = the model at creation."""
        if delay <= 0 or not self.checkpoints:
            if delay > 0:
                raise ValueError(
                    f"forecaster {self.version} has no checkpoint models; retrain it with "
                    f"`{RETRAIN_COMMAND}`"
                )
            return 0
        if delay in self.checkpoints:
            return delay
        earlier = [d for d in self.checkpoints if d <= delay]
        return max(earlier) if earlier else min(self.checkpoints)

    def _offset(self, delay: int, groups: Sequence[Group], pred: np.ndarray) -> np.ndarray:
        off = self.offsets.get(self.model_for(delay) if delay else 0)
        if not off:
            return pred
        subs = [g[0].subreddit.lower() for g in groups for _ in g[1]]
        return pred + np.asarray([off.get(s, 0.0) for s in subs], dtype=pred.dtype)

    # -- features --------------------------------------------------------------------------
    def _empathy(
        self, tlcs: Sequence[Node], empathy: Sequence[EmpathyLike] | None
    ) -> Sequence[EmpathyLike] | None:
        if not self.use_empathy or empathy is not None:
            return empathy
        if self.empathy is None:
            raise ValueError("this forecaster uses empathy: pass empathy= or an empathy model")
        return list(self.empathy.predict_comments([t.body for t in tlcs]))

    def design_many(
        self, groups: Sequence[Group], empathy: Sequence[EmpathyLike] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(feature matrix, main-model matrix = features + n-gram text score) of several
        posts' TLCs in one batch (rows in the groups' order)."""
        tlcs = [t for g in groups for t in g[1]]
        x = self.features.extract_many(groups, self._empathy(tlcs, empathy))
        counts = self.text_ridge.counts([t.body for t in tlcs])
        cols = [self.text_ridge.text_terms(counts) + self.text_ridge.intercept]
        if self.text_rel_ridge is not None:
            cols.append(self.text_rel_ridge.text_terms(counts) + self.text_rel_ridge.intercept)
        ts = np.column_stack(cols).astype(np.float32)
        return x, np.concatenate([x, ts], axis=1)

    def _main_rows(
        self, groups: Sequence[Group], empathy: Sequence[EmpathyLike] | None, checkpoint: int
    ) -> np.ndarray:
        """The main-model rows of ``groups``' TLCs: remembered at creation, reused at a
        checkpoint for every post whose TLCs are all remembered (the rest are designed)."""
        names = [[t.name for t in g[1]] for g in groups]
        if not self.design_rows.size:
            return self.design_many(groups, empathy)[1]
        if not checkpoint:
            xm = self.design_many(groups, empathy)[1]
            self.design_rows.put_many([n for ns in names for n in ns], xm)
            return xm
        cached = [self.design_rows.get_many(ns) for ns in names]
        todo = [k for k, rows in enumerate(cached) if rows is None]
        if todo:
            starts = np.cumsum([0, *(len(ns) for ns in names)])
            emp = (
                None
                if empathy is None
                else [e for k in todo for e in empathy[starts[k] : starts[k + 1]]]
            )
            fresh = self.design_many([groups[k] for k in todo], emp)[1]
            at = 0
            for k in todo:
                cached[k] = fresh[at : at + len(names[k])]
                at += len(names[k])
        return np.concatenate([c for c in cached if c is not None], axis=0)

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
        *,
        checkpoint: int = 0,
        timelines: Sequence[PostTimeline] | None = None,
    ) -> list[Forecast]:
        """Forecasts for the TLCs of several posts in one batch: ``groups`` of
        ``(post, tlcs, n_prior or None)`` or ``(post, tlcs, n_prior or None, contexts or
        None)`` (see :meth:`predict`); one forecast per TLC, in the groups' order. One
        feature pass and one XGBoost call for the whole batch, which is what a stream scorer
        wants (its batches mix many posts).

        ``checkpoint``: re-forecast ``checkpoint`` seconds after each TLC was posted, from its
        replies as they stood then (the TLC nodes carry their replies as known; later ones
        are ignored) and the post's ``timelines`` (default: from the groups' TLCs)."""
        keep = [k for k, g in enumerate(groups) if len(g[1])]
        groups = [unpack_group(groups[k]) for k in keep]
        if not groups:
            return []
        import xgboost as xgb

        xm = self._main_rows(groups, empathy, checkpoint)
        xc = (
            self.checkpoint_features(
                groups, checkpoint, [timelines[k] for k in keep] if timelines else None
            )
            if checkpoint
            else None
        )
        model, xm, names, q = self._with_checkpoint(xm, checkpoint, xc, groups)
        dm = xgb.DMatrix(xm, feature_names=names, nthread=1)
        pred = self._offset(checkpoint, groups, model.predict(dm))
        # Reasons: exact TreeSHAP costs ~2 ms per TLC with the depth-6 main model (half of
        # the forecaster's time); the fast path uses Saabas path attributions (~100x faster;
        # same top reason for 91% of 1,280 real TLCs, same top-3 set for 60%).
        contrib = model.predict(dm, pred_contribs=True, approx_contribs=self.fast)[
            :, :-1
        ]  # last column = bias
        uniq, matrix = self._reason_groups[self.model_for(checkpoint)]
        gsum = contrib @ matrix
        top = np.argsort(-np.abs(gsum), axis=1)[:, :n_reasons]
        return [
            Forecast(
                float(v),
                float(v - q),
                float(v + q),
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
        at: dict[int, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Point forecasts of the main model and every stored baseline (for evaluation);
        ``at``: checkpoint delay -> the TLCs' checkpoint feature rows, adding one forecast
        ``checkpoint_<delay>`` per delay."""
        import xgboost as xgb

        x, xm = self.design_many([(post, tlcs, None, context)], empathy)
        group = [(post, tlcs, None)]
        extra = {}
        for d, xc in (at or {}).items():
            if d > 0 and not self.checkpoints:  # a bundle trained without checkpoint models
                continue
            model, xcm, names, _ = self._with_checkpoint(xm, d, xc, group)  # type: ignore[arg-type]
            extra[f"checkpoint_{d}"] = self._offset(
                d,
                group,
                model.predict(xgb.DMatrix(xcm, feature_names=names)),  # type: ignore[arg-type]
            )
        base = x[:, : len(self.gbm.feature_names or [])]
        bodies = [t.body for t in tlcs]
        return (
            {
                "main": self._offset(
                    0,
                    group,
                    self.main.predict(xgb.DMatrix(xm, feature_names=self.main_names)),  # type: ignore[arg-type]
                ),
                "mean": np.full(len(tlcs), self.mean_value),
                "ridge": self.ridge.predict(
                    bodies,
                    x[:, : self.ridge.coef_dense.shape[0]]
                    if self.ridge.coef_dense is not None
                    else None,
                ),
                "gbm": self.gbm.predict(xgb.DMatrix(base, feature_names=self.gbm.feature_names)),
            }
            | extra
        )


def _group_matrix(names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Reason groups of feature columns and the 0/1 column -> group matrix (contributions @
    it = group sums)."""
    groups = [reason_group(n) for n in names]
    uniq = list(dict.fromkeys(groups))
    m = np.zeros((len(groups), len(uniq)), dtype=np.float32)
    for c, g in enumerate(groups):
        m[c, uniq.index(g)] = 1.0
    return uniq, m
