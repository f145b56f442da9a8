"""The prosocial trajectory: PC1 of the standardised outcome metrics (paper §4, App. B).

A ``trajectory`` bundle (written by ``prosocial-train trajectory``) holds
``trajectory.json``::

    {"features": [...METRIC_NAMES...], "transforms": ["log1p", ...],
     "mean": [...], "std": [...], "loadings": [...]}

:meth:`Trajectory.transform` applies each metric's transform (see
:data:`models.metrics.names.METRIC_TRANSFORMS`: ``log1p`` for heavy-tailed counts,
``signed_log1p`` for the community score, identity for bounded means and shares), standardises
with the training mean / std and projects on the first principal component, whose sign was
fixed in training so that prosocial metrics load positively. Higher = more prosocial.

The same bundle may hold ``safe.json`` (same layout, over
:data:`models.metrics.names.SAFE_METRIC_NAMES`): the *moderator-safe outcome*
(:class:`SafeOutcome`) the service ranks by. Its columns are measured on the civil tree (toxic
replies cut off with their subtrees) and every weight has its expected sign (checked on load),
so adding a toxic reply to a conversation, or removing a polite or supportive one, never
raises it. PC1 itself is kept for comparison with the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from models.bundle import Bundle, Registry
from models.errors import BundleError
from models.metrics.accommodation import Markers
from models.metrics.names import METRIC_NAMES, SAFE_METRIC_NAMES, SAFE_METRIC_SIGNS

__all__ = [
    "BUNDLE_NAME",
    "MARKERS_FILE",
    "OUTCOMES",
    "SAFE_FILE",
    "TRAJECTORY_FILE",
    "LinearIndex",
    "SafeOutcome",
    "Trajectory",
    "apply_transforms",
]

BUNDLE_NAME = "trajectory"
TRAJECTORY_FILE = "trajectory.json"
SAFE_FILE = "safe.json"
#: The outcomes a forecaster can be trained on / evaluated against (``--target``); the first
#: is the default: the moderator-safe outcome.
OUTCOMES = ("safe", "trajectory")
MARKERS_FILE = "markers.json"
_TRANSFORMS = ("identity", "log1p", "signed_log1p")


def apply_transforms(x: np.ndarray, transforms: Sequence[str]) -> np.ndarray:
    """Column-wise variance-stabilising transforms of a metric matrix ``(n, k)``."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    for j, t in enumerate(transforms):
        if t == "log1p":
            out[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
        elif t == "signed_log1p":
            out[:, j] = np.sign(x[:, j]) * np.log1p(np.abs(x[:, j]))
        elif t != "identity":
            raise ValueError(f"unknown transform {t!r}")
    return out


@dataclass(frozen=True)
class LinearIndex:
    """Metrics transformed, standardised and projected on fixed loadings: what the trajectory
    (PC1) and the moderator-safe outcome both are (one JSON layout, one validation)."""

    #: how errors name it, and the metric names it may use
    kind: ClassVar[str] = "index"
    known: ClassVar[tuple[str, ...]] = ()

    features: tuple[str, ...]
    transforms: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    loadings: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.features)
        unknown = set(self.features) - set(self.known)
        if unknown:
            raise BundleError(f"{self.kind} uses unknown metrics {sorted(unknown)}")
        for name, arr in (("mean", self.mean), ("std", self.std), ("loadings", self.loadings)):
            if np.asarray(arr).shape != (k,):
                raise BundleError(
                    f"{self.kind} {name} has shape {np.asarray(arr).shape}, expected ({k},)"
                )
        if len(self.transforms) != k or any(t not in _TRANSFORMS for t in self.transforms):
            raise BundleError(f"{self.kind} transforms invalid: {self.transforms}")
        if not np.all(np.isfinite(self.std)) or np.any(np.asarray(self.std) <= 0):
            raise BundleError(f"{self.kind} std must be finite and positive")

    @staticmethod
    def fields_of(d: Mapping[str, Sequence[float] | Sequence[str]]) -> dict[str, Any]:
        """The constructor arguments stored in ``d`` (the :meth:`to_json` layout)."""
        return {
            "features": tuple(str(f) for f in d["features"]),
            "transforms": tuple(str(t) for t in d["transforms"]),
            "mean": np.asarray(d["mean"], dtype=np.float64),
            "std": np.asarray(d["std"], dtype=np.float64),
            "loadings": np.asarray(d["loadings"], dtype=np.float64),
        }

    def to_json(self) -> dict[str, list[float] | list[str]]:
        return {
            "features": list(self.features),
            "transforms": list(self.transforms),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "loadings": [float(v) for v in self.loadings],
        }


