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
