"""Distilling the empathy cascade's early exit onto a served empathy bundle (training only).

Docs: docs/architecture.md, "Empathy inference". The exit (:mod:`models.empathy.exit`) is a
multinomial logistic regression on the mean-pooled hidden states after the first ``layer``
encoder layers of the bundle's own network, trained on the same time-split windows of real
Reddit sentences and fp32 labels as the gate (:mod:`training.empathy.gate`: read, labelled and
cached the same way). Only the sentences the bundle's gate leaves to the encoder are used: those
are the ones the exit sees when served.

For every candidate layer the probe is fitted on the training window, its temperature and
per-label thresholds are set on validation (:func:`training.empathy.gate.choose_thresholds`,
the gate's rule: settled sentences agree with fp32 at ``min_agreement`` by the Wilson lower
bound, the cascade's TLC labels at ``min_tlc_agreement``), and its cost is estimated from the
settled share: ``layer / L`` of the encoder for every sentence plus ``(L - layer) / L`` for each
one that continues. The layer with the lowest estimated cost on validation is kept; the test
window is reported once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.bundle import Bundle, BundleWriter, Registry
from models.empathy.classifier import EmpathyClassifier
from models.empathy.exit import EXIT_PARAM, EXIT_WEIGHTS, EarlyExit
from models.empathy.gate import EmpathyGate, softmax
from models.empathy.inference import batches, padded_batch
from models.empathy.network import LABELS, mean_pool
from training.empathy.gate import (
    Window,
    _fit_temperature,
    _tlc_labels,
    cascade_labels,
    choose_thresholds,
    fit_multinomial,
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
    """Candidate layers, the probe's regularisation and the decision targets of an exit."""

    layers: tuple[int, ...] = (2, 3, 4, 5)
    c: float = 1.0
    min_agreement: float = 0.99
    min_tlc_agreement: float = 0.99
    min_support: int = 30
    confidence_z: float = 1.28
    batch_size: int = 64


@dataclass
class TrainedExit:
    exit: EarlyExit
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
    window's encoder sentences, :func:`pooled_states`) and keep the cheapest on validation."""
    say = progress or (lambda _m: None)
    enc_train, _ = _gate_view(gate, train)
    enc_valid, base_valid = _gate_view(gate, valid)
    y_train, y_valid = train.y()[enc_train], valid.y()[enc_valid]
    if len(set(y_train.tolist())) < 2:
        raise TrainingError("the exit needs at least two labels among its training sentences")
    by_layer: dict[str, Any] = {}
    best: tuple[float, int, np.ndarray, np.ndarray] | None = None
    for k in cfg.layers:
        if not 1 <= k < n_layers:
            raise TrainingError(f"exit layer {k} is not inside a {n_layers}-layer encoder")
        say(f"fitting the exit probe after layer {k}")
        w, b = fit_multinomial(states["train"][k], y_train, c=cfg.c, max_iter=2000)
        z = states["valid"][k] @ w + b
        temp = _fit_temperature(z, y_valid) if len(y_valid) else 1.0
        q = np.zeros((len(valid.texts), len(LABELS)))
        q[enc_valid] = softmax(z / temp)
        th, info = choose_thresholds(
            q,
            valid,
            min_agreement=cfg.min_agreement,
            min_tlc_agreement=cfg.min_tlc_agreement,
            min_support=cfg.min_support,
            z=cfg.confidence_z,
            eligible=enc_valid,
            base=base_valid,
        )
        cost = k / n_layers + (1.0 - info["settled_share"]) * (n_layers - k) / n_layers
        info.update(
            temperature=temp,
            thresholds=th,
            exit_only_agreement=round(float(np.mean(q[enc_valid].argmax(1) == y_valid)), 4),
            encoder_cost=round(cost, 4),
        )
        by_layer[str(k)] = info
        logger.info("exit after layer %d: %s", k, info)
        say(
            f"layer {k}: settles {100 * info['settled_share']:.1f}% of the encoder's sentences, "
            f"estimated encoder cost {cost:.3f}"
        )
        if best is None or cost < best[0]:
            best = (cost, k, w, b)
    if best is None:
        raise TrainingError("no candidate exit layer")
    _, k, w, b = best
    chosen = by_layer[str(k)]
    probe = EarlyExit(
        k,
        w.astype(np.float32),
        b.astype(np.float32),
        labels=list(LABELS),
        temperature=chosen["temperature"],
        thresholds=chosen["thresholds"],
    )
    params = {"layer": k, "config": asdict(cfg)}
    validation = {
        "by_layer": by_layer,
        "chosen_layer": k,
        "n_sentences": len(valid.texts),
        "n_encoder_sentences": int(enc_valid.sum()),
    }
    return TrainedExit(probe, params, validation)


def evaluate_exit(
    probe: EarlyExit,
    window: Window,
    pooled: np.ndarray,
    *,
    gate: EmpathyGate | None = None,
) -> dict[str, Any]:
    """The exit behind ``gate`` on ``window`` (``pooled``: states after ``probe.layer`` of the
    encoder's sentences): its settled share and agreement, and the whole cascade's (gate, exit,
    fp32 for the rest) agreement with fp32 on sentences and TLC labels."""
    y = window.y()
    enc, before = _gate_view(gate, window)
    q = np.zeros((len(y), len(LABELS)))
    q[enc] = probe.probs(pooled)
    settled = np.zeros(len(y), dtype=bool)
    settled[enc] = probe.settles(q[enc])
    top = q.argmax(1)
    mine = cascade_labels(q, settled, np.where(enc, y, before))
    tlc_ref = _tlc_labels(y, window.tlc, window.n_tlcs)
    tlc_got = _tlc_labels(mine, window.tlc, window.n_tlcs)
    n_enc = max(1, int(enc.sum()))
    return {
        "n_sentences": len(y),
        "n_tlcs": window.n_tlcs,
        "encoder_sentences": int(enc.sum()),
        "settled_share": round(float(settled.sum()) / n_enc, 4),
        "settled_by_label": {
            lab: int(np.sum(settled & (top == j))) for j, lab in enumerate(LABELS)
        },
        "settled_agreement": round(float(np.mean(top[settled] == y[settled])), 4)
        if settled.any()
        else None,
        "sentence_agreement": round(float(np.mean(mine == y)), 4) if len(y) else None,
        "tlc_agreement": round(float(np.mean(tlc_got == tlc_ref)), 4) if window.n_tlcs else None,
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
    """A new ``empathy`` bundle: ``source``'s files (the same encoder and gate) + the exit's
    weights, the exit in ``params.exit`` and its figures in ``metrics.exit``."""
    source.verify()
    e = trained.exit
    params = dict(source.params)
    params[EXIT_PARAM] = {
        "layer": e.layer,
        "labels": list(e.labels),
        "temperature": e.temperature,
        "thresholds": dict(e.thresholds),
        "distilled_from": source.version,
        "min_agreement": trained.params["config"]["min_agreement"],
        "fit": trained.params,
    }

    def save(w: BundleWriter) -> None:
        w.save_tensors(EXIT_WEIGHTS, {"weights": e.weights, "bias": e.bias})

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
