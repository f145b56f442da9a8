"""Inference for the auxiliary prosocial-metric models (bundle ``"aux"``).

One shared featurisation (:mod:`models.aux.features`) feeds five linear heads with a single
sparse matrix product, so scoring a batch costs one featurisation pass:

- ``toxicity``: logistic head, then a monotone calibrator onto the Perspective TOXICITY scale
  (probability-like in [0, 1]; the paper's thresholds 0.5 "toxic" / 0.8 "extremely toxic").
- ``politeness``, ``supportiveness``: ridge regressors on a [-1, 1] scale (clipped).
- ``advice`` (mentoring), ``info`` (information sharing): logistic probabilities in [0, 1]
  (the paper counts a reply when the probability is ``>= 0.7``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from models.aux.calibration import Calibrator
from models.aux.features import DENSE_FEATURES, Featurizer, FeaturizerSpec
from models.bundle import Bundle, Registry
from models.errors import BundleError

__all__ = ["AUX_BUNDLE", "AUX_HEADS", "DEFAULT_THRESHOLDS", "HEAD_KINDS", "AuxModels"]

logger = logging.getLogger(__name__)

AUX_BUNDLE = "aux"
AUX_HEADS: tuple[str, ...] = ("toxicity", "politeness", "supportiveness", "advice", "info")
#: ``logistic`` → sigmoid probability; ``regression`` → value clipped to [-1, 1];
#: ``calibrated`` → logistic logit mapped by the bundle's calibrator.
HEAD_KINDS: dict[str, str] = {
    "toxicity": "calibrated",
    "politeness": "regression",
    "supportiveness": "regression",
    "advice": "logistic",
    "info": "logistic",
}
DEFAULT_THRESHOLDS: dict[str, float] = {
    "advice": 0.7,
    "info": 0.7,
    "toxic": 0.5,
    "extremely_toxic": 0.8,
}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


class AuxModels:
    """Scores texts with every auxiliary head at once."""

    def __init__(
        self,
        featurizer: Featurizer,
        weights: np.ndarray,
        bias: np.ndarray,
        calibrator: Calibrator,
        *,
        heads: Sequence[str] = AUX_HEADS,
        thresholds: Mapping[str, float] | None = None,
        version: str = "unversioned",
        batch_size: int = 4096,
    ) -> None:
        heads = tuple(heads)
        if set(heads) != set(AUX_HEADS):
            raise BundleError(f"aux heads {heads} != {AUX_HEADS}")
        weights = np.asarray(weights, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float32).reshape(-1)
        if weights.shape != (featurizer.n_features, len(heads)) or bias.shape != (len(heads),):
            raise BundleError(
                f"aux weights {weights.shape}/{bias.shape} do not fit "
                f"{featurizer.n_features} features × {len(heads)} heads"
            )
        self.featurizer = featurizer
        self._tables = featurizer.tables(weights)
        self._bias = bias
        self.heads = heads
        self.calibrator = calibrator
        self.thresholds: dict[str, float] = dict(DEFAULT_THRESHOLDS)
        self.thresholds.update(thresholds or {})
        self.version = version
        self.batch_size = max(1, int(batch_size))

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, bundle: Bundle) -> AuxModels:
        try:
            spec = FeaturizerSpec.from_json(bundle.read_json("featurizer.json"))
            tensors = bundle.load_tensors("weights.safetensors")
            calibrator = Calibrator.from_json(bundle.read_json("calibration.json"))
            params = bundle.params
            featurizer = Featurizer(spec, idf=tensors["idf"])
            dense = list(params.get("dense_features", DENSE_FEATURES))
            if dense != list(DENSE_FEATURES):
                raise BundleError(f"bundle dense features {dense} != {list(DENSE_FEATURES)}")
            return cls(
                featurizer,
                tensors["weights"],
                tensors["bias"],
                calibrator,
                heads=params.get("heads", AUX_HEADS),
                thresholds=params.get("thresholds"),
                version=bundle.version,
            )
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise BundleError(f"aux bundle {bundle.path} is malformed: {exc}") from exc

    @classmethod
    def from_registry(cls, registry: Registry) -> AuxModels:
        """Load the registry's current ``aux`` bundle (verified)."""
        bundle = registry.current(AUX_BUNDLE)
        logger.info("loading aux bundle %s from %s", bundle.version, bundle.path)
        return cls.from_bundle(bundle)

    # -- scoring --------------------------------------------------------------------------
    def logits(self, texts: Sequence[object]) -> np.ndarray:
        """Raw linear outputs, shape ``(len(texts), len(heads))`` in :attr:`heads` order."""
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        texts = list(texts)
        out = np.empty((len(texts), len(self.heads)), dtype=np.float32)
        for s in range(0, len(texts), self.batch_size):
            chunk = texts[s : s + self.batch_size]
            out[s : s + len(chunk)] = self.featurizer.linear(chunk, self._tables, self._bias)
        return np.nan_to_num(out, nan=0.0, posinf=50.0, neginf=-50.0)

    def score(self, texts: Sequence[object]) -> dict[str, np.ndarray]:
        """Each head → float64 array of ``len(texts)`` (a bare string counts as one text)."""
        z = self.logits(texts).astype(np.float64)
        out: dict[str, np.ndarray] = {}
        for j, head in enumerate(self.heads):
            kind = HEAD_KINDS[head]
            if kind == "calibrated":
                out[head] = self.calibrator(z[:, j])
            elif kind == "regression":
                out[head] = np.clip(z[:, j], -1.0, 1.0)
            else:
                out[head] = _sigmoid(z[:, j])
        return {h: out[h] for h in AUX_HEADS}
