"""The paper's figures and the decision rules tuned on validation.

Precision, recall and F1 are macro-averaged over the classes of a setting (2 for seek/provide,
3 for multi) and given in percent, as in Table 5 of the paper. Decisions come from head
probabilities through a small :class:`Decision` (a class-bias vector for ``multi``; a blend of the
binary head with the 3-class head plus a threshold for ``seek``/``provide``) chosen on validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

__all__ = [
    "SETTINGS",
    "Decision",
    "confusion",
    "decide",
    "evaluate",
    "macro_f1",
    "prf",
    "tune_decisions",
]

SETTINGS: tuple[str, ...] = ("multi", "seek", "provide")
_POS = {"seek": 1, "provide": 2}


def prf(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Macro precision / recall / F1 in percent."""
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    return {
        "p": round(100 * float(p), 2),
        "r": round(100 * float(r), 2),
        "f1": round(100 * float(f), 2),
    }


@dataclass
class Decision:
    """How a setting's label is read from the heads' probabilities."""

    bias: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # multi: log-prob shift
    blend: float = 1.0  # seek/provide: weight of the binary head vs the 3-class head
    threshold: float = 0.5

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _binary_score(probs: Mapping[str, np.ndarray], setting: str, blend: float) -> np.ndarray:
    own = probs[setting][:, 1] if setting in probs else probs["multi"][:, _POS[setting]]
    return blend * own + (1.0 - blend) * probs["multi"][:, _POS[setting]]


def decide(probs: Mapping[str, np.ndarray], setting: str, d: Decision | None = None) -> np.ndarray:
    """Predicted labels of a setting (multi: 0/1/2; binary: 0/1)."""
    d = d or Decision()
    if setting == "multi":
        logp = np.log(np.clip(probs["multi"], 1e-9, 1.0)) + np.asarray(d.bias)
        return logp.argmax(1)
    return (_binary_score(probs, setting, d.blend) >= d.threshold).astype(np.int64)


def macro_f1(y: np.ndarray, p: np.ndarray, n: int) -> float:
    """Fast macro F1 in percent (same definition as :func:`prf`, zero_division=0)."""
    cm = np.bincount(y * n + p, minlength=n * n).reshape(n, n).astype(float)
    tp = np.diag(cm)
    denom = cm.sum(0) + cm.sum(1)
    f = np.divide(2 * tp, denom, out=np.zeros(n), where=denom > 0)
    return 100.0 * float(f.mean())


def _gold(labels: np.ndarray, setting: str) -> np.ndarray:
    return labels if setting == "multi" else (labels == _POS[setting]).astype(np.int64)


def tune_decisions(probs: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, Decision]:
    """Pick each setting's decision rule on *validation* probabilities (macro F1)."""
    out: dict[str, Decision] = {}
    grid = np.round(np.arange(-1.0, 1.01, 0.1), 2)
    best = (-1.0, Decision())
    y = _gold(labels, "multi")
    for b1 in grid:
        for b2 in grid:
            d = Decision(bias=[0.0, float(b1), float(b2)])
            f = macro_f1(y, decide(probs, "multi", d), 3) - 0.01 * (abs(b1) + abs(b2))
            if f > best[0]:
                best = (f, d)
    out["multi"] = best[1]
    for s in ("seek", "provide"):
        y = _gold(labels, s)
        best = (-1.0, Decision())
        blends = (0.0, 0.5, 1.0) if s in probs else (0.0,)
        for w in blends:
            for t in np.round(np.arange(0.2, 0.81, 0.02), 2):
                d = Decision(blend=w, threshold=float(t))
                f = macro_f1(y, decide(probs, s, d), 2) - 0.5 * abs(float(t) - 0.5)
                if f > best[0]:
                    best = (f, d)
        out[s] = best[1]
    return out


def evaluate(
    probs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    decisions: Mapping[str, Decision] | None = None,
) -> dict[str, dict[str, float]]:
    """Macro P/R/F1 (percent) for every setting."""
    decisions = decisions or {}
    return {s: prf(_gold(labels, s), decide(probs, s, decisions.get(s))) for s in SETTINGS}


def confusion(
    probs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    setting: str = "multi",
    decision: Decision | None = None,
) -> np.ndarray:
    y = _gold(labels, setting)
    n = 3 if setting == "multi" else 2
    return confusion_matrix(y, decide(probs, setting, decision), labels=list(range(n)))
