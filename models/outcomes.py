"""Outcome metrics + trajectory for many conversations at once.

:class:`OutcomeComputer` flattens every reply of every given TLC, runs the rule-based counters
once per reply, makes ONE auxiliary-model call for all reply texts, aggregates per
conversation with ``numpy.bincount`` and projects on the trajectory. Values equal the
reference definitions in :mod:`models.metrics.conversation`.

It also measures the *moderator-safe outcome* (:meth:`OutcomeComputer.safe_matrix`,
:data:`~models.metrics.names.SAFE_METRIC_NAMES`): the metrics of the civil tree
(:meth:`OutcomeComputer.civil_tree`: toxic replies cut off with their subtrees) beside the
toxicity metrics of the whole tree, projected on the trajectory bundle's
:class:`~models.trajectory.SafeOutcome`. With ``memo`` the per-text values (rule-based
counters + aux scores) are remembered by text, so measuring the same replies again (the
civil tree, a conversation at several checkpoints) costs no second aux call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.metrics.accommodation import Markers, coordination, exchanges, load_markers
from models.metrics.aux import AuxScorer, thresholds_of
from models.metrics.features import aux_scores, has_text, lexical_features, per_text_metrics
from models.metrics.names import METRIC_NAMES, SAFE_METRIC_NAMES
from models.metrics.structure import structure_metrics
from models.trajectory import Trajectory
from redditdata.tree import Node, iter_replies

__all__ = [
    "CLASSIFIER_METRICS",
    "MEAN_METRICS",
    "SHARE_METRICS",
    "SUM_METRICS",
    "TEXT_COLUMNS",
    "Outcome",
    "OutcomeComputer",
]

logger = logging.getLogger(__name__)

#: Text metrics summed over replies.
SUM_METRICS = (
    "information_sharing",
    "link_replies",
    "educational_links",
    "gratitude",
    "compliments",
    "laughter",
    "personal_disclosure",
    "donations",
    "mentorship",
    "toxic_count",
    "extremely_toxic_count",
)
#: Text metrics averaged over replies (0.0 when there is none).
MEAN_METRICS = ("politeness", "supportiveness")
#: Shares over replies (1.0 when there is none).
SHARE_METRICS = ("pct_non_toxic", "pct_non_extremely_toxic")
#: Metrics that need the aux models (NaN without them).
CLASSIFIER_METRICS = (
    "information_sharing",
    "politeness",
    "supportiveness",
    "mentorship",
    "pct_non_toxic",
    "pct_non_extremely_toxic",
    "toxic_count",
    "extremely_toxic_count",
)


#: Per-text values remembered by :class:`OutcomeComputer` (``memo``), in this order.
TEXT_COLUMNS = SUM_METRICS + MEAN_METRICS + SHARE_METRICS + ("toxicity",)


@dataclass(frozen=True)
class Outcome:
    """The measured outcome of one TLC's conversation."""

    tlc: str
    post: str
    n_replies: int
    metrics: dict[str, float]
    trajectory: float | None
    versions: dict[str, str] = field(default_factory=dict)
    #: the moderator-safe outcome (None without aux models or a safe outcome in the bundle)
    safe: float | None = None

    def value(self, target: str) -> float | None:
        """The outcome named ``target`` (``"safe"`` or ``"trajectory"``)."""
        if target == "safe":
            return self.safe
        if target == "trajectory":
            return self.trajectory
        raise ValueError(f"unknown outcome {target!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "tlc": self.tlc,
            "post": self.post,
            "n_replies": self.n_replies,
            "trajectory": self.trajectory,
            "safe": self.safe,
            "metrics": dict(self.metrics),
            "versions": dict(self.versions),
        }

    def to_row(self) -> dict[str, Any]:
        """Flat record (metric names as columns, ``version_<bundle>`` columns)."""
        row: dict[str, Any] = {
            "tlc": self.tlc,
            "post": self.post,
            "n_replies": self.n_replies,
            "trajectory": self.trajectory,
            "safe": self.safe,
        }
        row.update(self.metrics)
        row.update({f"version_{k}": v for k, v in self.versions.items()})
        return row

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        return cls(
            tlc=d["tlc"],
            post=d["post"],
            n_replies=int(d["n_replies"]),
            metrics={k: float(v) for k, v in d["metrics"].items()},
            trajectory=None if d.get("trajectory") is None else float(d["trajectory"]),
            versions=dict(d.get("versions", {})),
            safe=None if d.get("safe") is None else float(d["safe"]),
        )


