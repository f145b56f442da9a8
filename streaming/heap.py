"""The long-lived heap of a stage process, kept out of the cyclic garbage collector's passes.

A scorer holds ~740k Python objects once its models are loaded (tokenizers, n-gram
vocabularies, the forecaster's trees); a full (generation 2) collection walks all of them and
took ~340 ms on one AVX2 core, a stall in the middle of whichever batch triggered it.
:func:`freeze_long_lived` collects once and then moves every surviving object to the
interpreter's permanent generation (:func:`gc.freeze`), so later collections walk only what
the stage allocated since. Reference counting still frees frozen objects; only garbage cycles
among them wait for the next :func:`freeze_long_lived`, which a model swap calls (the old
model's cycles are collected then). See docs/architecture.md, "What runs where".
"""

from __future__ import annotations

import gc
import logging
import time

__all__ = ["freeze_long_lived"]

logger = logging.getLogger(__name__)


def freeze_long_lived() -> int:
    """Collect every generation (frozen objects included), then freeze what survives;
    returns the number of objects now frozen."""
    t0 = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    n = gc.get_freeze_count()
    logger.info(
        "froze %d long-lived objects out of the garbage collector's passes (%.0f ms)",
        n,
        (time.perf_counter() - t0) * 1000,
    )
    return n
