"""Inference-only models for prosocial: outcome metrics, auxiliary metric models,
the prosocial trajectory, the empathy classifier and the trajectory forecaster.

Nothing here fits a model: bundles are written by the ``training`` package and loaded here.
"""

from models.errors import BundleError, ModelsError

__all__ = ["BundleError", "ModelsError"]
