"""Hot reload and shadow scoring for the scorer, at batch boundaries.

:class:`ModelReloader` watches the registry's ``CURRENT`` and ``CHALLENGER`` pointers of the
forecaster (every ``check_every_s``, only between batches). A new ``CURRENT`` is loaded and
swapped into the scorer's :class:`~streaming.modelset.ModelSet`: the next batch is scored by
it and its score rows carry its version. Scores are written ``ON CONFLICT DO NOTHING`` and a
swap happens only between batches, so no TLC is scored twice by the champion or left
unscored. A ``CHALLENGER`` is loaded beside the champion; :class:`ShadowScorer` forecasts the
batch's TLCs with it (reusing the champion's empathy results and context) and stores the
results as :class:`~streaming.storage.ShadowScoreRow` — never in ``scores``, never published.

A bundle that fails to load is logged and the previous model kept (a broken promotion never
stops scoring). Only the forecaster has a challenger; empathy changes need a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from streaming.heap import freeze_long_lived
from streaming.modelset import ForecastModel, ModelSet
from streaming.storage import ShadowScoreRow, upsert

__all__ = ["ModelReloader", "ShadowScorer", "load_forecaster", "shadow_key"]

logger = logging.getLogger(__name__)

Loader = Callable[[str, ModelSet], ForecastModel]


def shadow_key(model: str, version: str) -> str:
    """How a challenger is named in :class:`ShadowScoreRow` (``forecaster@<version>``)."""
    return f"{model}@{version}"


def load_forecaster(registry_dir: str | Path, *, fast: bool = True) -> Loader:
    """The real loader: a forecaster bundle by version, with the aux version it was trained
    with and the champion's empathy model."""
    from models.aux import AuxModels
    from models.bundle import Registry
    from models.forecaster import Forecaster

    registry = Registry(registry_dir)
    aux_cache: dict[str, Any] = {}

    def load(version: str, models: ModelSet) -> ForecastModel:
        bundle = registry.get("forecaster", version)
        aux = None
        if bundle.params.get("metrics_need_aux"):
            want = str(bundle.params.get("aux_version") or registry.current_version("aux"))
            if want not in aux_cache:
                aux_cache[want] = AuxModels.from_bundle(registry.get("aux", want))
            aux = aux_cache[want]
        return cast("ForecastModel", Forecaster(bundle, fast=fast, aux=aux, empathy=models.empathy))

    return load


class ModelReloader:
    """Keeps ``models.forecaster`` at the registry's champion and loads its challenger."""

    def __init__(
        self,
        registry_dir: str | Path,
        load: Loader,
        *,
        check_every_s: float = 5.0,
        shadow: bool = True,
    ) -> None:
        from models.bundle import Registry

        self.registry = Registry(registry_dir)
        self.load = load
        self.check_every_s = check_every_s
        self.shadow = shadow
        self.challenger: ForecastModel | None = None
        self.reloads = 0
        self._last = -float("inf")
        self._failed: set[str] = set()

    def _try(self, version: str, models: ModelSet) -> ForecastModel | None:
        if version in self._failed:
            return None
        try:
            return self.load(version, models)
        except Exception:  # a broken bundle must not stop the scorer
            logger.exception("forecaster %s failed to load; keeping the current models", version)
            self._failed.add(version)
            return None

    def refresh(self, models: ModelSet, force: bool = False) -> bool:
        """Check the pointers (rate-limited); returns True when a model was swapped."""
        from models.registry import challenger_version

        now = time.monotonic()
        if not force and now - self._last < self.check_every_s:
            return False
        self._last = now
        changed = False
        want = self.registry.current_version("forecaster")
        have = models.forecaster_version
        if want and want != have:
            if self.challenger is not None and self.challenger.version == want:
                new: ForecastModel | None = self.challenger
            else:
                new = self._try(want, models)
            if new is not None:
                models.forecaster = new
                models.missing.pop("forecaster", None)
                self.reloads += 1
                changed = True
                logger.info("scorer: champion forecaster %s → %s (hot reload)", have, want)
        ch = challenger_version(self.registry, "forecaster") if self.shadow else None
        if ch == models.forecaster_version:
            ch = None
        if ch != (None if self.challenger is None else self.challenger.version):
            self.challenger = self._try(ch, models) if ch else None
            logger.info("scorer: challenger forecaster %s", ch or "none")
            changed = True
        if changed:  # the new model joins the frozen heap; the old one's cycles are freed
            freeze_long_lived()
        return changed


class ShadowScorer:
    """Scores a batch with the challenger and stores the rows apart from the champion's."""

    def __init__(self) -> None:
        self.scored = 0
        self.failed = 0
        self.seconds = 0.0

    def score(self, session: Any, challenger: ForecastModel, predict: Callable[..., Any]) -> int:
        """``predict(forecaster=challenger)`` → score rows (the scorer's own row builder)."""
        t0 = time.perf_counter()
        try:
            rows = predict(forecaster=challenger)
        except Exception:  # the challenger never holds up the champion
            logger.exception("shadow forecaster %s failed on a batch", challenger.version)
            self.failed += 1
            return 0
        key = shadow_key("forecaster", challenger.version)
        for r in rows:
            r["challenger"] = key
        upsert(session, ShadowScoreRow, rows)
        self.seconds += time.perf_counter() - t0
        self.scored += len(rows)
        return len(rows)

    def health(self) -> dict[str, Any]:
        return {
            "shadow_scored": self.scored,
            "shadow_seconds": round(self.seconds, 3),
            "shadow_failed_batches": self.failed,
            "shadow_tlcs_per_s": round(self.scored / self.seconds, 1) if self.seconds else None,
        }