@dataclass(frozen=True)
class Trajectory(LinearIndex):
    """Standardiser + PC1 loadings; ``transform`` maps metrics to trajectory values."""

    kind: ClassVar[str] = "trajectory"
    known: ClassVar[tuple[str, ...]] = METRIC_NAMES

    version: str
    explained_variance_ratio: float | None = None
    #: The function-word markers accommodation was computed with when fitting (if stored).
    markers: Markers | None = None
    #: Version of the aux bundle whose scores the trajectory was fitted on (if recorded).
    aux_version: str | None = None
    #: The moderator-safe outcome fitted with it (``safe.json``; None in older bundles).
    safe: SafeOutcome | None = None

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Trajectory:
        d = bundle.read_json(TRAJECTORY_FILE)
        markers = None
        if (bundle.path / MARKERS_FILE).exists():
            try:
                markers = Markers.from_json(bundle.read_json(MARKERS_FILE))
            except (KeyError, ValueError, TypeError) as exc:
                raise BundleError(f"{bundle.path}/{MARKERS_FILE}: {exc}") from exc
        try:
            return cls(
                **cls.fields_of(d),
                version=bundle.version,
                explained_variance_ratio=bundle.metrics.get("explained_variance_ratio"),
                markers=markers,
                aux_version=bundle.params.get("aux_version"),
                safe=(
                    SafeOutcome.from_json(bundle.read_json(SAFE_FILE))
                    if (bundle.path / SAFE_FILE).exists()
                    else None
                ),
            )
        except KeyError as exc:
            raise BundleError(f"{bundle.path}/{TRAJECTORY_FILE} lacks {exc}") from exc

    @classmethod
    def from_registry(cls, registry: Registry) -> Trajectory:
        """The registry's current ``trajectory`` bundle (``BundleMissingError`` if none)."""
        return cls.from_bundle(registry.current(BUNDLE_NAME))

    def matrix(self, metrics: np.ndarray | Sequence[Mapping[str, float]]) -> np.ndarray:
        """Metric matrix ``(n, k)`` in :attr:`features` order."""
        if isinstance(metrics, np.ndarray):
            x = np.atleast_2d(np.asarray(metrics, dtype=np.float64))
            if x.shape[1] != len(self.features):
                raise ValueError(f"expected {len(self.features)} metric columns, got {x.shape[1]}")
            return x
        rows = list(metrics)
        x = np.empty((len(rows), len(self.features)), dtype=np.float64)
        for i, row in enumerate(rows):
            try:
                x[i] = [row[f] for f in self.features]
            except KeyError as exc:
                raise ValueError(f"metrics row {i} lacks {exc}") from exc
        return x

    def standardise(self, metrics: np.ndarray | Sequence[Mapping[str, float]]) -> np.ndarray:
        """Transformed and z-scored metrics."""
        return (apply_transforms(self.matrix(metrics), self.transforms) - self.mean) / self.std

    def transform(self, metrics: np.ndarray | Sequence[Mapping[str, float]]) -> np.ndarray:
        """Trajectory value per conversation (PC1 score; NaN where a metric is NaN)."""
        return self.standardise(metrics) @ self.loadings


@dataclass(frozen=True)
class SafeOutcome(LinearIndex):
    """The moderator-safe outcome: a sign-constrained linear index of the civil metrics."""

    kind: ClassVar[str] = "safe outcome"
    known: ClassVar[tuple[str, ...]] = SAFE_METRIC_NAMES

    def __post_init__(self) -> None:
        super().__post_init__()
        against = [f for f, w in zip(self.features, self.loadings) if w * SAFE_METRIC_SIGNS[f] < 0]
        if against:
            raise BundleError(f"safe outcome loads against the expected sign on {against}")

    @classmethod
    def from_json(cls, d: Mapping[str, Sequence[float] | Sequence[str]]) -> SafeOutcome:
        try:
            return cls(**cls.fields_of(d))
        except KeyError as exc:
            raise BundleError(f"safe outcome lacks {exc}") from exc

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Outcome per row of a matrix in :data:`SAFE_METRIC_NAMES` order."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        cols = [SAFE_METRIC_NAMES.index(f) for f in self.features]
        z = (apply_transforms(x[:, cols], self.transforms) - self.mean) / self.std
        return z @ self.loadings
