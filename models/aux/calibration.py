"""Monotone score calibration stored as JSON (isotonic knots or Platt scaling).

Used to map the toxicity head's raw logit onto the scale of Perspective API TOXICITY scores,
so that the paper's 0.5 / 0.8 thresholds keep their meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.errors import BundleError

__all__ = ["Calibrator"]


@dataclass(frozen=True)
class Calibrator:
    """``kind`` is ``"isotonic"`` or ``"quantile"`` (piecewise-linear through non-decreasing
    ``x``/``y`` knots, flat outside; isotonic regression vs quantile matching of the reference
    distribution), ``"platt"`` (``sigmoid(a * z + b)``) or ``"identity"`` (``sigmoid(z)``)."""

    kind: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("isotonic", "quantile", "platt", "identity"):
            raise BundleError(f"unknown calibration kind {self.kind!r}")
        if self.kind in ("isotonic", "quantile"):
            x, y = np.asarray(self.x, float), np.asarray(self.y, float)
            if x.size == 0 or x.shape != y.shape:
                raise BundleError(f"{self.kind} calibration needs equal-length non-empty x/y")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise BundleError(f"{self.kind} calibration knots must be non-decreasing")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.nan_to_num(np.asarray(z, dtype=np.float64), nan=0.0, posinf=50.0, neginf=-50.0)
        if self.kind in ("isotonic", "quantile"):
            out = np.interp(z, np.asarray(self.x), np.asarray(self.y))
        elif self.kind == "platt":
            out = 1.0 / (1.0 + np.exp(-np.clip(self.a * z + self.b, -50, 50)))
        else:
            out = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        return np.clip(out, 0.0, 1.0)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Calibrator:
        return cls(
            kind=str(d["kind"]),
            x=tuple(float(v) for v in d.get("x", ())),
            y=tuple(float(v) for v in d.get("y", ())),
            a=float(d.get("a", 1.0)),
            b=float(d.get("b", 0.0)),
        )
