"""Distilling the empathy cascade's early exits onto a served empathy bundle (training only).

Docs: docs/architecture.md, "Empathy inference". An exit (:mod:`models.empathy.exit`) is a
multinomial logistic regression on the mean-pooled hidden states after the first ``layer``
encoder layers of the bundle's own network, trained on the same time-split windows of real
Reddit sentences and fp32 labels as the gate (:mod:`training.empathy.gate`: read, labelled and
cached the same way). Only the sentences the bundle's gate leaves to the encoder are used: those
are the ones the exits see when served.

For every candidate layer a probe is fitted on the training window and its temperature set on
validation. Every chain of candidate layers (up to ``max_exits`` of them, in increasing order)
is then judged on validation: each exit's per-label thresholds are set on the sentences the
stages before it leave (:func:`training.empathy.gate.stage_thresholds`, the gate's rule:
settled sentences agree with fp32 at ``min_agreement`` by the Wilson lower bound, the
cascade's TLC labels at ``min_tlc_agreement``), and the chain's encoder cost is estimated from
the settled shares: every encoder layer costs ``1 / L`` for each sentence that runs it, plus
``exit_overhead`` per exit (what a further stage's calls and batching cost beyond its layers).
The chain with the lowest estimated cost on validation is kept; the test window is reported
once.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.bundle import Bundle, BundleWriter, Registry
from models.empathy.classifier import EmpathyClassifier
from models.empathy.exit import EXIT_PARAM, EXIT_WEIGHTS, EarlyExit, ExitChain
from models.empathy.gate import EmpathyGate, softmax
from models.empathy.inference import batches, padded_batch
from models.empathy.network import LABELS, mean_pool
from training.empathy.gate import (
    Window,
    _fit_temperature,
    _tlc_labels,
    cascade_labels,
    fit_multinomial,
    stage_thresholds,
    write_stage_bundle,
)
from training.errors import TrainingError
from training.progress import Progress

__all__ = [
    "ExitConfig",
    "TrainedExit",
    "evaluate_exit",
    "pooled_states",
    "train_exit",
    "write_exit_bundle",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExitConfig:
    """Candidate layers, how many exits a chain may have, the probes' regularisation and the
    decision targets of an exit."""

    layers: tuple[int, ...] = (2, 3, 4, 5)
    max_exits: int = 4
    #: estimated cost of each exit beyond its layers, as a share of the whole encoder's cost:
    #: fitted to interleaved timings of one, two and four exits on an AMX Xeon (one thread,
    #: 128-TLC calls; docs/architecture.md, "Empathy inference"): ~0.025 in bf16, ~0.05 in
    #: ONNX Runtime int8
    exit_overhead: float = 0.03
    c: float = 1.0
    min_agreement: float = 0.99
    min_tlc_agreement: float = 0.99
    min_support: int = 30
    confidence_z: float = 1.28
    batch_size: int = 64


@dataclass
class TrainedExit:
    exit: ExitChain
    params: dict[str, Any]
    validation: dict[str, Any]


def _gate_view(gate: EmpathyGate | None, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Which sentences of ``window`` reach the encoder behind ``gate``, and the labels the
    cascade gives before the exit (the gate's where it settles, fp32 elsewhere)."""
    y = window.y()
    if gate is None:
        return np.ones(len(y), dtype=bool), y
    q, settled = gate.split(window.texts)
    q = q[:, [gate.labels.index(lab) for lab in LABELS]]
    return ~settled, cascade_labels(q, settled, y)


