"""Choosing the empathy fast path by measurement: the decision logic, with an injected clock.

The candidates are stand-ins whose passes advance a fake clock by a set number of seconds, so
no pass/fail depends on this machine's speed; the real classifier's calibration runs in
``test_empathy_classifier.py``."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from models.empathy import fastpath
from models.empathy.fastpath import CALIBRATION_SENTENCES, calibrate, choose_fast_path


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Label:
    label: str


@dataclass
class Candidate:
    mode: str
    clock: Clock
    seconds: float  # per pass over the calibration sentences (in proportion for fewer)
    flips: int = 0  # how many sentences get a label other than the reference's
    calls: list[int] = field(default_factory=list)
    calibration: dict[str, Any] | None = None  # set by choose_fast_path

    def predict_sentences(self, sentences: Sequence[str]) -> list[Label]:
        self.calls.append(len(sentences))
        self.clock.now += self.seconds * len(sentences) / len(CALIBRATION_SENTENCES)
        return [
            Label("seeking" if i < self.flips else ("none" if i % 2 else "providing"))
            for i in range(len(sentences))
        ]


@dataclass
class PerCall(Candidate):
    """A candidate whose every call also costs ``per_call`` seconds."""

    per_call: float = 0.0

    def predict_sentences(self, sentences: Sequence[str]) -> list[Label]:
        self.clock.now += self.per_call
        return super().predict_sentences(sentences)


@dataclass
class Builder:
    clock: Clock
    seconds: dict[str, float]
    flips: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    built: list[str] = field(default_factory=list)

    def __call__(self, mode: str) -> Candidate:
        self.built.append(mode)
        if mode in self.broken:
            raise RuntimeError(f"{mode} cannot run here")
        return Candidate(mode, self.clock, self.seconds[mode], self.flips.get(mode, 0))


@dataclass(frozen=True)
class FakeBundle:
    version: str = "20261201T000000-aaaaaa"
    config: dict[str, Any] = field(
        default_factory=lambda: {"files": {"model.safetensors": "ab" * 32}}
    )


MODES = ["fp32", "bf16", "onnx-int8", "int8"]
N = len(CALIBRATION_SENTENCES)


def test_the_fastest_mode_that_agrees_with_fp32_wins() -> None:
    clock = Clock()
    b = Builder(clock, {"fp32": 1.0, "bf16": 0.7, "onnx-int8": 0.3, "int8": 0.5})
    cal, winner = calibrate(b, MODES, timer=clock, key="k")
    assert cal.mode == "onnx-int8" and winner.mode == "onnx-int8"  # type: ignore[attr-defined]
    assert cal.figures["onnx-int8"]["sentences_per_s"] == pytest.approx(N / 0.3, rel=1e-3)
    assert cal.figures["fp32"]["sentences_per_s"] == pytest.approx(N / 1.0, rel=1e-3)
    assert all(f["agreement_fp32"] == 1.0 for f in cal.figures.values())


def test_flags_do_not_decide_bf16_loses_when_measured_slower() -> None:
    # The AVX-512/bf16 EPYC case: bf16 is available but onnx-int8 measures 2.4x faster.
    clock = Clock()
    b = Builder(clock, {"fp32": 1.0, "bf16": 1 / 1.31, "onnx-int8": 1 / 3.19, "int8": 0.6})
    assert calibrate(b, MODES, timer=clock)[0].mode == "onnx-int8"
    clock = Clock()
    b = Builder(clock, {"fp32": 1.0, "bf16": 0.2, "onnx-int8": 0.3, "int8": 0.6})
    assert calibrate(b, MODES, timer=clock)[0].mode == "bf16"


def test_a_fast_mode_that_disagrees_with_fp32_is_rejected() -> None:
    clock = Clock()
    b = Builder(
        clock,
        {"fp32": 1.0, "bf16": 0.9, "onnx-int8": 0.2, "int8": 0.4},
        flips={"onnx-int8": 5},  # 5 of 48 labels differ: ~90% agreement
    )
    cal, _ = calibrate(b, MODES, timer=clock)
    assert cal.figures["onnx-int8"]["agreement_fp32"] < 0.97
    assert cal.mode == "int8"


def test_fp32_stays_when_no_mode_is_clearly_faster_and_broken_modes_are_skipped() -> None:
    clock = Clock()
    b = Builder(clock, {"fp32": 1.0, "int8": 0.98, "bf16": 0.5}, broken={"onnx-int8", "bf16"})
    cal, winner = calibrate(b, MODES, timer=clock)
    assert cal.mode == "fp32" and winner.mode == "fp32"  # type: ignore[attr-defined]
    assert "cannot run here" in cal.figures["onnx-int8"]["error"]
    assert "sentences_per_s" not in cal.figures["bf16"]


def test_rounds_stop_at_the_budget_and_interleave_modes() -> None:
    clock = Clock()
    b = Builder(clock, {"fp32": 10.0, "int8": 5.0})
    built: dict[str, Candidate] = {}

    def build(mode: str) -> Candidate:
        built[mode] = b(mode)
        return built[mode]

    calibrate(build, ["fp32", "int8"], timer=clock, rounds=5, budget_s=12.0)
    # warm-up pass + one round (over 12 s of measuring), not five rounds; a round is one call
    # of a busy scorer's size (the sentences repeated) and the sentences once in calls of a
    # quiet scorer's size
    small = [fastpath.SMALL_CALL_SENTENCES] * (N // fastpath.SMALL_CALL_SENTENCES)
    busy = max(N, fastpath.BUSY_CALL_SENTENCES)
    assert busy > N
    assert built["fp32"].calls == built["int8"].calls == [N, busy, *small]


def test_a_mode_with_a_high_cost_per_call_loses_on_a_quiet_scorers_calls() -> None:
    """Two modes as fast on one call of every sentence: the one whose calls cost more loses
    once the pass includes a quiet scorer's small calls."""

    clock = Clock()
    per_call = {"fp32": 0.0, "int8": 0.02, "onnx-int8": 0.0005}

    def build(mode: str) -> Candidate:
        seconds = {"fp32": 1.0, "int8": 0.5, "onnx-int8": 0.52}[mode]
        return PerCall(mode, clock, seconds, per_call=per_call[mode])

    cal, _ = calibrate(build, ["fp32", "int8", "onnx-int8"], timer=clock)
    assert cal.mode == "onnx-int8"
    # on one call of every sentence int8 would have won: 0.52 s against 0.5 + 0.02 s
    figs = cal.figures
    assert figs["onnx-int8"]["sentences_per_s"] > figs["int8"]["sentences_per_s"]


