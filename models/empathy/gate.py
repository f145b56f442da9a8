"""The empathy cascade's first stage: a cheap gate that settles clear-cut sentences.

Docs: docs/architecture.md, "Empathy inference".

An :class:`EmpathyGate` is a linear model over the aux models' hashed word and byte n-gram
featurisation (:mod:`models.aux.features`), distilled onto the served empathy model's own
sentence labels (``prosocial-train empathy-gate``). Its logits are softened by a temperature
fitted on a validation window, so its probabilities are calibrated against that model's
decisions. A sentence is *settled* when the gate's top probability reaches the threshold of
that label; the thresholds are chosen on validation so that settled sentences agree with the
fp32 model at least as often as the bundle's ``params.gate.min_agreement`` says. Everything
else goes to the encoder as before (:class:`models.empathy.EmpathyClassifier`).

The gate lives inside the empathy bundle it was distilled from: ``gate/featurizer.json`` (the
featuriser spec with its vocabulary), ``gate/weights.safetensors`` (``idf``, ``weights``,
``bias``) and ``params.gate`` (labels, temperature, thresholds, the source bundle). A bundle
without ``params.gate`` has no gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.aux.features import DENSE_FEATURES, Featurizer, FeaturizerSpec
from models.errors import BundleError

__all__ = [
    "GATE_FEATURIZER",
    "GATE_PARAM",
    "GATE_WEIGHTS",
    "EmpathyGate",
    "settled_mask",
    "softmax",
]

#: ``params`` key of a bundle's gate, and its files inside the bundle.
GATE_PARAM = "gate"
GATE_FEATURIZER = "gate/featurizer.json"
GATE_WEIGHTS = "gate/weights.safetensors"

#: A threshold above 1 never settles its label.
NEVER = 2.0


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def settled_mask(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``probs`` whose top probability reaches the threshold of
    its label (``thresholds``: one per column); a stage of the cascade settles those."""
    if probs.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    top = probs.argmax(axis=1)
    return probs[np.arange(probs.shape[0]), top] >= thresholds[top]


class EmpathyGate:
    """Calibrated 3-class probabilities from n-gram features, and which of them are settled."""

    def __init__(
        self,
        featurizer: Featurizer,
        weights: np.ndarray,
        bias: np.ndarray,
        *,
        labels: Sequence[str],
        temperature: float = 1.0,
        thresholds: Mapping[str, float] | None = None,
        batch_size: int = 4096,
    ) -> None:
        self.labels = list(labels)
        weights = np.asarray(weights, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float64).reshape(-1)
        k = len(self.labels)
        if weights.shape != (featurizer.n_features, k) or bias.shape != (k,):
            raise BundleError(
                f"gate weights {weights.shape}/{bias.shape} do not fit "
                f"{featurizer.n_features} features × {k} labels"
            )
        if not temperature > 0:
            raise BundleError(f"gate temperature must be positive, got {temperature}")
        th = dict(thresholds or {})
        unknown = set(th) - set(self.labels)
        if unknown:
            raise BundleError(f"gate thresholds for unknown labels {sorted(unknown)}")
        self.featurizer = featurizer
        self._tables = featurizer.tables(weights)
        self._bias = bias
        self.temperature = float(temperature)
        #: per label: settle when the gate's probability of that (top) label is at least this
        self.thresholds = {lab: float(th.get(lab, NEVER)) for lab in self.labels}
        self._th = np.array([self.thresholds[lab] for lab in self.labels], dtype=np.float64)
        self.batch_size = max(1, int(batch_size))

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, bundle: Any) -> EmpathyGate | None:
        """The bundle's gate, or ``None`` when it has none (``params.gate`` absent)."""
        cfg = bundle.params.get(GATE_PARAM)
        if not cfg:
            return None
        try:
            spec = FeaturizerSpec.from_json(bundle.read_json(GATE_FEATURIZER))
            tensors = bundle.load_tensors(GATE_WEIGHTS)
            dense = list(cfg.get("dense_features", DENSE_FEATURES))
            if dense != list(DENSE_FEATURES):
                raise BundleError(f"gate dense features {dense} != {list(DENSE_FEATURES)}")
            return cls(
                Featurizer(spec, idf=tensors["idf"]),
                tensors["weights"],
                tensors["bias"],
                labels=cfg.get("labels", bundle.labels),
                temperature=float(cfg.get("temperature", 1.0)),
                thresholds=cfg.get("thresholds"),
            )
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise BundleError(f"{bundle.path}: malformed empathy gate: {exc}") from exc

    # -- scoring --------------------------------------------------------------------------
    def logits(self, texts: Sequence[object]) -> np.ndarray:
        """Raw linear outputs ``(len(texts), len(labels))`` (before the temperature)."""
        out = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        for s in range(0, len(texts), self.batch_size):
            chunk = texts[s : s + self.batch_size]
            out[s : s + len(chunk)] = self.featurizer.linear(chunk, self._tables, self._bias)
        return np.nan_to_num(out, nan=0.0, posinf=50.0, neginf=-50.0)

    def probs(self, texts: Sequence[object]) -> np.ndarray:
        """Calibrated probabilities ``(len(texts), len(labels))``."""
        return softmax(self.logits(texts) / self.temperature)

    def settles(self, probs: np.ndarray) -> np.ndarray:
        """Boolean mask: the top probability reaches its label's threshold."""
        return settled_mask(probs, self._th)

    def split(self, texts: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        """``(probs, settled)`` for ``texts``."""
        p = self.probs(texts)
        return p, self.settles(p)
