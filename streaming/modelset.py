"""The models the stages use, loaded from the registry — or reported missing, never faked.

The stages only see the small protocols below, so tests inject tiny models through the
constructors and serving loads the real bundles with :func:`load_models`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from redditdata.tree import Node, Post

__all__ = [
    "MODEL_NAMES",
    "EmpathyModel",
    "ForecastModel",
    "ModelSet",
    "OutcomeModel",
    "load_models",
]

logger = logging.getLogger(__name__)

#: The bundles the service uses: empathy + forecaster to score; aux + trajectory to back-fill.
MODEL_NAMES = ("empathy", "forecaster", "aux", "trajectory")


class EmpathyModel(Protocol):
    version: str

    def predict_comments(self, texts: Sequence[str]) -> list[Any]:
        """One result per text with ``.label``, ``.to_dict()``."""
        ...


class ForecastModel(Protocol):
    version: str

    def predict(self, post: Post, tlcs: list[Node], empathy: Any = None) -> list[Any]:
        """One forecast per TLC with ``.value, .lower, .upper, .reasons``."""
        ...


class OutcomeModel(Protocol):
    def compute(self, tlcs: list[Node]) -> list[Any]:
        """One outcome per TLC with ``.trajectory``, ``.metrics``, ``.to_dict()``."""
        ...


@dataclass
class ModelSet:
    empathy: EmpathyModel | None = None
    forecaster: ForecastModel | None = None
    outcomes: OutcomeModel | None = None
    outcome_versions: dict[str, str] = field(default_factory=dict)
    #: bundle name → why it is missing (with the command that trains it)
    missing: dict[str, str] = field(default_factory=dict)

    def versions(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {
            "empathy": getattr(self.empathy, "version", None) if self.empathy else None,
            "forecaster": getattr(self.forecaster, "version", None) if self.forecaster else None,
        }
        out.update(self.outcome_versions)
        return out


def _why(exc: Exception) -> str:
    hint = getattr(exc, "hint", "")
    return f"{exc}" + (f" — train with: {hint}" if hint and hint not in str(exc) else "")


def load_models(
    registry_dir: str | Path | None, *, fast: bool = True, need: Sequence[str] = MODEL_NAMES
) -> ModelSet:
    """Load the current bundles; each missing one is recorded in ``ModelSet.missing``."""
    from models.bundle import Registry
    from models.errors import ModelsError
    from models.paths import resolve_registry_dir

    registry = Registry(resolve_registry_dir(registry_dir))
    ms = ModelSet()
    aux: Any = None
    traj: Any = None
    if "aux" in need or "trajectory" in need or "forecaster" in need:
        try:
            from models.aux import AuxModels

            aux = _pinned_aux(registry, AuxModels)
            ms.outcome_versions["aux"] = str(getattr(aux, "version", "?"))
        except ImportError as exc:
            ms.missing["aux"] = f"models.aux not installed ({exc})"
        except ModelsError as exc:
            ms.missing["aux"] = _why(exc)
    if "empathy" in need:
        try:
            from models.empathy import EmpathyClassifier

            ms.empathy = EmpathyClassifier.from_registry(registry, fast=fast)
        except ImportError as exc:
            ms.missing["empathy"] = f"models.empathy not installed ({exc})"
        except ModelsError as exc:
            ms.missing["empathy"] = _why(exc)
    if "forecaster" in need:
        try:
            from models.forecaster import Forecaster

            ms.forecaster = Forecaster.from_registry(
                registry, fast=fast, aux=aux, empathy=ms.empathy
            )
        except ImportError as exc:
            ms.missing["forecaster"] = f"models.forecaster not installed ({exc})"
        except (ModelsError, ValueError) as exc:
            ms.missing["forecaster"] = _why(exc)
    if "aux" in need or "trajectory" in need:
        try:
            from models.trajectory import Trajectory

            traj = Trajectory.from_registry(registry)
            ms.outcome_versions["trajectory"] = str(getattr(traj, "version", "?"))
        except ImportError as exc:
            ms.missing["trajectory"] = f"models.trajectory not installed ({exc})"
        except ModelsError as exc:
            ms.missing["trajectory"] = _why(exc)
        if aux is not None and traj is not None:
            try:
                from models.outcomes import OutcomeComputer

                ms.outcomes = OutcomeComputer(aux, traj)
                ms.outcome_versions.update(getattr(ms.outcomes, "versions", {}) or {})
            except ImportError as exc:
                ms.missing["outcomes"] = f"models.outcomes not installed ({exc})"
    if "aux" not in need and "trajectory" not in need:
        ms.missing.pop("aux", None)
        ms.outcome_versions.pop("aux", None)
    for name, why in ms.missing.items():
        logger.warning("model %s unavailable: %s", name, why)
    return ms


def _pinned_aux(registry: Any, aux_cls: Any) -> Any:
    """The aux bundle the current trajectory was fitted on, when the registry still has it.

    Outcomes (trajectory) and forecaster features must use the same aux models the trajectory
    and forecaster were trained with; a newer ``aux`` made current later is only used once
    ``prosocial-train trajectory`` (and ``forecaster``) are re-run on it.
    """
    from models.errors import ModelsError

    try:
        traj = registry.current("trajectory", verify=False)
        want = traj.params.get("aux_version")
    except ModelsError:
        want = None
    if want and str(want) in registry.versions("aux"):
        if str(want) != registry.current_version("aux"):
            logger.warning(
                "using aux %s (the trajectory's) instead of current aux %s; "
                "re-run prosocial-train trajectory/forecaster to move on",
                want,
                registry.current_version("aux"),
            )
        return aux_cls.from_bundle(registry.get("aux", str(want)))
    return aux_cls.from_registry(registry)
