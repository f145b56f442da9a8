"""Prosocial outcome metrics of a TLC's reply tree (paper Table 1).

Names, order and signs: :mod:`models.metrics.names`. Each metric's reference definition:
:mod:`models.metrics.conversation` (built from :mod:`.structure`, :mod:`.lexical`,
:mod:`.domains`, :mod:`.accommodation` and the aux protocol in :mod:`.aux`). Batched
computation for many conversations: :class:`models.outcomes.OutcomeComputer`. Per-text values
for a TLC's own text: :func:`text_metrics`.
"""

from __future__ import annotations

from models.metrics.accommodation import Markers, load_markers
from models.metrics.aux import DEFAULT_THRESHOLDS, HEADS, AuxScorer
from models.metrics.conversation import conversation_metrics
from models.metrics.features import text_metrics
from models.metrics.names import (
    COUNT_METRICS,
    METRIC_NAMES,
    METRIC_SIGNS,
    METRIC_TRANSFORMS,
    TEXT_METRIC_NAMES,
)

__all__ = [
    "COUNT_METRICS",
    "DEFAULT_THRESHOLDS",
    "HEADS",
    "METRIC_NAMES",
    "METRIC_SIGNS",
    "METRIC_TRANSFORMS",
    "TEXT_METRIC_NAMES",
    "AuxScorer",
    "Markers",
    "conversation_metrics",
    "load_markers",
    "text_metrics",
]