def test_a_mode_faster_on_a_busy_scorers_calls_wins_though_its_calls_cost_more() -> None:
    """The AMX case: bf16 costs more per call than ONNX Runtime int8 but less per sentence.
    Timed on one call of the 48 sentences and the small calls int8 would win; a busy scorer's
    call (:data:`BUSY_CALL_SENTENCES`) weighs the per-sentence cost as serving does."""

    per_call = {"fp32": 0.0, "bf16": 0.03, "onnx-int8": 0.0005}
    seconds = {"fp32": 1.0, "bf16": 0.3, "onnx-int8": 0.4}

    def run(busy_size: int) -> str:
        clock = Clock()

        def build(mode: str) -> Candidate:
            return PerCall(mode, clock, seconds[mode], per_call=per_call[mode])

        return calibrate(build, list(seconds), timer=clock, busy_size=busy_size)[0].mode

    assert run(N) == "onnx-int8"  # one call of the 48 sentences: per-call costs decide
    assert run(fastpath.BUSY_CALL_SENTENCES) == "bf16"


def test_choice_is_cached_per_machine_and_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    b = Builder(clock, {"fp32": 1.0, "bf16": 0.7, "onnx-int8": 0.3, "int8": 0.5})
    with caplog.at_level(logging.INFO, logger="models.empathy.fastpath"):
        got = choose_fast_path(FakeBundle(), b, cache_dir=tmp_path, modes=MODES, timer=clock)
    assert got.mode == "onnx-int8"  # type: ignore[attr-defined]
    assert "onnx-int8" in caplog.text and "sent/s" in caplog.text  # the figures are logged
    assert b.built == MODES
    cache = json.loads((tmp_path / "empathy-fastpath.json").read_text())
    (entry,) = cache.values()
    assert entry["mode"] == "onnx-int8" and set(entry["figures"]) == set(MODES)
    assert got.calibration == entry  # type: ignore[attr-defined]  # what it was chosen by

    b.built.clear()
    again = choose_fast_path(FakeBundle(), b, cache_dir=tmp_path, modes=MODES, timer=clock)
    assert again.mode == "onnx-int8" and b.built == ["onnx-int8"]  # type: ignore[attr-defined]
    assert again.calibration == entry  # type: ignore[attr-defined]  # the cached figures

    # another bundle, or another CPU, calibrates again
    b.built.clear()
    choose_fast_path(FakeBundle(version="v2"), b, cache_dir=tmp_path, modes=MODES, timer=clock)
    assert b.built == MODES
    b.built.clear()
    monkeypatch.setattr(fastpath, "cpu_identity", lambda: "Other CPU flags:000")
    choose_fast_path(FakeBundle(), b, cache_dir=tmp_path, modes=MODES, timer=clock)
    assert b.built == MODES
    assert len(json.loads((tmp_path / "empathy-fastpath.json").read_text())) == 3


def test_a_corrupt_cache_or_a_mode_no_longer_available_recalibrates(tmp_path: Path) -> None:
    clock = Clock()
    b = Builder(clock, {"fp32": 1.0, "onnx-int8": 0.3, "int8": 0.5})
    (tmp_path / "empathy-fastpath.json").write_text("{ not json")
    choose_fast_path(
        FakeBundle(), b, cache_dir=tmp_path, modes=["fp32", "onnx-int8", "int8"], timer=clock
    )
    assert b.built == ["fp32", "onnx-int8", "int8"]
    b.built.clear()
    # onnxruntime uninstalled since: the cached onnx-int8 is not a candidate any more
    got = choose_fast_path(FakeBundle(), b, cache_dir=tmp_path, modes=["fp32", "int8"], timer=clock)
    assert got.mode == "int8" and b.built == ["fp32", "int8"]  # type: ignore[attr-defined]


def test_cpu_identity_names_the_cpu_and_hashes_its_flags() -> None:
    ident = fastpath.cpu_identity()
    assert "flags:" in ident and len(ident.split("flags:")[1]) == 12
    assert fastpath.candidate_modes(bf16=False, onnx=True) == ["fp32", "onnx-int8", "int8"]
    assert fastpath.candidate_modes(bf16=True, onnx=False) == ["fp32", "bf16", "int8"]
