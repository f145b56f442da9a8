"""The empathy cascade's second stage: early exits part-way through the encoder.

Docs: docs/architecture.md, "Empathy inference".

Behind the n-gram gate (:mod:`models.empathy.gate`) the sentences it could not settle run
through the encoder. An :class:`EarlyExit` is a linear probe on the mean-pooled hidden states
after the first ``layer`` encoder layers (:class:`models.empathy.network.LowerNet`), distilled
onto the served model's own fp32 sentence labels (``prosocial-train empathy-exit``) and
calibrated by a temperature. A sentence whose top exit probability reaches that label's
threshold is *settled* there; only the others run the following layers, continuing from the
hidden states already computed, so a sentence no exit settles costs no more than before.

An :class:`ExitChain` holds one or more exits at increasing layers: a sentence the first does
not settle runs on to the next (:class:`models.empathy.network.MiddleNet` between two exits,
:class:`models.empathy.network.UpperNet` after the last). Each exit's thresholds are chosen on a
validation window, on the sentences the stages before it leave, as the gate's are, so that the
sentences it settles agree with fp32 at least as often as ``params.exit.min_agreement`` says.

The chain lives inside the empathy bundle: ``exit/weights.safetensors`` (per exit ``weights.L``
of shape hidden size × labels and ``bias.L``, L its layer) and ``params.exit`` (``labels``,
``probes``: per layer its temperature and thresholds; the agreement target). A bundle of one
exit written before chains (``params.exit.layer``, tensors ``weights`` / ``bias``) reads as a
chain of one. A bundle without ``params.exit`` has no exit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from models.empathy.gate import NEVER, settled_mask, softmax
from models.errors import BundleError

__all__ = ["EXIT_PARAM", "EXIT_WEIGHTS", "EarlyExit", "ExitChain"]

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


class ExitChain:
    """Early exits at increasing layers: a sentence stops at the first that settles it."""

    def __init__(self, exits: Sequence[EarlyExit]) -> None:
        self.exits = sorted(exits, key=lambda e: e.layer)
        if not self.exits:
            raise BundleError("an exit chain needs at least one exit")
        layers = [e.layer for e in self.exits]
        if len(set(layers)) != len(layers):
            raise BundleError(f"exit chain with repeated layers {layers}")
        if any(e.labels != self.exits[0].labels for e in self.exits):
            raise BundleError("the exits of a chain disagree on their labels")
        if len({e.hidden_size for e in self.exits}) != 1:
            raise BundleError("the exits of a chain disagree on the hidden size")

    @property
    def layers(self) -> list[int]:
        return [e.layer for e in self.exits]

    @property
    def labels(self) -> list[str]:
        return self.exits[0].labels

    def __iter__(self) -> Iterator[EarlyExit]:
        return iter(self.exits)

    def __len__(self) -> int:
        return len(self.exits)

    def __getitem__(self, i: int) -> EarlyExit:
        return self.exits[i]

    def params(self) -> dict[str, Any]:
        """``params.exit``'s description of the probes (the caller adds provenance)."""
        return {
            "layers": self.layers,
            "labels": list(self.labels),
            "probes": {
                str(e.layer): {"temperature": e.temperature, "thresholds": dict(e.thresholds)}
                for e in self.exits
            },
        }

    def tensors(self) -> dict[str, np.ndarray]:
        """The tensors of ``exit/weights.safetensors``."""
        out: dict[str, np.ndarray] = {}
        for e in self.exits:
            out[f"weights.{e.layer}"], out[f"bias.{e.layer}"] = e.weights, e.bias
        return out

    @classmethod
    def from_bundle(cls, bundle: Any) -> ExitChain | None:
        """The bundle's exits, or ``None`` when it has none (``params.exit`` absent)."""
        cfg = bundle.params.get(EXIT_PARAM)
        if not cfg:
            return None
        try:
            tensors = bundle.load_tensors(EXIT_WEIGHTS)
            labels = cfg.get("labels", bundle.labels)
            if "probes" not in cfg:  # one exit, as written before chains
                probes = {str(cfg["layer"]): cfg}
                tensors = {f"{k}.{cfg['layer']}": v for k, v in tensors.items()}
            else:
                probes = cfg["probes"]
            return cls(
                [
                    EarlyExit(
                        int(layer),
                        tensors[f"weights.{layer}"],
                        tensors[f"bias.{layer}"],
                        labels=labels,
                        temperature=float(p.get("temperature", 1.0)),
                        thresholds=p.get("thresholds"),
                    )
                    for layer, p in probes.items()
                ]
            )
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError, OSError) as exc:
            raise BundleError(f"{bundle.path}: malformed empathy exit: {exc}") from exc
