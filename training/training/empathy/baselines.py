"""The paper's cheap baselines, one model per setting, tuned on validation.

- ``tfidf-logreg`` / ``tfidf-svm``: word (1-2)-gram TF-IDF + logistic regression / linear SVM
  (the paper's "Traditional Machine Learning" row).
- ``lexicon``: counts of NRC emotion-lexicon words for the Plutchik-8 emotions and
  positive/negative sentiment plus MPQA strong/weak subjective clues, normalised by length, into a
  logistic regression (the paper's "Lexical-based" row).

The regularisation strength is chosen on the validation split; the test split is scored once.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from training.empathy.data import EmpathyData, binary_labels
from training.empathy.metrics import SETTINGS, prf

__all__ = ["Lexicon", "lexicon_features", "load_lexicon", "run_baselines"]

logger = logging.getLogger(__name__)

_EMOTIONS = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "sadness",
    "surprise",
    "trust",
    "positive",
    "negative",
)
_TOKEN = re.compile(r"[a-z']+")
Lexicon = dict[str, set[str]]


def load_lexicon(lexicon_dir: Path) -> Lexicon:
    """Word sets per NRC emotion / sentiment and per MPQA subjectivity strength."""
    lex: Lexicon = defaultdict(set)
    with open(lexicon_dir / "nrc-emotion.txt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.strip().split("\t")
            if len(parts) == 3 and parts[2] == "1" and parts[1] in _EMOTIONS:
                lex[parts[1]].add(parts[0])
    with open(
        lexicon_dir / "subjclueslen1-HLTEMNLP05.tff", encoding="utf-8", errors="replace"
    ) as fh:
        for line in fh:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if kv.get("type") in ("strongsubj", "weaksubj") and "word1" in kv:
                lex[kv["type"]].add(kv["word1"])
    return dict(lex)


def lexicon_features(texts: list[str], lex: Lexicon) -> np.ndarray:
    keys = sorted(lex)
    out = np.zeros((len(texts), len(keys) * 2 + 1), dtype=np.float64)
    for i, t in enumerate(texts):
        toks = _TOKEN.findall(t.lower())
        n = max(1, len(toks))
        for j, k in enumerate(keys):
            c = sum(1 for w in toks if w in lex[k])
            out[i, j] = c
            out[i, len(keys) + j] = c / n
        out[i, -1] = np.log1p(len(toks))
    return out


def _fit_select(
    make: Callable[[float], Any],
    grid: tuple[float, ...],
    xtr: Any,
    ytr: np.ndarray,
    xva: Any,
    yva: np.ndarray,
) -> tuple[Any, float]:
    best: tuple[float, Any, float] = (-1.0, None, 0.0)
    for c in grid:
        clf = make(c).fit(xtr, ytr)
        f = prf(yva, clf.predict(xva))["f1"]
        if f > best[0]:
            best = (f, clf, c)
    return best[1], best[2]


def run_baselines(data: EmpathyData, lexicon_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Test-split P/R/F1 (percent, macro) of each baseline in each setting."""
    results: dict[str, dict[str, Any]] = {}
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    xtr = vec.fit_transform(data.train.texts)
    xva, xte = vec.transform(data.valid.texts), vec.transform(data.test.texts)
    makers: dict[str, Callable[[float], Any]] = {
        "tfidf-logreg": lambda c: LogisticRegression(C=c, max_iter=2000, class_weight="balanced"),
        "tfidf-svm": lambda c: LinearSVC(C=c, class_weight="balanced"),
    }
    feats = {"tfidf-logreg": (xtr, xva, xte), "tfidf-svm": (xtr, xva, xte)}
    if lexicon_dir is not None and (lexicon_dir / "nrc-emotion.txt").exists():
        lex = load_lexicon(lexicon_dir)
        sc = StandardScaler()
        ltr = sc.fit_transform(lexicon_features(data.train.texts, lex))
        lva = sc.transform(lexicon_features(data.valid.texts, lex))
        lte = sc.transform(lexicon_features(data.test.texts, lex))
        makers["lexicon"] = lambda c: LogisticRegression(
            C=c, max_iter=2000, class_weight="balanced"
        )
        feats["lexicon"] = (ltr, lva, lte)
    else:
        logger.warning("lexicon baseline skipped: no lexicons under %s", lexicon_dir)
    grid = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    for name, make in makers.items():
        ftr, fva, fte = feats[name]
        res: dict[str, Any] = {}
        for s in SETTINGS:
            ytr = binary_labels(data.train.labels, s)
            yva = binary_labels(data.valid.labels, s)
            yte = binary_labels(data.test.labels, s)
            clf, c = _fit_select(make, grid, ftr, ytr, fva, yva)
            res[s] = {**prf(yte, clf.predict(fte)), "C": c}
        results[name] = res
        logger.info("baseline %s: %s", name, res)
    return results
