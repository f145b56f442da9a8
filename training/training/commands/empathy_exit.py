"""``prosocial-train empathy-exit``: distil the early exits of the empathy cascade.

Uses the gate's time-split sample of real reddit-college TLC sentences and its cached fp32
labels (labelling what is missing), takes the sentences the bundle's gate leaves to the
encoder, computes the encoder's pooled hidden states after each candidate layer, fits a probe
per layer on the earlier months, sets temperatures and thresholds on the validation window,
keeps the chain of exits (at most ``--max-exits``) with the lowest estimated encoder cost and
reports it once on the later test window. Writes a new ``empathy`` bundle: the same encoder and
gate files + the exits, registered as a candidate (``--make-current`` makes it the served one).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from streaming.clikit import fail, print_json
from training.commands.options import add_command, add_report_dir, report_dir

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "empathy-exit", "distil the empathy cascade's early exits", __doc__)
    p.add_argument("--bundle", default=None, help="empathy bundle version (default: current)")
    p.add_argument(
        "--layers", default="2,3,4,5", help="candidate exit layers (default %(default)s)"
    )
    p.add_argument(
        "--max-exits", type=int, default=None, help="exits in the chain at most (default 4)"
    )
    p.add_argument("--train-sentences", type=int, default=None, help="of the gate's windows")
    p.add_argument("--min-agreement", type=float, default=None, help="settled vs fp32 (0.99)")
    p.add_argument(
        "--min-tlc-agreement", type=float, default=None, help="validation TLCs vs fp32 (0.99)"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--label-cache", default=None, help="default <cache dir>/empathy-gate")
    add_report_dir(p, "empathy-exit")
    p.add_argument("--make-current", action="store_true", help="serve the new bundle")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console

    from models.bundle import Registry
    from models.empathy.classifier import BUNDLE_NAME, EmpathyClassifier
    from models.empathy.gate import EmpathyGate
    from models.errors import ModelsError
    from models.paths import default_cache_dir, resolve_data_dir, resolve_registry_dir
    from models.registry import promote, register_candidate
    from streaming.progress import report_progress
    from training.empathy.exit import (
        ExitConfig,
        _gate_view,
        evaluate_exit,
        pooled_states,
        train_exit,
        write_exit_bundle,
    )
    from training.empathy.gate import GateConfig, LabelCache, label_windows, read_windows
    from training.errors import TrainingError

    console = Console(stderr=True)
    try:
        layers = tuple(int(x) for x in args.layers.split(",") if x.strip())
    except ValueError as exc:
        return fail(console, f"--layers: {exc}")
    over = {
        k: v
        for k, v in (
            ("min_agreement", args.min_agreement),
            ("min_tlc_agreement", args.min_tlc_agreement),
            ("max_exits", args.max_exits),
        )
        if v is not None
    }
    cfg = ExitConfig(layers=layers, **over)
    gate_cfg = (
        GateConfig(train_sentences=args.train_sentences) if args.train_sentences else GateConfig()
    )
    registry = Registry(resolve_registry_dir(args.registry))
    comments = resolve_data_dir(args.data) / "reddit-college" / "comments.jsonl.gz"
    if not comments.exists():
        return fail(console, f"no {comments}")
    try:
        source = registry.get(BUNDLE_NAME, args.bundle)
        gate = EmpathyGate.from_bundle(source)
    except ModelsError as exc:
        return fail(console, exc)
    torch.set_num_threads(max(1, args.threads))

    def say(msg: str) -> None:
        console.log(msg)
        report_progress(f"empathy-exit: {msg}")

    windows = read_windows(comments, gate_cfg, progress=say)
    cache_dir = Path(args.label_cache) if args.label_cache else default_cache_dir() / "empathy-gate"
    fp32 = EmpathyClassifier.from_bundle(source, fast=False)
    # the labels belong to the encoder: a gated bundle shares its source's cache file
    labelled_by = str(source.params.get("gate", {}).get("distilled_from") or source.version)
    label_windows(
        windows,
        fp32,
        cache=LabelCache(cache_dir / f"labels-{labelled_by}.jsonl"),
        progress=say,
        version=labelled_by,
    )
    n_layers = int(fp32.model.encoder.config.num_hidden_layers)
    states: dict[str, dict[int, Any]] = {}
    for name, w in windows.items():
        enc, _ = _gate_view(gate, w)
        say(f"{name}: {int(enc.sum())} of {len(w.texts)} sentences reach the encoder")
        states[name] = pooled_states(
            fp32, [t for t, e in zip(w.texts, enc) if e], layers, progress=say
        )
    try:
        trained = train_exit(
            windows["train"], windows["valid"], states, n_layers, gate=gate, cfg=cfg, progress=say
        )
    except TrainingError as exc:
        return fail(console, exc)
    ks = trained.exit.layers
    test = evaluate_exit(trained.exit, windows["test"], states["test"], gate=gate)
    metrics = {
        "test": test,
        "validation": trained.validation,
        "windows": {
            name: {"sentences": len(w.texts), "tlcs": w.n_tlcs} for name, w in windows.items()
        },
    }
    bundle = write_exit_bundle(
        registry,
        source,
        trained,
        metrics=metrics,
        windows=[windows["train"], windows["valid"]],
        make_current=False,
    )
    info = {"exit_of": source.version, "layers": ks, "test": test}
    if args.make_current:
        promote(registry, BUNDLE_NAME, bundle.version, reason="empathy exit", evidence=info)
    else:
        register_candidate(registry, BUNDLE_NAME, bundle.version, reason="empathy exit", info=info)
    reports = report_dir(args)
    reports.mkdir(parents=True, exist_ok=True)
    out = {
        "bundle": bundle.version,
        "source": source.version,
        "current": args.make_current,
        "layers": ks,
        "test": test,
        "validation": trained.validation,
    }
    (reports / "report.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    if args.json:
        print_json(out)
    else:
        console.print(
            f"exits after layers {','.join(map(str, ks))} on test ({test['encoder_sentences']} encoder sentences of "
            f"{test['n_sentences']}, {test['n_tlcs']} TLCs): settles "
            f"{100 * test['settled_share']:.1f}%, settled agreement {test['settled_agreement']}, "
            f"cascade TLC agreement {test['tlc_agreement']}"
        )
        role = "current" if args.make_current else "candidate"
        console.print(f"bundle empathy@{bundle.version} ({role}) -> {bundle.path}")
    return 0
