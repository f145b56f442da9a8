"""Held-out evaluation of an ``aux`` bundle through the serving code path (:class:`AuxModels`).

Every figure is computed on data no head was fitted or tuned on, and sits next to the
paper's figure (``paper``) where the paper gives one. Figures on substitute data are marked
``comparable: false``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from training.aux.data import Labelled
from training.aux.datasets import RUDDIT_TOXIC_ABOVE, AuxData

from models.aux import AuxModels

__all__ = ["PAPER", "evaluate_aux"]

#: The paper's own figures (Appendix A.1, A.3, A.7, A.8).
PAPER: dict[str, dict[str, Any]] = {
    "toxicity": {"model": "Perspective API", "thresholds": [0.5, 0.8]},
    "politeness": {"pearson_r": 0.66, "model": "Reddit-MLM BERT, Stanford + Wang&Jurgens, 5-fold"},
    "supportiveness": {"pearson_r": 0.58, "model": "Reddit-MLM BERT on Wang&Jurgens (2018)"},
    "advice": {"f1": 0.762, "threshold": 0.7, "model": "logistic regression, uni+bigrams"},
    "info": {"f1": 0.713, "threshold": 0.7, "model": "logistic regression, uni+bigrams"},
}


def _r(x: float) -> float:
    return float(round(float(x), 4))


def _pearson(p: np.ndarray, y: np.ndarray) -> float:
    return _r(pearsonr(p, y)[0]) if len(y) > 2 and np.std(p) > 0 and np.std(y) > 0 else 0.0


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return _r(roc_auc_score(y, p)) if 0 < np.mean(y) < 1 else None


def _binary(y: np.ndarray, p: np.ndarray, thr: float) -> dict[str, Any]:
    pred = (p >= thr).astype(int)
    yy = y.astype(int)
    return {
        "threshold": thr,
        "f1": _r(f1_score(yy, pred, zero_division=0)),
        "precision": _r(precision_score(yy, pred, zero_division=0)),
        "recall": _r(recall_score(yy, pred, zero_division=0)),
    }


def _classifier(scores: np.ndarray, lab: Labelled, thr: float) -> dict[str, Any]:
    y = (lab.y > 0.5).astype(int)
    return {
        "n": len(y),
        "positive_rate": _r(y.mean()) if len(y) else None,
        "auc": _auc(y, scores),
        **_binary(y, scores, thr),
        "f1_at_0.5": _binary(y, scores, 0.5)["f1"],
    }


def _agreement(p: np.ndarray, y: np.ndarray, thr: float) -> dict[str, Any]:
    a, b = (y >= thr).astype(int), (p >= thr).astype(int)
    kappa = cohen_kappa_score(a, b) if len(set(a)) > 1 or len(set(b)) > 1 else 1.0
    return {
        "perspective_rate": _r(a.mean()),
        "model_rate": _r(b.mean()),
        "accuracy": _r((a == b).mean()),
        "kappa": _r(kappa),
        "auc": _auc(a, p),
        **_binary(a, p, thr),
    }


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(p[m].mean() - y[m].mean())
    return _r(err)


#: ``score(labelled, head)``: the model's scores of one head for a labelled set.
Score = Callable[[Labelled, str], np.ndarray]


def evaluate_aux(model: AuxModels, data: AuxData) -> dict[str, Any]:
    """One JSON-able dict: per head, held-out figures and the paper's."""

    def score(lab: Labelled, head: str) -> np.ndarray:
        return model.score(lab.texts)[head] if len(lab) else np.zeros(0)

    th = model.thresholds
    return {
        "version": model.version,
        "toxicity": {"heldout": _toxicity(score, data, th), "paper": PAPER["toxicity"]},
        "politeness": _politeness(score, data),
        "supportiveness": _supportiveness(score, data),
        "advice": _advice(score, data, th),
        "info": _info(score, data, th),
    }


