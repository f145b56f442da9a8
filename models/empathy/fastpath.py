"""Choosing the empathy classifier's CPU fast path by measuring it on this machine.

CPU flags do not predict the fastest path: on an AVX-512/bf16 EPYC, native bf16 ran at 138
sentences/s and ONNX Runtime int8 at 335 (``bench/empathy.py``, one run), yet a flag rule picked
bf16. ``mode="auto"`` therefore calibrates: :func:`calibrate` builds every candidate
(:func:`candidate_modes`: fp32, bf16 where oneDNN runs it natively, ``onnx-int8`` where ONNX
Runtime is installed, torch ``int8``), times a few passes over :data:`CALIBRATION_SENTENCES`
(interleaved rounds, best pass per mode, so a change in machine load hits every mode; a pass is
one call the size of a busy scorer's, :data:`BUSY_CALL_SENTENCES` of them repeated, and the
same sentences once in calls of a quiet scorer's :data:`SMALL_CALL_SENTENCES`) and keeps
the fastest mode whose labels agree with fp32 on at least ``min_agreement`` of the sentences
and that beats fp32 by ``min_gain``. The int8 modes run as served, with their fp32 re-check of
near-ties. The choice and its figures are logged and cached in ``empathy-fastpath.json`` under
:func:`models.paths.default_cache_dir`, keyed by the CPU (model name and flags), the thread
count, the torch / ONNX Runtime versions and the bundle (version and weights): the calibration
runs once per machine and bundle, in ~10-20 s on two cores. Agreement is judged on the
encoder's sentences: those a candidate's gate (:mod:`models.empathy.gate`, the same in every
mode) settles agree trivially and are left out, while an early exit's decisions are the mode's
own and count. The served classifier (:meth:`models.empathy.EmpathyClassifier.from_bundle`)
calibrates its candidates without the gate and puts the gate in front of the chosen one: behind
it, all but a handful of the calibration sentences were settled, so one disagreement decided.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "BUSY_CALL_SENTENCES",
    "CALIBRATION_SENTENCES",
    "Calibration",
    "Predictor",
    "calibrate",
    "calibration_key",
    "candidate_modes",
    "choose_fast_path",
    "cpu_identity",
]

logger = logging.getLogger(__name__)

CACHE_FILE = "empathy-fastpath.json"

#: Fixed sentences in the register of the served comments (a college / graduate-school
#: community): questions, venting, advice, thanks; 3 to ~45 tokens.
CALIBRATION_SENTENCES: tuple[str, ...] = (
    "Does anyone know if the registrar lets you drop a class after the deadline?",
    "I failed my first midterm and I honestly don't know how to tell my parents.",
    "You're not alone, a lot of us bombed that exam and still passed the course.",
    "Thanks, this helped a lot.",
    "Email your advisor today and ask about the late withdrawal form.",
    "My PI hasn't answered my emails in three weeks and my funding ends in May.",
    "Has anyone here switched from engineering to economics in their third year?",
    "It gets better, I promise.",
    "I'm so burnt out that I can't even open my laptop anymore.",
    "The library on the second floor is usually empty after 8pm.",
    "Congrats on getting in!",
    "Honestly the dining hall food is fine if you stick to the grill.",
    "Is it normal to feel this lost in the first semester of a PhD?",
    "Take care of yourself first; the thesis will still be there tomorrow.",
    "Does the rec center have a pool or just the gym?",
    "I got rejected from every program I applied to and I feel worthless.",
    "Sending you a hug, rejection is brutal but it says nothing about your worth.",
    "lol same",
    "What's the best way to ask a professor for a letter of recommendation?",
    "Ask in office hours, bring your CV and a short list of what you did in their class.",
    "My roommate keeps bringing people over at 3am and I have an 8am lab.",
    "Talk to your RA, that is literally what they are there for.",
    "Can someone explain how the waitlist actually works for CS courses?",
    "I'm an international student and I have no idea how to file taxes here.",
    "The writing center saved my grade, go there before the final paper is due.",
    "Why does every department use a different portal for the same thing?",
    "I've been crying in my car between classes every day this week.",
    "Please reach out to counseling services, they have same-day appointments.",
    "Anyone selling a used calculus textbook, 8th edition?",
    "I had the same panic during quals and what helped was a study group.",
    "Is it worth taking a gap year before applying to med school?",
    "Good luck!",
    "My advisor told me my research question is not interesting and I want to quit.",
    "That is a harsh thing to hear, but most advisors say it before they help you sharpen it.",
    "How many hours a week do you all actually study?",
    "The shuttle was 40 minutes late again this morning.",
    "I don't have any friends here and it's already November.",
    "Join a club that meets weekly, it's the easiest way to see the same faces.",
    "Does financial aid count summer classes toward full-time status?",
    "We went through the same thing last year and the dean's office fixed it in a week.",
    "Should I tell my professor I have ADHD or just go straight to disability services?",
    "You deserve the accommodations, disability services will send the letter for you.",
    "This thread is gold.",
    "I keep comparing myself to my cohort and feeling like a fraud.",
    "Impostor syndrome hits everyone, the people you compare yourself to feel it too.",
    "Where do you park for the football games without paying forty dollars?",
    "Anyone else's tuition bill go up this semester without any explanation at all?",
    "I'm really scared I won't graduate on time because of one missing credit.",
)


#: The calibration's own version, in the cache key: a choice measured another way is measured
#: again (2: the encoder without the gate, and a quiet scorer's small calls timed too; 3: the
#: busy call as large as a scorer's).
CALIBRATION_PROCEDURE = 3

#: The sentences of a busy scorer's call: 128 TLCs of ~2.9 sentences each, of which the gate
#: leaves about half to the encoder. Timed as one call of the calibration sentences repeated
#: to this many: on an AMX Xeon (one thread) bf16 ran 1,089 sentences/s on one call of the 48
#: calibration sentences, ONNX Runtime int8 1,026, but on 192 of them 1,522 against 1,075 and
#: on 192 real TLC sentences 1,139 against 854; a pass of one 48-sentence call and the small
#: calls chose int8, which served the scorer's calls ~1.4x slower than bf16.
BUSY_CALL_SENTENCES = 192

#: The sentences of a quiet scorer's call (a few TLCs): a timed pass runs the calibration
#: sentences once as one call and once in calls of this size, so that a mode's cost per call
#: counts (one AVX2 core: ~4 ms for torch int8, ~0.2 ms for ONNX Runtime, ~0.17 ms a token).
SMALL_CALL_SENTENCES = 8


class Predictor(Protocol):
    """What a calibration candidate must do (an ``EmpathyClassifier``)."""

    def predict_sentences(self, sentences: Sequence[str]) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Calibration:
    """The outcome of one calibration: the chosen mode and every candidate's figures."""

    mode: str
    key: str
    #: mode -> {"sentences_per_s", "agreement_fp32", "build_s"} or {"error": reason}
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_utc: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidate_modes(*, bf16: bool | None = None, onnx: bool | None = None) -> list[str]:
    """The modes worth measuring here; ``bf16`` / ``onnx`` default to what this machine has."""
    from models.cpu import native_bf16
    from models.empathy.onnx import onnxruntime_available

    bf16 = native_bf16() if bf16 is None else bf16
    onnx = onnxruntime_available() if onnx is None else onnx
    return ["fp32"] + (["bf16"] if bf16 else []) + (["onnx-int8"] if onnx else []) + ["int8"]


