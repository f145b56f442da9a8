"""What the outcome metrics need from the auxiliary classifier models (``models.aux``).

:class:`AuxScorer` is the protocol :class:`models.aux.AuxModels` implements: one vectorised
``score(texts)`` call returning one array per head —

=================  ===========================================================  ==========
head               meaning                                                      range
=================  ===========================================================  ==========
``toxicity``       probability a Perspective-API rater would call it toxic      [0, 1]
``politeness``     politeness regression                                        [-1, 1]
``supportiveness`` supportiveness regression                                    [-1, 1]
``advice``         probability the reply gives advice / mentoring               [0, 1]
``info``           probability the reply shares information                     [0, 1]
=================  ===========================================================  ==========

Decision thresholds follow the paper (:data:`DEFAULT_THRESHOLDS`); a model may override them
through its ``thresholds`` mapping (same keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["DEFAULT_THRESHOLDS", "HEADS", "AuxScorer", "thresholds_of"]

HEADS: tuple[str, ...] = ("toxicity", "politeness", "supportiveness", "advice", "info")

#: Paper thresholds: Perspective 0.5 (toxic) / 0.8 (extremely toxic) (§2), advice ≥ 0.7
#: (A.3), information sharing ≥ 0.7 (A.1).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "toxic": 0.5,
    "extremely_toxic": 0.8,
    "advice": 0.7,
    "info": 0.7,
}


@runtime_checkable
class AuxScorer(Protocol):
    """The auxiliary models as the metrics use them."""

    @property
    def version(self) -> str: ...

    @property
    def thresholds(self) -> Mapping[str, float]: ...

    def score(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...


def thresholds_of(aux: AuxScorer | None) -> dict[str, float]:
    """The paper's thresholds, overridden by the model's own where it gives one."""
    out = dict(DEFAULT_THRESHOLDS)
    if aux is not None:
        for k, v in dict(getattr(aux, "thresholds", {}) or {}).items():
            if k in out:
                out[k] = float(v)
    return out