def _toxicity(score: Score, data: AuxData, th: Mapping[str, float]) -> dict[str, Any]:
    tox: dict[str, Any] = {}
    ev = data.evals["toxicity"]
    for name in ("toxichat_test", "davidson_test", "wiki_toxic_test"):
        tox[name] = _classifier(score(ev[name], "toxicity"), ev[name], th["toxic"])
    gb = ev["goemotions_benign_test"]
    p = score(gb, "toxicity")
    tox["goemotions_benign_test"] = {
        "n": len(gb),
        "rate_at_0.5": _r((p >= th["toxic"]).mean()) if len(gb) else None,
        "rate_at_0.8": _r((p >= th["extremely_toxic"]).mean()) if len(gb) else None,
        "note": "false-positive rate on benign Reddit comments (lower is better)",
    }
    rd = ev["ruddit_test"]
    p = score(rd, "toxicity")
    tox["ruddit_test"] = {
        "n": len(rd),
        "pearson_r": _pearson(p, rd.y),
        "auc_offensive": _auc((rd.y > RUDDIT_TOXIC_ABOVE).astype(int), p),
    }
    pz = data.perspective["test"]
    p = score(pz, "toxicity")
    tox["perspective_heldout"] = {
        "n": len(pz),
        "pearson_r": _pearson(p, pz.y),
        "spearman": _r(spearmanr(p, pz.y)[0]) if len(pz) > 2 else 0.0,
        "mae": _r(np.abs(p - pz.y).mean()) if len(pz) else None,
        "calibration_error": _ece(p, pz.y) if len(pz) else None,
        "mean_score": {
            "model": _r(p.mean()) if len(pz) else None,
            "perspective": _r(pz.y.mean()) if len(pz) else None,
        },
        "at_0.5": _agreement(p, pz.y, th["toxic"]),
        "at_0.8": _agreement(p, pz.y, th["extremely_toxic"]),
        "note": "Wikipedia comments; Perspective TOXICITY@6 as the reference",
    }
    return tox


def _politeness(score: Score, data: AuxData) -> dict[str, Any]:
    po = data.evals["politeness"]["test"]
    return {
        "heldout": {"test": {"n": len(po), "pearson_r": _pearson(score(po, "politeness"), po.y)}},
        "paper": PAPER["politeness"],
        "comparable": False,
        "note": "Stanford Politeness only (Wang & Jurgens data unavailable); "
        "paper combined both datasets",
    }


def _supportiveness(score: Score, data: AuxData) -> dict[str, Any]:
    su = data.evals["supportiveness"]
    return {
        "heldout": {
            k: {"n": len(v), "pearson_r": _pearson(score(v, "supportiveness"), v.y)}
            for k, v in su.items()
        },
        "paper": PAPER["supportiveness"],
        "comparable": False,
        "note": "substitute targets: GoEmotions supportive-minus-unsupportive emotions and "
        "Ruddit -offensiveness; the paper's r is on Wang & Jurgens ratings",
    }


def _advice(score: Score, data: AuxData, th: Mapping[str, float]) -> dict[str, Any]:
    return _binary_head(
        score,
        data,
        th,
        "advice",
        ("test", "paper_like_test"),
        "test: Advice-EMNLP2020 gold replies (any advice sentence = "
        "advice); paper_like_test: all advice-subreddit test replies vs "
        "GoEmotions replies at the paper's 21% positive rate",
    )


def _info(score: Score, data: AuxData, th: Mapping[str, float]) -> dict[str, Any]:
    return _binary_head(
        score,
        data,
        th,
        "info",
        ("test", "college_test"),
        "test: answers score>2 to questions (ELI5, r/AskAcademia, "
        "r/CollegeAdvice) vs other Reddit replies (GoEmotions, ToxiChat, Ruddit, "
        "reddit-college non-question threads); college_test: the reddit-college "
        "part only",
    )


def _binary_head(
    score: Score,
    data: AuxData,
    th: Mapping[str, float],
    head: str,
    sets: Sequence[str],
    note: str,
) -> dict[str, Any]:
    """A classifier head's figures on each held-out set, at its serving threshold."""
    evals = data.evals[head]
    return {
        "heldout": {n: _classifier(score(evals[n], head), evals[n], th[head]) for n in sets},
        "paper": PAPER[head],
        "comparable": False,
        "note": note,
    }