def cpu_identity() -> str:
    """The CPU's model name and a hash of its feature flags (``/proc/cpuinfo`` on Linux)."""
    found: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                k, _, v = line.partition(":")
                found.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    name = found.get("model name") or platform.processor() or platform.machine()
    flags = " ".join(sorted((found.get("flags") or found.get("Features") or "").split()))
    return f"{name} flags:{hashlib.sha256(flags.encode()).hexdigest()[:12]}"


def calibration_key(
    version: str, weights_sha256: str, threads: int | None = None, variant: str = ""
) -> str:
    """What a cached choice depends on: CPU, threads, library versions and the bundle
    (``variant``: what else is served with it, e.g. the cascade's gate)."""
    import torch

    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = "none"
    n = int(threads if threads is not None else torch.get_num_threads())
    raw = (
        f"{cpu_identity()}|threads={n}|torch={torch.__version__}|ort={ort}|{weights_sha256}"
        f"|procedure={CALIBRATION_PROCEDURE}"
    )
    if variant:
        raw += f"|{variant}"
    return f"{version}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def calibrate(
    build: Callable[[str], Predictor],
    modes: Sequence[str],
    *,
    sentences: Sequence[str] = CALIBRATION_SENTENCES,
    rounds: int = 3,
    budget_s: float = 30.0,
    call_size: int = SMALL_CALL_SENTENCES,
    busy_size: int = BUSY_CALL_SENTENCES,
    min_agreement: float = 0.97,
    min_gain: float = 1.05,
    timer: Callable[[], float] = time.perf_counter,
    key: str = "",
) -> tuple[Calibration, Predictor]:
    """Measure ``modes`` (``fp32`` is the reference and always a candidate) and return the
    calibration with the chosen mode's predictor. Rounds stop early once ``budget_s`` of
    measuring has passed (after at least one); ``timer`` is injectable for tests."""
    order = ["fp32"] + [m for m in modes if m != "fp32"]
    built: dict[str, Predictor] = {}
    figures: dict[str, dict[str, Any]] = {}
    labels: dict[str, list[str]] = {}
    by_encoder: list[int] = []
    for m in order:
        t0 = timer()
        try:
            clf = build(m)
            got = getattr(clf, "mode", m)
            if got != m:  # e.g. onnx-int8 fell back to torch int8: measured under its name
                raise RuntimeError(f"built mode {got!r} instead")
            preds = clf.predict_sentences(sentences)  # warm-up
            labels[m] = [p.label for p in preds]
            gate = getattr(clf, "gate", None)
            if m == "fp32" and gate is not None:
                # what a gate settled agrees trivially (the gate is the same in every mode);
                # a later stage's decisions (an early exit inside the encoder) are the mode's
                by_encoder = np.flatnonzero(~gate.split(list(sentences))[1]).tolist()
        except Exception as exc:
            if m == "fp32":
                raise
            figures[m] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        built[m] = clf
        figures[m] = {"build_s": round(timer() - t0, 2)}
        if gate is not None:  # a cascade: how many sentences the gate settled
            figures[m]["settled"] = len(sentences) - len(by_encoder)
    best = {m: float("inf") for m in built}
    t_start = timer()
    small = [sentences[i : i + call_size] for i in range(0, len(sentences), max(1, call_size))]
    busy = [sentences[i % len(sentences)] for i in range(max(len(sentences), busy_size))]
    for r in range(max(1, rounds)):
        for m, clf in built.items():
            t0 = timer()
            clf.predict_sentences(busy)  # a busy scorer's call
            for part in small:  # a quiet one's: a few TLCs, where a call's overhead tells
                clf.predict_sentences(part)
            best[m] = min(best[m], max(timer() - t0, 1e-9))
        if r + 1 < rounds and timer() - t_start > budget_s:
            break
    ref = labels["fp32"]
    judged = by_encoder or list(range(len(ref)))
    for m in built:
        same = sum(ref[i] == labels[m][i] for i in judged)
        figures[m]["sentences_per_s"] = round((len(busy) + len(sentences)) / best[m], 1)
        figures[m]["agreement_fp32"] = round(same / max(1, len(judged)), 4)
    base = figures["fp32"]["sentences_per_s"]
    chosen = "fp32"
    for m in built:
        f = figures[m]
        if m == "fp32" or f["agreement_fp32"] < min_agreement:
            continue
        if f["sentences_per_s"] >= base * min_gain and (
            f["sentences_per_s"] > figures[chosen]["sentences_per_s"]
        ):
            chosen = m
    winner = built[chosen]
    built.clear()
    gc.collect()
    cal = Calibration(mode=chosen, key=key, figures=figures, created_utc=int(time.time()))
    logger.info(
        "empathy fast-path calibration: %s -> %s",
        ", ".join(
            f"{m} {f['sentences_per_s']} sent/s (agreement {f['agreement_fp32']})"
            if "error" not in f
            else f"{m} unavailable ({f['error']})"
            for m, f in figures.items()
        ),
        chosen,
    )
    return cal, winner


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("fast-path cache %s unreadable (%s); recalibrating", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, cal: Calibration) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data[cal.key] = cal.to_dict()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("fast-path choice not cached in %s: %s", path, exc)


