"""Drift: a subreddit whose rolling forecast quality falls below its own history.

The evaluator hands every rolling figure of the serving forecaster (whatever its version) to
:meth:`DriftMonitor.observe`. A subreddit drifts when the newest value of ``metric`` is more
than ``margin`` below the mean of its previous ``history`` values (at least ``min_history`` of
them). Each check sets the gauges ``prosocial_forecast_quality{subreddit,metric}`` and
``prosocial_forecast_drift{subreddit}`` (1 = drifting) and logs a warning when drift starts.
Settings: ``drift_metric``, ``drift_history``, ``drift_margin``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

__all__ = ["DriftMonitor"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class DriftMonitor:
    registry: InitVar[CollectorRegistry]
    _: KW_ONLY
    metric: str = "pairwise_acc"
    history: int = 10
    margin: float = 0.05
    min_history: int = 3
    drifting: set[str] = field(default_factory=set, init=False)
    _past: dict[str, deque[float]] = field(default_factory=dict, init=False)

    def __post_init__(self, registry: CollectorRegistry) -> None:
        self.quality = Gauge(
            "prosocial_forecast_quality",
            "newest rolling forecast quality",
            ["subreddit", "metric"],
            registry=registry,
        )
        self.flag = Gauge(
            "prosocial_forecast_drift",
            "1 when the subreddit's rolling forecast quality fell below its own history",
            ["subreddit"],
            registry=registry,
        )

    def observe(self, subreddit: str, figures: dict[str, Any]) -> dict[str, Any] | None:
        """Check one new rolling figure; returns the drift verdict (or None without a value)."""
        v = figures.get(self.metric)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        past = self._past.setdefault(subreddit, deque(maxlen=self.history))
        baseline = sum(past) / len(past) if len(past) >= self.min_history else None
        drift = baseline is not None and v < baseline - self.margin
        self.quality.labels(subreddit=subreddit, metric=self.metric).set(v)
        self.flag.labels(subreddit=subreddit).set(1 if drift else 0)
        if drift and subreddit not in self.drifting:
            logger.warning(
                "drift: r/%s %s %.4f is below its own history %.4f − %.4f (last %d windows)",
                subreddit,
                self.metric,
                v,
                baseline,
                self.margin,
                len(past),
            )
            self.drifting.add(subreddit)
        elif not drift and subreddit in self.drifting:
            logger.info("drift: r/%s back to its history (%s %.4f)", subreddit, self.metric, v)
            self.drifting.discard(subreddit)
        past.append(float(v))
        return {"drift": drift, "baseline": baseline, "value": v, "metric": self.metric}
