"""Tiny, deterministic stand-ins for the model bundles, injected through constructors in
tests where the real bundles are not the point. They are never used by the
service itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redditdata.tree import Node, Post, iter_replies
from streaming.modelset import ModelSet

__all__ = [
    "TinyEmpathy",
    "TinyEmpathyResult",
    "TinyForecast",
    "TinyForecaster",
    "TinyOutcome",
    "TinyOutcomes",
    "tiny_models",
]


@dataclass
class TinyEmpathyResult:
    label: str
    probs: list[float]
    share_seeking: float = 0.0
    share_providing: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probs": self.probs}


class TinyEmpathy:
    version = "tiny-empathy-1"

    def __init__(self) -> None:
        self.calls = 0

    def predict_comments(self, texts: Sequence[str]) -> list[TinyEmpathyResult]:
        self.calls += 1
        out = []
        for t in texts:
            low = t.lower()
            if "?" in t:
                out.append(TinyEmpathyResult("seeking", [0.2, 0.7, 0.1], share_seeking=1.0))
            elif any(w in low for w in ("thank", "sorry", "hope", "you can", "good luck")):
                out.append(TinyEmpathyResult("providing", [0.2, 0.1, 0.7], share_providing=1.0))
            else:
                out.append(TinyEmpathyResult("none", [0.8, 0.1, 0.1]))
        return out


@dataclass
class TinyForecast:
    value: float
    lower: float
    upper: float
    reasons: list[tuple[str, float]] = field(default_factory=list)


class TinyForecaster:
    version = "tiny-forecaster-1"
    use_context = False
    use_empathy = False

    def __init__(self) -> None:
        self.checkpoints: dict[int, Any] = {}
        self.n_prior_seen: list[list[int] | None] = []

    def predict(
        self, post: Post, tlcs: list[Node], empathy: Any = None, *, n_prior: Any = None
    ) -> list[TinyForecast]:
        self.n_prior_seen.append(None if n_prior is None else list(n_prior))
        out = []
        for t in tlcs:
            v = (
                0.3 * math.log1p(len(t.body.split()))
                - 0.002 * (t.created_utc - post.created_utc) / 60
            )
            out.append(
                TinyForecast(v, v - 0.5, v + 0.5, [(f"length {len(t.body.split())} words", v)])
            )
        return out

    def predict_many(
        self,
        groups: Sequence[tuple[Any, ...]],
        empathy: Any = None,
        *,
        checkpoint: int = 0,
        timelines: Any = None,
    ) -> list[TinyForecast]:
        """The same forecast at every checkpoint (the tiny model sees only the TLC)."""
        out: list[TinyForecast] = []
        for post, tlcs, n_prior, *_context in groups:
            out += self.predict(post, tlcs, n_prior=n_prior)
        return out


@dataclass
class TinyOutcome:
    trajectory: float
    metrics: dict[str, float]
    safe: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trajectory": self.trajectory, "metrics": self.metrics}


class TinyOutcomes:
    def compute(self, tlcs: Sequence[Node]) -> list[TinyOutcome]:
        out = []
        for t in tlcs:
            replies = list(iter_replies(t))
            depth = max((r.depth for r in replies), default=0)
            out.append(
                TinyOutcome(
                    math.log1p(len(replies)) + 0.1 * depth,
                    {
                        "subsequent_comments": len(replies),
                        "direct_replies": len(t.children),
                        "conversation_depth": depth,
                    },
                )
            )
        return out


def tiny_models() -> ModelSet:

    return ModelSet(
        empathy=TinyEmpathy(),
        forecaster=TinyForecaster(),
        outcomes=TinyOutcomes(),
        outcome_versions={"aux": "tiny", "trajectory": "tiny"},
    )
