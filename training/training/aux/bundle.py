"""Writing the ``aux`` bundle (featuriser JSON + weights safetensors + calibration JSON)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from training.aux.fit import TrainedAux

from models.aux import (
    AUX_BUNDLE,
    AUX_HEADS,
    DEFAULT_THRESHOLDS,
    DENSE_FEATURES,
    Calibrator,
    Featurizer,
)
from models.bundle import Bundle, BundleWriter, Registry

__all__ = ["write_aux_bundle", "write_trained_aux"]

logger = logging.getLogger(__name__)


def write_aux_bundle(
    registry: Registry,
    featurizer: Featurizer,
    weights: np.ndarray,
    bias: np.ndarray,
    calibrator: Calibrator,
    *,
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    training_data_hash: str = "",
    make_current: bool = True,
) -> Bundle:
    """Write one ``aux`` bundle (heads in :data:`AUX_HEADS` order) and return it loaded."""
    if featurizer.idf is None:
        raise ValueError("featurizer has no idf")
    p: dict[str, Any] = {
        "heads": list(AUX_HEADS),
        "thresholds": dict(thresholds),
        "dense_features": list(DENSE_FEATURES),
        "featurizer": {k: v for k, v in featurizer.spec.to_json().items() if k != "vocab"},
        "vocab_size": featurizer.n_words,
    }
    p.update(params or {})
    with BundleWriter(
        registry,
        AUX_BUNDLE,
        labels=list(AUX_HEADS),
        features=["words", "chars", *DENSE_FEATURES],
        params=p,
        metrics=dict(metrics or {}),
        training_data_hash=training_data_hash,
        make_current=make_current,
    ) as w:
        w.save_json("featurizer.json", featurizer.spec.to_json())
        w.save_json("calibration.json", calibrator.to_json())
        w.save_tensors(
            "weights.safetensors",
            {
                "weights": np.asarray(weights, dtype=np.float32),
                "bias": np.asarray(bias, dtype=np.float32),
                "idf": np.asarray(featurizer.idf, dtype=np.float32),
            },
        )
        version = w.version
    logger.info("aux bundle %s written to %s", version, registry.root)
    return registry.get(AUX_BUNDLE, version)


def write_trained_aux(
    registry: Registry,
    trained: TrainedAux,
    *,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    training_data_hash: str = "",
) -> Bundle:
    """Write what :func:`training.aux.fit.train_aux` returned as the current ``aux`` bundle
    (the serving thresholds: :data:`models.aux.DEFAULT_THRESHOLDS`)."""
    return write_aux_bundle(
        registry,
        trained.featurizer,
        trained.weights,
        trained.bias,
        trained.calibrator,
        metrics=metrics,
        params={**trained.params, **(params or {})},
        training_data_hash=training_data_hash,
    )