def pooled_states(
    clf: EmpathyClassifier,
    texts: Sequence[str],
    layers: Sequence[int],
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> dict[int, np.ndarray]:
    """Mean-pooled hidden states ``(len(texts), hidden)`` after each of ``layers`` encoder
    layers of ``clf``'s fp32 network (``clf`` loaded with ``fast=False``), tokenised as served."""
    import torch

    say = progress or (lambda _m: None)
    net = clf.model
    ids = [e.ids for e in clf.tokenizer.encode_batch(list(texts))]
    hidden = int(net.encoder.config.hidden_size)
    out = {k: np.zeros((len(ids), hidden), dtype=np.float32) for k in layers}
    lengths = np.array([len(x) for x in ids])
    order = np.argsort(lengths, kind="stable")
    t0, done = time.perf_counter(), 0
    with torch.inference_mode():
        for part in batches(lengths[order].tolist(), batch_size, batch_size * 16):
            sel = order[part]
            x, mask = padded_batch(ids, sel, lengths, 0)
            states = net.encoder(input_ids=x, attention_mask=mask, output_hidden_states=True)
            for k in layers:
                out[k][sel] = mean_pool(states.hidden_states[k], mask)[: len(sel)].numpy()
            done += len(sel)
            if done // 2048 != (done - len(sel)) // 2048 or done == len(ids):
                rate = done / max(time.perf_counter() - t0, 1e-9)
                say(f"hidden states of {done}/{len(ids)} sentences ({rate:.0f}/s)")
    return out


def _judge_chain(
    layers: Sequence[int],
    fits: dict[int, tuple[np.ndarray, np.ndarray, float, np.ndarray]],
    valid: Window,
    enc_valid: np.ndarray,
    base_valid: np.ndarray,
    n_layers: int,
    cfg: ExitConfig,
) -> tuple[float, list[EarlyExit], dict[str, Any]]:
    """Thresholds for each exit of the chain ``layers`` on validation (each on what the ones
    before it leave), and the chain's estimated encoder cost and figures."""
    eligible, base = enc_valid.copy(), base_valid.copy()
    n_enc = max(1, int(enc_valid.sum()))
    probes: list[EarlyExit] = []
    shares: list[float] = []
    cost, prev = cfg.exit_overhead * len(layers), 0
    for k in layers:
        w, b, temp, q = fits[k]
        cost += float(eligible.sum()) / n_enc * (k - prev) / n_layers
        th, _ = stage_thresholds(q, valid, cfg, eligible=eligible, base=base)
        probe = EarlyExit(
            k,
            w.astype(np.float32),
            b.astype(np.float32),
            labels=list(LABELS),
            temperature=temp,
            thresholds=th,
        )
        settled = eligible & probe.settles(q)
        base = cascade_labels(q, settled, base)
        eligible &= ~settled
        probes.append(probe)
        shares.append(round(float(settled.sum()) / n_enc, 4))
        prev = k
    cost += float(eligible.sum()) / n_enc * (n_layers - prev) / n_layers
    settled_all = enc_valid & ~eligible
    info = {
        "settled_share_by_exit": dict(zip(map(str, layers), shares, strict=True)),
        "settled_share": round(float(settled_all.sum()) / n_enc, 4),
        **_agreements(base, settled_all, valid),
        "encoder_cost": round(cost, 4),
    }
    return cost, probes, info


def _agreements(mine: np.ndarray, settled: np.ndarray, window: Window) -> dict[str, Any]:
    """How the cascade's sentence labels ``mine`` agree with ``window``'s fp32 ones: on the
    ``settled`` sentences, on all, and as TLC labels."""
    y = window.y()
    tlc_ref = _tlc_labels(y, window.tlc, window.n_tlcs)
    tlc_got = _tlc_labels(mine, window.tlc, window.n_tlcs)
    return {
        "settled_agreement": round(float(np.mean(mine[settled] == y[settled])), 4)
        if settled.any()
        else None,
        "sentence_agreement": round(float(np.mean(mine == y)), 4) if len(y) else None,
        "tlc_agreement": round(float(np.mean(tlc_got == tlc_ref)), 4) if window.n_tlcs else None,
    }


def train_exit(
    train: Window,
    valid: Window,
    states: dict[str, dict[int, np.ndarray]],
    n_layers: int,
    *,
    gate: EmpathyGate | None = None,
    cfg: ExitConfig = ExitConfig(),
    progress: Progress | None = None,
) -> TrainedExit:
    """Fit a probe per candidate layer (``states[window name][layer]``: pooled states of that
    window's encoder sentences, :func:`pooled_states`) and keep the chain of them with the
    lowest estimated encoder cost on validation."""
    say = progress or (lambda _m: None)
    enc_train, _ = _gate_view(gate, train)
    enc_valid, base_valid = _gate_view(gate, valid)
    y_train, y_valid = train.y()[enc_train], valid.y()[enc_valid]
    if len(set(y_train.tolist())) < 2:
        raise TrainingError("the exit needs at least two labels among its training sentences")
    if cfg.max_exits < 1:
        raise TrainingError(f"max_exits must be at least 1, got {cfg.max_exits}")
    fits: dict[int, tuple[np.ndarray, np.ndarray, float, np.ndarray]] = {}
    for k in sorted(set(cfg.layers)):
        if not 1 <= k < n_layers:
            raise TrainingError(f"exit layer {k} is not inside a {n_layers}-layer encoder")
        say(f"fitting the exit probe after layer {k}")
        w, b = fit_multinomial(states["train"][k], y_train, c=cfg.c, max_iter=2000)
        z = states["valid"][k] @ w + b
        temp = _fit_temperature(z, y_valid) if len(y_valid) else 1.0
        q = np.zeros((len(valid.texts), len(LABELS)))
        q[enc_valid] = softmax(z / temp)
        fits[k] = (w, b, temp, q)
    chains: dict[str, Any] = {}
    best: tuple[float, list[EarlyExit]] | None = None
    candidates = sorted(fits)
    for size in range(1, min(cfg.max_exits, len(candidates)) + 1):
        for layers in itertools.combinations(candidates, size):
            cost, probes, info = _judge_chain(
                layers, fits, valid, enc_valid, base_valid, n_layers, cfg
            )
            name = ",".join(map(str, layers))
            chains[name] = info
            logger.info("exits after layers %s: %s", name, info)
            if size == 1:
                say(
                    f"layer {name}: settles {100 * info['settled_share']:.1f}% of the encoder's "
                    f"sentences, estimated encoder cost {cost:.3f}"
                )
            if best is None or cost < best[0]:
                best = (cost, probes)
    if best is None:
        raise TrainingError("no candidate exit layer")
    chain = ExitChain(best[1])
    chosen = ",".join(map(str, chain.layers))
    say(f"kept exits after layers {chosen}: estimated encoder cost {best[0]:.3f}")
    params = {"layers": chain.layers, "config": asdict(cfg)}
    validation = {
        "chains": chains,
        "chosen_layers": chain.layers,
        "n_sentences": len(valid.texts),
        "n_encoder_sentences": int(enc_valid.sum()),
    }
    return TrainedExit(chain, params, validation)


def evaluate_exit(
    chain: ExitChain,
    window: Window,
    pooled: dict[int, np.ndarray],
    *,
    gate: EmpathyGate | None = None,
) -> dict[str, Any]:
    """The exits behind ``gate`` on ``window`` (``pooled[layer]``: states after that layer of
    the encoder's sentences): their settled share and agreement, and the whole cascade's
    (gate, exits, fp32 for the rest) agreement with fp32 on sentences and TLC labels."""
    y = window.y()
    enc, before = _gate_view(gate, window)
    q = np.zeros((len(y), len(LABELS)))
    settled = np.zeros(len(y), dtype=bool)
    eligible = enc.copy()
    by_exit: dict[str, int] = {}
    for probe in chain:
        qk = np.zeros((len(y), len(LABELS)))
        qk[enc] = probe.probs(pooled[probe.layer])
        here = eligible & probe.settles(qk)
        q[eligible] = qk[eligible]
        eligible &= ~here
        settled |= here
        by_exit[str(probe.layer)] = int(here.sum())
    top = q.argmax(1)
    mine = cascade_labels(q, settled, np.where(enc, y, before))
    n_enc = max(1, int(enc.sum()))
    return {
        "n_sentences": len(y),
        "n_tlcs": window.n_tlcs,
        "encoder_sentences": int(enc.sum()),
        "settled_share": round(float(settled.sum()) / n_enc, 4),
        "settled_share_by_exit": {k: round(v / n_enc, 4) for k, v in by_exit.items()},
        "settled_by_label": {
            lab: int(np.sum(settled & (top == j))) for j, lab in enumerate(LABELS)
        },
        **_agreements(mine, settled, window),
    }


def write_exit_bundle(
    registry: Registry,
    source: Bundle,
    trained: TrainedExit,
    *,
    metrics: dict[str, Any],
    windows: Sequence[Window],
    make_current: bool = False,
) -> Bundle:
    """A new ``empathy`` bundle: ``source``'s files (the same encoder and gate) + the exits'
    weights, the exits in ``params.exit`` and their figures in ``metrics.exit``."""
    source.verify()
    chain = trained.exit
    params = dict(source.params)
    params[EXIT_PARAM] = {
        **chain.params(),
        "distilled_from": source.version,
        "min_agreement": trained.params["config"]["min_agreement"],
        "fit": trained.params,
    }

    def save(w: BundleWriter) -> None:
        w.save_tensors(EXIT_WEIGHTS, chain.tensors())

    # a source with an exit: it is replaced
    return write_stage_bundle(
        registry,
        source,
        stage=EXIT_PARAM,
        params=params,
        metrics=metrics,
        windows=windows,
        replaced=("exit/",),
        save=save,
        make_current=make_current,
    )
