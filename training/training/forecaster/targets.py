"""Target functions: the real prosocial trajectory (aux + trajectory bundles)."""

from __future__ import annotations

import logging
from typing import Any

from models.bundle import Registry
from redditdata.tree import Thread
from training.forecaster.dataset import TargetFn

__all__ = ["load_aux_for_trajectory", "trajectory_target"]

logger = logging.getLogger(__name__)


def load_aux_for_trajectory(registry: Registry) -> Any:
    """The aux bundle the current trajectory was fitted on (if still in the registry), else
    the current aux — so targets are computed exactly as the trajectory was fitted."""
    from models.aux import AuxModels
    from models.errors import BundleError

    traj = registry.current("trajectory")
    want = traj.params.get("aux_version")
    if want:
        try:
            return AuxModels.from_bundle(registry.get("aux", str(want)))
        except BundleError:
            logger.warning(
                "aux %s (fitted with trajectory %s) not in the registry; using current",
                want,
                traj.version,
            )
    return AuxModels.from_registry(registry)


def trajectory_target(registry: Registry, aux: Any = None) -> tuple[TargetFn, dict[str, str]]:
    """``target_fn`` from the registry's ``aux`` + ``trajectory`` bundles and their versions
    (raises ``BundleMissingError`` naming the training command when one is missing)."""
    from models.outcomes import OutcomeComputer
    from models.trajectory import Trajectory

    aux = aux if aux is not None else load_aux_for_trajectory(registry)
    oc = OutcomeComputer(aux, Trajectory.from_registry(registry))

    def fn(thread: Thread) -> dict[str, float]:
        return {
            o.tlc: float(o.trajectory) for o in oc.compute(thread.tlcs) if o.trajectory is not None
        }

    return fn, dict(oc.versions)
