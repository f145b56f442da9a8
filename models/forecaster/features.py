"""The forecaster's non-text feature vector for a TLC given its post (paper §5.2, offline).

Columns (names in :attr:`FeatureExtractor.names`): the TLC's text features
(:data:`models.forecaster.text.TEXT_FEATURES`), post length/questions, LDA topic
distributions of post and TLC (one LDA fitted on both so the two live in one topic space),
their cosine similarity, the Jaccard overlap of content words, time features (hour, weekday,
day of month, minutes since the post), subreddit one-hot, optional TLC-level prosocial metrics
(a ``metric_fn``), optional empathy direction and optional context columns
(:data:`models.forecaster.context.CONTEXT_FEATURES`: OP answering, rate of earlier TLCs,
the author's history before the TLC). Author gender is deliberately absent.

Post-side work (content words, topics) is cached per post fullname, so scoring the TLCs of a
post as they arrive costs one post inference.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from models.forecaster.context import CONTEXT_FEATURES, TlcContext, context_features
from models.forecaster.lda import TopicModel
from models.forecaster.text import TEXT_FEATURES, TextFeaturizer, content_words, jaccard
from redditdata.tree import Node, Post

__all__ = [
    "EMPATHY_FEATURES",
    "ORDER_FEATURES",
    "TIME_FEATURES",
    "EmpathyLike",
    "FeatureExtractor",
    "Group",
    "MetricFn",
    "unpack_group",
]

TIME_FEATURES = (
    "hour",
    "weekday",
    "day_of_month",
    "minutes_since_post",
    "log_minutes_since_post",
    "n_prior_tlcs",
    "log_n_prior_tlcs",
)
#: Features that encode *when* a TLC came (dropped together in the "beyond time" ablation).
ORDER_FEATURES = (
    "minutes_since_post",
    "log_minutes_since_post",
    "n_prior_tlcs",
    "log_n_prior_tlcs",
    "tlc_rate_per_hour",
)
EMPATHY_FEATURES = (
    "emp_share_seeking",
    "emp_share_providing",
    "emp_is_seeking",
    "emp_is_providing",
)

#: A batch function texts -> (n × m) TLC-level prosocial metric matrix.
MetricFn = Callable[[Sequence[str]], np.ndarray]

#: One post's share of a batch: (post, its TLCs, each TLC's count of earlier TLCs or None)
#: and optionally a 4th item, each TLC's :class:`TlcContext` (or None: first-time author).
Group = (
    tuple[Post, Sequence[Node], Sequence[int] | None]
    | tuple[Post, Sequence[Node], Sequence[int] | None, Sequence[TlcContext | None] | None]
)


def unpack_group(
    g: Group,
) -> tuple[Post, Sequence[Node], Sequence[int] | None, Sequence[TlcContext | None] | None]:
    """A group as a 4-tuple (a 3-tuple has no contexts)."""
    if len(g) == 3:
        return g[0], g[1], g[2], None
    return g[0], g[1], g[2], g[3]  # type: ignore[misc]


class EmpathyLike(Protocol):
    """What the features read of an empathy result (read-only)."""

    @property
    def share_seeking(self) -> float: ...
    @property
    def share_providing(self) -> float: ...
    @property
    def label(self) -> Any: ...


@dataclass
class _PostInfo:
    words: set[str]
    topics: np.ndarray
    n_words: float
    n_questions: float


def _label_name(label: Any) -> str:
    return str(getattr(label, "name", getattr(label, "value", label))).lower()


class FeatureExtractor:
    def __init__(
        self,
        topics: TopicModel,
        text: TextFeaturizer,
        subreddits: Sequence[str],
        metric_names: Sequence[str] = (),
        metric_fn: MetricFn | None = None,
        use_empathy: bool = False,
        post_cache_size: int = 4096,
        use_context: bool = False,
    ) -> None:
        if metric_names and metric_fn is None:
            raise ValueError("metric_names given without a metric_fn")
        self.topics = topics
        self.text = text
        self.subreddits = [s.lower() for s in subreddits]
        self._sub_index = {s: i for i, s in enumerate(self.subreddits)}
        self.metric_names = list(metric_names)
        self.metric_fn = metric_fn
        self.use_empathy = use_empathy
        self.use_context = use_context
        self._cache: OrderedDict[str, _PostInfo] = OrderedDict()
        self._cache_size = post_cache_size
        k = topics.k
        self.names: list[str] = (
            [f"tlc_{n}" for n in TEXT_FEATURES]
            + ["post_n_words", "post_n_questions"]
            + [f"post_topic_{i}" for i in range(k)]
            + [f"tlc_topic_{i}" for i in range(k)]
            + ["topic_cosine", "content_jaccard"]
            + list(TIME_FEATURES)
            + [f"sub_{s}" for s in self.subreddits]
            + [f"metric_{m}" for m in self.metric_names]
            + (list(EMPATHY_FEATURES) if use_empathy else [])
            + (list(CONTEXT_FEATURES) if use_context else [])
        )
        #: columns of the paper's §5.2 features (no empathy / context): the baselines' inputs
        self.n_base = (
            len(self.names)
            - (len(EMPATHY_FEATURES) if use_empathy else 0)
            - (len(CONTEXT_FEATURES) if use_context else 0)
        )

    def clear_post_cache(self) -> None:
        """Forget every cached post (benchmarks measure a cold start with it)."""
        self._cache.clear()

    def post_info(self, post: Post) -> _PostInfo:
        info = self._cache.get(post.name)
        if info is not None:
            self._cache.move_to_end(post.name)
            return info
        text = f"{post.title}\n{post.selftext}"
        info = _PostInfo(
            words=set(content_words(text)),
            topics=self.topics.infer([text])[0],
            n_words=float(len(text.split())),
            n_questions=float(text.count("?")),
        )
        self._cache[post.name] = info
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return info

    def extract(
        self,
        post: Post,
        tlcs: Sequence[Node],
        empathy: Sequence[EmpathyLike] | None = None,
        n_prior: Sequence[int] | None = None,
        context: Sequence[TlcContext | None] | None = None,
    ) -> np.ndarray:
        """Feature matrix (len(tlcs) × len(names)), float32.

        ``n_prior``: how many of the post's TLCs were created before each one (default:
        counted among ``tlcs``, i.e. pass the post's TLCs known so far). ``context``: each
        TLC's author history (default / ``None`` entries: a first-time author)."""
        return self.extract_many([(post, tlcs, n_prior, context)], empathy)

    def extract_many(
        self, groups: Sequence[Group], empathy: Sequence[EmpathyLike] | None = None
    ) -> np.ndarray:
        """Feature rows for several posts' TLCs at once: ``groups`` of ``(post, tlcs,
        n_prior or None[, contexts or None])``; rows follow the groups' order. The TLC-side
        work (text features, topic inference, metrics) runs as one batch over every TLC;
        ``empathy`` has one result per TLC in the same flat order."""
        groups4 = [unpack_group(g) for g in groups if len(g[1])]
        tlcs = [t for _, ts, _, _ in groups4 for t in ts]
        n = len(tlcs)
        if n == 0:
            return np.zeros((0, len(self.names)), dtype=np.float32)
        if self.use_empathy and (empathy is None or len(empathy) != n):
            raise ValueError("this forecaster needs one empathy result per TLC")
        bodies = [t.body for t in tlcs]
        tf = self.text.features(bodies)
        tt = self.topics.infer(bodies)
        k = tt.shape[1]
        post_block = np.zeros((n, 2 + k))
        cos = np.zeros(n)
        jac = np.zeros(n)
        tfeat = np.zeros((n, len(TIME_FEATURES)))
        sub = np.zeros((n, len(self.subreddits)))
        ctx = np.zeros((n, len(CONTEXT_FEATURES) if self.use_context else 0))
        row = 0
        for post, ts, n_prior, contexts in groups4:
            m = len(ts)
            sl = slice(row, row + m)
            pi = self.post_info(post)
            post_block[sl] = np.concatenate([[pi.n_words, pi.n_questions], pi.topics])
            cos[sl] = (tt[sl] @ pi.topics) / (
                np.linalg.norm(tt[sl], axis=1) * np.linalg.norm(pi.topics) + 1e-12
            )
            jac[sl] = [jaccard(content_words(t.body), pi.words) for t in ts]
            created = np.asarray([t.created_utc for t in ts])
            prior = (
                (created[None, :] < created[:, None]).sum(axis=1)
                if n_prior is None
                else np.asarray(n_prior, dtype=np.int64).reshape(m)
            )
            for i, t in enumerate(ts):
                g = time.gmtime(t.created_utc)
                mins = max(0.0, (t.created_utc - post.created_utc) / 60.0)
                tfeat[row + i] = (
                    g.tm_hour,
                    g.tm_wday,
                    g.tm_mday,
                    mins,
                    math.log1p(mins),
                    prior[i],
                    math.log1p(prior[i]),
                )
                if self.use_context:
                    ctx[row + i] = context_features(
                        post, t, int(prior[i]), None if contexts is None else contexts[i]
                    )
            j = self._sub_index.get(post.subreddit.lower())
            if j is not None:
                sub[sl, j] = 1.0
            row += m
        parts = [tf, post_block, tt, cos[:, None], jac[:, None], tfeat, sub]
        if self.metric_names:
            assert self.metric_fn is not None
            parts.append(np.asarray(self.metric_fn(bodies), dtype=np.float64).reshape(n, -1))
        if self.use_empathy:
            assert empathy is not None
            parts.append(
                np.asarray(
                    [
                        [
                            e.share_seeking,
                            e.share_providing,
                            float(_label_name(e.label).startswith("seek")),
                            float(_label_name(e.label).startswith("provid")),
                        ]
                        for e in empathy
                    ],
                    dtype=np.float64,
                )
            )
        if self.use_context:
            parts.append(ctx)
        x = np.concatenate(parts, axis=1).astype(np.float32)
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
