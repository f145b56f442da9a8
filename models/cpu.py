"""CPU threading for the torch models (the empathy classifier, MiniLM encodings).

Measured on a 2-core machine shared with a broker, a database and other stages: torch's
OpenMP workers spin while they wait, so two torch threads competing with any other busy
process collapsed from ~300 to ~16 TLCs/s; with ``OMP_WAIT_POLICY=PASSIVE`` the same load kept
~96 TLCs/s (measured with ``bench/stream.py``; see docs/architecture.md). The policy is read once,
when torch loads its OpenMP runtime, so it must be in the environment before ``import torch``.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["DEFAULT_OMP_WAIT_POLICY", "configure_torch_threads", "native_bf16"]

logger = logging.getLogger(__name__)

DEFAULT_OMP_WAIT_POLICY = "PASSIVE"


def configure_torch_threads(threads: int) -> None:
    """Set torch's intra-op threads; before torch is first imported, also default
    ``OMP_WAIT_POLICY`` to ``PASSIVE`` (an operator's own ``OMP_WAIT_POLICY`` wins)."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", DEFAULT_OMP_WAIT_POLICY)
    elif "OMP_WAIT_POLICY" not in os.environ:
        logger.debug("torch already imported: OMP_WAIT_POLICY stays the runtime default")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the empathy model
        return
    torch.set_num_threads(max(1, int(threads)))


def native_bf16() -> bool:
    """True when oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 / AMX).

    Elsewhere bf16 is emulated and slow: on an AVX2-only EPYC, MiniLM inference under bf16
    autocast ran at 32 sentences/s against 176 in fp32 (same run), and an empathy fine-tune
    took 4,449 s. Training and inference use bf16 only when this is true."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError, ImportError):
        return False
