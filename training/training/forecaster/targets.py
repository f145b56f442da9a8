"""Target functions: the moderator-safe outcome or the paper's trajectory (aux + trajectory
bundles)."""

from __future__ import annotations

import logging
from typing import Any

from models.bundle import Registry
from redditdata.tree import Thread
from training.forecaster.dataset import TargetFn

__all__ = ["load_aux_for_trajectory", "outcome_target", "trajectory_target"]

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


def outcome_target(
    registry: Registry, aux: Any = None, target: str = "safe", *, memo: bool = True
) -> tuple[TargetFn, dict[str, str], Any]:
    """``(target_fn, versions, outcome computer)`` from the registry's ``aux`` +
    ``trajectory`` bundles; ``target``: ``"safe"`` (the moderator-safe outcome) or
    ``"trajectory"`` (PC1). The computer (``memo``: remembers per-text values) is what
    checkpoint features should be measured with. Raises ``BundleMissingError`` naming the
    training command when a bundle is missing, :class:`TrainingError` when the trajectory
    bundle predates the safe outcome."""
    from models.outcomes import OutcomeComputer
    from models.trajectory import OUTCOMES, Trajectory
    from training.errors import TrainingError

    if target not in OUTCOMES:
        raise ValueError(f"target must be one of {OUTCOMES}, got {target!r}")
    aux = aux if aux is not None else load_aux_for_trajectory(registry)
    traj = Trajectory.from_registry(registry)
    if target == "safe" and traj.safe is None:
        raise TrainingError(
            f"trajectory {traj.version} has no safe outcome: re-run prosocial-train trajectory"
        )
    oc = OutcomeComputer(aux, traj, memo=memo)

    def fn(thread: Thread) -> dict[str, float]:
        out = {}
        for o in oc.compute(thread.tlcs):
            v = o.value(target)
            if v is not None:
                out[o.tlc] = float(v)
        return out

    return fn, dict(oc.versions), oc


def trajectory_target(registry: Registry, aux: Any = None) -> tuple[TargetFn, dict[str, str]]:
    """The paper's trajectory as ``target_fn`` (see :func:`outcome_target`)."""
    fn, versions, _ = outcome_target(registry, aux, "trajectory", memo=False)
    return fn, versions
