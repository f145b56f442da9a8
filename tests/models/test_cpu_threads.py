"""Torch threading defaults (models.cpu) — checked in a fresh interpreter, because the
OpenMP wait policy only matters before torch is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import os, sys; from models.cpu import configure_torch_threads; "
    "configure_torch_threads(1); import torch; "
    "print(os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads())"
)


def _run(env_extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()


def test_passive_wait_policy_is_the_default_before_torch_loads():
    assert _run({}) == ["PASSIVE", "1"]


def test_an_operators_wait_policy_wins():
    assert _run({"OMP_WAIT_POLICY": "ACTIVE"}) == ["ACTIVE", "1"]
