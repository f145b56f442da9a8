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

__all__ = [
    "DEFAULT_OMP_WAIT_POLICY",
    "bf16_in_cpu_flags",
    "configure_torch_threads",
    "native_bf16",
]

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
    """True when this CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16).

    Elsewhere bf16 is emulated and slow: on an AVX2-only EPYC, MiniLM inference under bf16
    autocast ran at 32 sentences/s against 176 in fp32 (same run), and an empathy fine-tune
    took 4,449 s; on an AVX-512 Xeon without AVX512-BF16, a MiniLM training step under bf16
    autocast ran 4.4x slower than fp32. oneDNN's own check
    (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) answers yes on any AVX-512 CPU, where it
    emulates bf16, so the instructions themselves are asked for. Training and inference use
    bf16 only when this is true."""
    try:
        import torch.cpu as tcpu
    except ImportError:
        return False
    avx512_bf16 = getattr(tcpu, "_is_avx512_bf16_supported", None)
    amx = getattr(tcpu, "_is_amx_tile_supported", None)
    if avx512_bf16 is None or amx is None:  # pragma: no cover - torch < 2.3
        return bf16_in_cpu_flags(_proc_cpu_flags())
    try:
        return bool(avx512_bf16()) or bool(amx())
    except RuntimeError:  # pragma: no cover - defensive: torch could not read the CPU
        return False


def bf16_in_cpu_flags(flags: set[str]) -> bool:
    """Whether a CPU with these ``/proc/cpuinfo`` flags runs bfloat16 natively."""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _proc_cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
