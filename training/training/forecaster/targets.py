"""Target functions: the real prosocial trajectory (aux + trajectory bundles)."""

from __future__ import annotations

from typing import Any

from models.bundle import Registry
from models.tree import Thread
from training.forecaster.dataset import TargetFn

__all__ = ["trajectory_target"]


def trajectory_target(registry: Registry, aux: Any = None) -> tuple[TargetFn, dict[str, str]]:
    """``target_fn`` from the registry's ``aux`` + ``trajectory`` bundles and their versions
    (raises ``BundleMissingError`` naming the training command when one is missing)."""
    from models.aux import AuxModels
    from models.outcomes import OutcomeComputer
    from models.trajectory import Trajectory

    aux = aux if aux is not None else AuxModels.from_registry(registry)
    oc = OutcomeComputer(aux, Trajectory.from_registry(registry))

    def fn(thread: Thread) -> dict[str, float]:
        return {o.tlc: float(o.trajectory) for o in oc.compute(thread.tlcs)
                if o.trajectory is not None}

    return fn, dict(oc.versions)
