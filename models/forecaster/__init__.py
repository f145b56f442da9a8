"""Trajectory forecaster (inference): forecast a TLC's prosocial trajectory from its post,
text and context; rank a post's TLCs; score rankings (DESIGN.md §4–6)."""

from models.forecaster.evaluation import (
    METRIC_KEYS,
    evaluate,
    figures,
    ndcg_at_k,
    post_stats,
    summarize,
)
from models.forecaster.features import FeatureExtractor
from models.forecaster.model import Forecast, Forecaster, make_metric_fn, reason_group

__all__ = [
    "METRIC_KEYS",
    "FeatureExtractor",
    "Forecast",
    "Forecaster",
    "evaluate",
    "figures",
    "make_metric_fn",
    "ndcg_at_k",
    "post_stats",
    "reason_group",
    "summarize",
]
