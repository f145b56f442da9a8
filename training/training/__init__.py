"""Offline training for prosocial. Never imported by serving code (bot, streaming, models)."""

from training.errors import TrainingError

__all__ = ["TrainingError"]
