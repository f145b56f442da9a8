"""Empathy direction (Hosseini & Caragea, AAAI 2021): sentence splitting and inference.

``EmpathyClassifier.from_registry(registry)`` loads the current ``empathy`` bundle;
``predict_comments(texts)`` gives each comment its sentences' labels and an aggregate.
"""

from __future__ import annotations

from models.empathy.classifier import (
    BUNDLE_NAME,
    CommentEmpathy,
    EmpathyClassifier,
    SentencePrediction,
)
from models.empathy.splitter import split_sentences

__all__ = [
    "BUNDLE_NAME",
    "CommentEmpathy",
    "EmpathyClassifier",
    "SentencePrediction",
    "split_sentences",
]
