"""Pipeline stages: ingest, scorer, suggester, back-fill, evaluator.

Their contracts: docs/architecture.md, "Stages and their contracts".
"""

from streaming.stages.backfill import BackfillStage
from streaming.stages.base import (
    DatabaseStage,
    DeadLetters,
    ErrorPolicy,
    Stage,
    StageRunner,
    crash_policy,
    dead_letter_policy,
)
from streaming.stages.evaluator import EvaluatorStage
from streaming.stages.ingest import IngestStage, ReplaySource, Source
from streaming.stages.scorer import ScorerStage
from streaming.stages.suggester import SuggesterStage

__all__ = [
    "BackfillStage",
    "DatabaseStage",
    "DeadLetters",
    "ErrorPolicy",
    "EvaluatorStage",
    "IngestStage",
    "ReplaySource",
    "ScorerStage",
    "Source",
    "Stage",
    "StageRunner",
    "SuggesterStage",
    "crash_policy",
    "dead_letter_policy",
]
