"""The models the stages use, loaded from the registry — or reported missing, never faked.

The stages only see the small protocols below, so tests inject tiny models through the
constructors and serving loads the real bundles with :func:`load_models`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from models.forecaster.checkpoint import PostTimeline
from models.forecaster.context import TlcContext
from models.forecaster.features import EmpathyLike
from redditdata.tree import Node, Post

if TYPE_CHECKING:
    from models.aux import AuxModels
    from models.bundle import Registry
    from models.trajectory import Trajectory

__all__ = [
    "MODEL_NAMES",
    "EmpathyModel",
    "EmpathyResult",
    "ForecastGroup",
    "ForecastModel",
    "ForecastResult",
    "ModelSet",
    "OutcomeModel",
    "OutcomeResult",
    "load_models",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: The bundles the service uses: empathy + forecaster to score; aux + trajectory to back-fill.
MODEL_NAMES = ("empathy", "forecaster", "aux", "trajectory")


class EmpathyResult(EmpathyLike, Protocol):
    """One comment's empathy direction (:class:`models.empathy.CommentEmpathy`): the shares
    the forecaster's features read, its label and the form the scorer stores."""

    @property
    def label(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


class EmpathyModel(Protocol):
    """What the scorer calls (:class:`models.empathy.EmpathyClassifier`)."""

    @property
    def version(self) -> str: ...

    def predict_comments(self, texts: Sequence[str]) -> Sequence[EmpathyResult]:
        """One result per text, in order."""
        ...


class ForecastResult(Protocol):
    """One TLC's forecast (:class:`models.forecaster.Forecast`)."""

    @property
    def value(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def upper(self) -> float: ...
    @property
    def reasons(self) -> Sequence[tuple[str, float]]: ...


#: One post's share of a scoring batch: the post, its TLCs, each TLC's count of earlier TLCs
#: on the post (or None) and each TLC's author context (or None: a first-time author).
ForecastGroup = tuple[
    Post, Sequence[Node], Sequence[int] | None, Sequence[TlcContext | None] | None
]


class ForecastModel(Protocol):
    """What the scorer calls (:class:`models.forecaster.Forecaster`)."""

    @property
    def version(self) -> str: ...
    @property
    def use_context(self) -> bool:
        """Whether forecasts use the author/post context (the scorer then asks storage)."""
        ...

    @property
    def use_empathy(self) -> bool:
        """Whether forecasts read each TLC's empathy result."""
        ...

    @property
    def checkpoints(self) -> Mapping[int, Any]:
        """The re-forecast delays the bundle has models for (empty: creation only)."""
        ...

    def predict_many(
        self,
        groups: Sequence[ForecastGroup],
        empathy: Sequence[EmpathyResult] | None = None,
        *,
        checkpoint: int = 0,
        timelines: Sequence[PostTimeline] | None = None,
    ) -> Sequence[ForecastResult]:
        """One forecast per TLC of every group, in the groups' order (one batch call);
        ``checkpoint``: re-forecast that many seconds after each TLC was posted, from its
        replies as they stood then (:mod:`models.forecaster.checkpoint`)."""
        ...


class OutcomeResult(Protocol):
    """One TLC's measured outcome (:class:`models.outcomes.Outcome`)."""

    @property
    def trajectory(self) -> float | None: ...
    @property
    def safe(self) -> float | None: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    def to_dict(self) -> dict[str, Any]: ...


class OutcomeModel(Protocol):
    """What the back-fill calls (:class:`models.outcomes.OutcomeComputer`)."""

    def compute(self, tlcs: Sequence[Node]) -> Sequence[OutcomeResult]:
        """One outcome per TLC, in order."""
        ...


@dataclass
class ModelSet:
    empathy: EmpathyModel | None = None
    forecaster: ForecastModel | None = None
    outcomes: OutcomeModel | None = None
    outcome_versions: dict[str, str] = field(default_factory=dict)
    #: bundle name → why it is missing (with the command that trains it)
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def forecaster_version(self) -> str | None:
        return None if self.forecaster is None else self.forecaster.version

    def versions(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {
            "empathy": None if self.empathy is None else self.empathy.version,
            "forecaster": None if self.forecaster is None else self.forecaster.version,
        }
        out.update(self.outcome_versions)
        return out


def _why(exc: Exception) -> str:
    hint = getattr(exc, "hint", "")
    return f"{exc}" + (f" — train with: {hint}" if hint and hint not in str(exc) else "")


def _load(
    missing: dict[str, str],
    name: str,
    build: Callable[[], T],
    errors: tuple[type[Exception], ...] = (),
) -> T | None:
    """``build()`` the model ``name``; when its code cannot be imported or its bundle is
    missing or invalid, record why in ``missing`` and return None."""
    from models.errors import ModelsError

    invalid: tuple[type[Exception], ...] = (ModelsError, *errors)
    try:
        return build()
    except ImportError as exc:
        missing[name] = f"models.{name} not installed ({exc})"
    except invalid as exc:
        missing[name] = _why(exc)
    return None


def load_models(
    registry_dir: str | Path | None, *, fast: bool = True, need: Sequence[str] = MODEL_NAMES
) -> ModelSet:
    """Load the current bundles; each missing one is recorded in ``ModelSet.missing``."""
    from models.bundle import Registry
    from models.paths import resolve_registry_dir

    registry = Registry(resolve_registry_dir(registry_dir))
    loaded = ModelSet()
    aux: AuxModels | None = None
    traj: Trajectory | None = None

    def aux_models() -> AuxModels:
        from models.aux import AuxModels

        return _pinned_aux(registry, AuxModels)

    def empathy_model() -> EmpathyModel:
        from models.empathy import EmpathyClassifier

        return EmpathyClassifier.from_registry(registry, fast=fast)

    def forecaster() -> ForecastModel:
        from models.forecaster import Forecaster

        f = Forecaster.from_registry(registry, fast=fast, aux=aux, empathy=loaded.empathy)
        f.features.text.warm()  # at load, not in the first scoring call
        return f

    def trajectory() -> Trajectory:
        from models.trajectory import Trajectory

        return Trajectory.from_registry(registry)

    if "aux" in need or "trajectory" in need or "forecaster" in need:
        aux = _load(loaded.missing, "aux", aux_models)
        if aux is not None:
            loaded.outcome_versions["aux"] = aux.version
    if "empathy" in need:
        loaded.empathy = _load(loaded.missing, "empathy", empathy_model)
    if "forecaster" in need:
        loaded.forecaster = _load(loaded.missing, "forecaster", forecaster, (ValueError,))
    if "aux" in need or "trajectory" in need:
        traj = _load(loaded.missing, "trajectory", trajectory)
        if traj is not None:
            loaded.outcome_versions["trajectory"] = traj.version
        if aux is not None and traj is not None:
            try:
                from models.outcomes import OutcomeComputer

                outcomes = OutcomeComputer(aux, traj)
                loaded.outcomes = outcomes
                loaded.outcome_versions.update(outcomes.versions)
            except ImportError as exc:
                loaded.missing["outcomes"] = f"models.outcomes not installed ({exc})"
    if "aux" not in need and "trajectory" not in need:
        loaded.missing.pop("aux", None)
        loaded.outcome_versions.pop("aux", None)
    for name, why in loaded.missing.items():
        logger.warning("model %s unavailable: %s", name, why)
    return loaded


def _pinned_aux(registry: Registry, aux_cls: type[AuxModels]) -> AuxModels:
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