class OutcomeComputer:
    """Computes :class:`Outcome` rows; ``aux``/``trajectory`` may be ``None`` (then the
    classifier metrics are NaN and / or the trajectory is ``None``). Function-word markers:
    ``markers`` if given, else the trajectory bundle's, else :func:`load_markers`."""

    def __init__(
        self,
        aux: AuxScorer | None,
        trajectory: Trajectory | None,
        markers: Markers | None = None,
        *,
        memo: bool = False,
    ) -> None:
        self.aux = aux
        #: text -> per-text values (TEXT_COLUMNS order), when ``memo``
        self.memo: dict[str, np.ndarray] | None = {} if memo else None
        self.trajectory = trajectory
        if markers is None and trajectory is not None and trajectory.markers is not None:
            markers = trajectory.markers  # exactly what the trajectory was fitted with
        self.markers = markers if markers is not None else load_markers()
        self.thresholds = thresholds_of(aux)
        self.versions: dict[str, str] = {"markers": self.markers.source}
        if aux is not None:
            self.versions["aux"] = str(aux.version)
        if trajectory is not None:
            self.versions["trajectory"] = trajectory.version
            if (
                aux is not None
                and trajectory.aux_version is not None
                and trajectory.aux_version != str(aux.version)
            ):
                logger.warning(
                    "trajectory %s was fitted on aux %s but aux %s is loaded: "
                    "retrain it (prosocial-train trajectory --data DIR)",
                    trajectory.version,
                    trajectory.aux_version,
                    aux.version,
                )

    def per_text(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per-text values (:data:`TEXT_COLUMNS`) of ``texts``: one aux call for those not
        remembered yet."""
        if self.memo is None:
            return per_text_metrics(
                lexical_features(texts), aux_scores(self.aux, texts), self.thresholds
            )
        memo = self.memo
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        if todo:
            per = per_text_metrics(
                lexical_features(todo), aux_scores(self.aux, todo), self.thresholds
            )
            block = np.column_stack([per[c] for c in TEXT_COLUMNS])
            memo.update(zip(todo, block))
        rows = np.stack([memo[t] for t in texts]) if texts else np.zeros((0, len(TEXT_COLUMNS)))
        return {c: rows[:, j] for j, c in enumerate(TEXT_COLUMNS)}

    def is_toxic(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each text reaches the toxic threshold (False without aux models)."""
        tox = self.per_text(list(texts))["toxicity"]
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(tox, nan=0.0) >= self.thresholds["toxic"]

    def civil_tree(self, tlc: Node) -> Node:
        """A copy of ``tlc``'s tree without its toxic replies and their subtrees."""
        replies = [n for n in iter_replies(tlc) if has_text(n.body)]
        toxic = {id(n) for n, t in zip(replies, self.is_toxic([n.body for n in replies])) if t}

        root = tlc.detached()
        stack = [(tlc, root)]
        while stack:  # iterative: reply chains can be deeper than the recursion limit
            src, dst = stack.pop()
            for c in src.children:
                if id(c) not in toxic:
                    k = c.detached()
                    dst.children.append(k)
                    stack.append((c, k))
        return root

    def safe_matrix(self, tlcs: Sequence[Node], full: np.ndarray | None = None) -> np.ndarray:
        """The moderator-safe outcome's columns (:data:`SAFE_METRIC_NAMES`) for ``tlcs``;
        ``full``: their :meth:`metric_matrix` when already computed (its toxicity columns)."""
        if full is None:
            full = self.metric_matrix(tlcs)[0]
        civil = [self.civil_tree(t) for t in tlcs]
        x, _, n_text = self._matrix(civil, accommodation=False)
        col = {m: x[:, j] for j, m in enumerate(METRIC_NAMES)}
        pos_score = np.asarray(
            [sum(max(int(r.score), 0) for r in iter_replies(t)) for t in civil], dtype=np.float64
        )
        # each column is a civil-tree metric (civil_<metric>), one of these five, or a
        # toxicity metric of the whole tree
        out = {
            "civil_politeness_sum": col["politeness"] * n_text,
            "civil_supportiveness_sum": col["supportiveness"] * n_text,
            "civil_positive_score": pos_score,
            "civil_comments": col["subsequent_comments"],
            "civil_depth": col["conversation_depth"],
        }
        for name in (n for n in SAFE_METRIC_NAMES if n not in out):
            metric = name.removeprefix("civil_")
            out[name] = col[metric] if metric != name else full[:, METRIC_NAMES.index(name)]
        if not len(tlcs):
            return np.zeros((0, len(SAFE_METRIC_NAMES)))
        return np.column_stack([out[m] for m in SAFE_METRIC_NAMES])

    def metric_matrix(self, tlcs: Sequence[Node]) -> tuple[np.ndarray, np.ndarray]:
        """``(metrics (n, len(METRIC_NAMES)), n_replies (n,))`` for the given TLCs."""
        x, n_replies, _ = self._matrix(tlcs)
        return x, n_replies

    def _matrix(
        self, tlcs: Sequence[Node], accommodation: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(metrics, replies, replies with text) per TLC; accommodation 0 unless asked."""
        n = len(tlcs)
        texts: list[str] = []
        tseg: list[int] = []
        mask_of: dict[int, int] = {}
        mask_texts: list[str] = []
        ex_p: list[int] = []
        ex_c: list[int] = []
        ex_seg: list[int] = []
        n_replies = np.zeros(n, dtype=np.int64)
        struct = np.zeros((n, 6), dtype=np.float64)
        struct_names: list[str] = []

        def midx(node: Node) -> int:
            i = mask_of.get(id(node))
            if i is None:
                i = mask_of[id(node)] = len(mask_texts)
                mask_texts.append(node.body)
            return i

        for s, tlc in enumerate(tlcs):
            k = 0
            for node in iter_replies(tlc):
                k += 1
                if has_text(node.body):
                    texts.append(node.body)
                    tseg.append(s)
            n_replies[s] = k
            if k and accommodation:
                for p, c in exchanges(tlc):
                    ex_p.append(midx(p))
                    ex_c.append(midx(c))
                    ex_seg.append(s)
            sm = structure_metrics(tlc)
            struct_names = list(sm)
            struct[s] = list(sm.values())

        seg = np.asarray(tseg, dtype=np.int64)
        per = self.per_text(texts)
        cnt = np.bincount(seg, minlength=n).astype(np.float64)
        cols: dict[str, np.ndarray] = {}
        for name in SUM_METRICS:
            cols[name] = np.bincount(seg, weights=per[name], minlength=n)
        for name in MEAN_METRICS:
            tot = np.bincount(seg, weights=per[name], minlength=n)
            cols[name] = np.divide(tot, cnt, out=np.zeros(n), where=cnt > 0)
        for name in SHARE_METRICS:
            tot = np.bincount(seg, weights=per[name], minlength=n)
            cols[name] = np.divide(tot, cnt, out=np.ones(n), where=cnt > 0)
        if self.aux is None:
            for name in CLASSIFIER_METRICS:
                cols[name] = np.full(n, np.nan)
        masks = self.markers.masks(mask_texts)
        pm = masks[np.asarray(ex_p, dtype=np.int64)] if ex_p else np.zeros(0, dtype=np.int64)
        cm = masks[np.asarray(ex_c, dtype=np.int64)] if ex_c else np.zeros(0, dtype=np.int64)
        cols["linguistic_accommodation"] = coordination(
            pm, cm, np.asarray(ex_seg, dtype=np.int64), n, len(self.markers.classes)
        )
        for j, name in enumerate(struct_names):
            cols[name] = struct[:, j]
        x = (
            np.column_stack([cols[m] for m in METRIC_NAMES])
            if n
            else np.zeros((0, len(METRIC_NAMES)))
        )
        return x, n_replies, cnt

    def trajectories(self, x: np.ndarray) -> np.ndarray | None:
        """Trajectory values of a metric matrix (``None`` without a trajectory bundle)."""
        if self.trajectory is None or self.aux is None:
            return None
        cols = [METRIC_NAMES.index(f) for f in self.trajectory.features]
        return self.trajectory.transform(x[:, cols])

    def safe_values(
        self, tlcs: Sequence[Node], full: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Moderator-safe outcome of each TLC (``None`` without aux models or without a safe
        outcome in the trajectory bundle)."""
        if self.trajectory is None or self.trajectory.safe is None or self.aux is None:
            return None
        return self.trajectory.safe.transform(self.safe_matrix(tlcs, full))

    def compute(self, tlcs: Sequence[Node]) -> list[Outcome]:
        """Outcomes of the given TLCs (one aux call for all their reply texts)."""
        x, n_replies = self.metric_matrix(tlcs)
        traj = self.trajectories(x)
        safe = self.safe_values(tlcs, x)
        out = []
        for i, tlc in enumerate(tlcs):
            metrics = {m: float(x[i, j]) for j, m in enumerate(METRIC_NAMES)}
            out.append(
                Outcome(
                    tlc=tlc.name,
                    post=tlc.parent,
                    n_replies=int(n_replies[i]),
                    metrics=metrics,
                    trajectory=None if traj is None else float(traj[i]),
                    versions=dict(self.versions),
                    safe=None if safe is None else float(safe[i]),
                )
            )
        return out