def choose_fast_path(
    bundle: Any,
    build: Callable[[str], Predictor],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    modes: Sequence[str] | None = None,
    timer: Callable[[], float] = time.perf_counter,
    variant: str = "",
    **calibrate_args: Any,
) -> Predictor:
    """The predictor of the mode measured fastest for ``bundle`` on this machine.

    A cached choice for this CPU, thread count, library versions and bundle (and ``variant``,
    see :func:`calibration_key`) is reused (one build); otherwise :func:`calibrate` runs and
    its result is cached."""
    from models.paths import default_cache_dir

    cands = list(modes) if modes is not None else candidate_modes()
    sha = str(bundle.config.get("files", {}).get("model.safetensors", ""))
    key = calibration_key(bundle.version, sha, variant=variant)
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / CACHE_FILE
    hit = _read_cache(path).get(key)
    if isinstance(hit, Mapping) and hit.get("mode") in cands:
        figs = hit.get("figures")
        logger.info(
            "empathy fast path %s (calibrated on this machine: %s)",
            hit["mode"],
            {
                m: f.get("sentences_per_s", f.get("error"))
                for m, f in (figs.items() if isinstance(figs, Mapping) else ())
                if isinstance(f, Mapping)
            },
        )
        return _noted(build(str(hit["mode"])), dict(hit))
    cal, winner = calibrate(build, cands, timer=timer, key=key, **calibrate_args)
    _write_cache(path, cal)
    return _noted(winner, cal.to_dict())


def _noted(pred: Predictor, calibration: dict[str, Any]) -> Predictor:
    """``pred`` carrying the calibration it was chosen by (``calibration`` attribute, when it
    has one: the mode, the cache key and every candidate's figures)."""
    if hasattr(pred, "calibration"):
        pred.calibration = calibration
    return pred
