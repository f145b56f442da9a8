"""The empathy cascade's second stage: an early exit part-way through the encoder.

Docs: docs/architecture.md, "Empathy inference".

Behind the n-gram gate (:mod:`models.empathy.gate`) the sentences it could not settle run
through the encoder. An :class:`EarlyExit` is a linear probe on the mean-pooled hidden states
after the first ``layer`` encoder layers (:class:`models.empathy.network.LowerNet`), distilled
onto the served model's own fp32 sentence labels (``prosocial-train empathy-exit``) and
calibrated by a temperature. A sentence whose top exit probability reaches that label's
threshold is *settled* there; only the others run the remaining layers
(:class:`models.empathy.network.UpperNet`), continuing from the hidden states already computed,
so a sentence the exit cannot settle costs no more than before. The thresholds are chosen on a
validation window as the gate's are, so that settled sentences agree with fp32 at least as often
as ``params.exit.min_agreement`` says.

The exit lives inside the empathy bundle: ``exit/weights.safetensors`` (``weights`` of shape
hidden size × labels, ``bias``) and ``params.exit`` (layer, labels, temperature, thresholds,
the agreement target). A bundle without ``params.exit`` has no exit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.empathy.gate import NEVER, settled_mask, softmax
from models.errors import BundleError

__all__ = ["EXIT_PARAM", "EXIT_WEIGHTS", "EarlyExit"]

#: ``params`` key of a bundle's early exit, and its weights file inside the bundle.
EXIT_PARAM = "exit"
EXIT_WEIGHTS = "exit/weights.safetensors"


class EarlyExit:
    """Calibrated 3-class probabilities from pooled hidden states after ``layer`` encoder
    layers, and which of them are settled."""

    def __init__(
        self,
        layer: int,
        weights: np.ndarray,
        bias: np.ndarray,
        *,
        labels: Sequence[str],
        temperature: float = 1.0,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.layer = int(layer)
        self.labels = list(labels)
        w = np.asarray(weights, dtype=np.float32)
        b = np.asarray(bias, dtype=np.float32).reshape(-1)
        k = len(self.labels)
        if w.ndim != 2 or w.shape[1] != k or b.shape != (k,):
            raise BundleError(f"exit weights {w.shape}/{b.shape} do not fit {k} labels")
        if self.layer < 1:
            raise BundleError(f"exit layer must be at least 1, got {self.layer}")
        if not temperature > 0:
            raise BundleError(f"exit temperature must be positive, got {temperature}")
        th = dict(thresholds or {})
        unknown = set(th) - set(self.labels)
        if unknown:
            raise BundleError(f"exit thresholds for unknown labels {sorted(unknown)}")
        self.weights, self.bias = w, b
        self.temperature = float(temperature)
        #: per label: settle when the exit's probability of that (top) label is at least this
        self.thresholds = {lab: float(th.get(lab, NEVER)) for lab in self.labels}
        self._th = np.array([self.thresholds[lab] for lab in self.labels], dtype=np.float64)

    @property
    def hidden_size(self) -> int:
        return int(self.weights.shape[0])

    @classmethod
    def from_bundle(cls, bundle: Any) -> EarlyExit | None:
        """The bundle's early exit, or ``None`` when it has none (``params.exit`` absent)."""
        cfg = bundle.params.get(EXIT_PARAM)
        if not cfg:
            return None
        try:
            tensors = bundle.load_tensors(EXIT_WEIGHTS)
            return cls(
                int(cfg["layer"]),
                tensors["weights"],
                tensors["bias"],
                labels=cfg.get("labels", bundle.labels),
                temperature=float(cfg.get("temperature", 1.0)),
                thresholds=cfg.get("thresholds"),
            )
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise BundleError(f"{bundle.path}: malformed empathy exit: {exc}") from exc

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        """Raw linear outputs ``(n, len(labels))`` of pooled states ``(n, hidden)``."""
        z = np.asarray(pooled, dtype=np.float32) @ self.weights + self.bias
        return np.nan_to_num(z.astype(np.float64), nan=0.0, posinf=50.0, neginf=-50.0)

    def probs(self, pooled: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``(n, len(labels))``."""
        return softmax(self.logits(pooled) / self.temperature)

    def settles(self, probs: np.ndarray) -> np.ndarray:
        """Boolean mask: the top probability reaches its label's threshold."""
        return settled_mask(probs, self._th)
