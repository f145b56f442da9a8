"""Training uses bfloat16 autocast only where the CPU runs it natively (emulated bf16 is slow)."""

from __future__ import annotations

import argparse

import pytest
import training.commands.empathy as empathy_cmd
from training.commands.options import use_bf16

from models import cpu


def _args(bf16: str = "auto", no_bf16: bool = False) -> argparse.Namespace:
    return argparse.Namespace(bf16=bf16, no_bf16=no_bf16)


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_native_support(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(cpu, "native_bf16", lambda: native)
    assert use_bf16(_args("auto")) is native


def test_explicit_choice_overrides_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "native_bf16", lambda: False)
    assert use_bf16(_args("on")) is True
    monkeypatch.setattr(cpu, "native_bf16", lambda: True)
    assert use_bf16(_args("off")) is False
    assert use_bf16(_args("on", no_bf16=True)) is False


def test_every_training_command_accepts_the_flag() -> None:
    from training.commands import empathy_dapt, empathy_teacher

    for mod in (empathy_cmd, empathy_dapt, empathy_teacher):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        mod.register(sub)
        ns = parser.parse_args([mod.__name__.rsplit(".", 1)[1].replace("_", "-"), "--bf16", "off"])
        assert ns.bf16 == "off"


def test_native_bf16_answers_a_bool() -> None:
    assert isinstance(cpu.native_bf16(), bool)


#: ``/proc/cpuinfo`` flags (abridged) of the CPUs met here.
XEON_AVX512_NO_BF16 = {"avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512_vnni"}
EPYC_AVX512_BF16 = {"avx2", "fma", "avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"}
XEON_AMX = {"avx2", "avx512f", "avx512bw", "amx_tile", "amx_bf16", "amx_int8"}
EPYC_AVX2 = {"avx2", "fma", "sse4_2"}


@pytest.mark.parametrize(
    ("flags", "native"),
    [(XEON_AVX512_NO_BF16, False), (EPYC_AVX512_BF16, True), (XEON_AMX, True), (EPYC_AVX2, False)],
)
def test_bf16_is_native_only_with_its_instructions(flags: set[str], native: bool) -> None:
    assert cpu.bf16_in_cpu_flags(flags) is native


def test_onednn_emulation_is_not_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN says bf16 is supported on any AVX-512 CPU, where it emulates it (4.4x slower
    training than fp32 on such a Xeon): that answer must not turn bf16 on."""
    import torch
    import torch.cpu as tcpu

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(tcpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(tcpu, "_is_amx_tile_supported", lambda: False)
    assert cpu.native_bf16() is False
    monkeypatch.setattr(tcpu, "_is_avx512_bf16_supported", lambda: True)
    assert cpu.native_bf16() is True


def test_native_bf16_agrees_with_this_machines_cpu_flags() -> None:
    flags = cpu._proc_cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags on this machine")
    assert cpu.native_bf16() is cpu.bf16_in_cpu_flags(flags)
