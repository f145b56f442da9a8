"""Auxiliary prosocial-metric models: toxicity (Perspective-calibrated), politeness,
supportiveness, advice (mentoring) and information sharing, behind one fast featuriser."""

from models.aux.calibration import Calibrator
from models.aux.features import DENSE_FEATURES, Featurizer, FeaturizerSpec
from models.aux.model import AUX_BUNDLE, AUX_HEADS, DEFAULT_THRESHOLDS, HEAD_KINDS, AuxModels

__all__ = [
    "AUX_BUNDLE",
    "AUX_HEADS",
    "DEFAULT_THRESHOLDS",
    "DENSE_FEATURES",
    "HEAD_KINDS",
    "AuxModels",
    "Calibrator",
    "Featurizer",
    "FeaturizerSpec",
]
