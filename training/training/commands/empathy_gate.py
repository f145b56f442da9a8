"""``prosocial-train empathy-gate``: distil a cheap gate for the empathy cascade.

Labels a time-split sample of real reddit-college TLC sentences with an empathy bundle's fp32
model, fits the gate (hashed word / byte n-grams, logistic regression) on the earlier months,
chooses its temperature and thresholds on the validation window and reports it once on the
later test window. Writes a new ``empathy`` bundle: the same encoder files + the gate,
registered as a candidate (``--make-current`` makes it the served one). The fp32 labels are
cached per bundle under the cache directory, so a second run does not label again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from streaming.clikit import fail, print_json
from training.commands.options import add_command, add_report_dir, report_dir

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "empathy-gate", "distil the empathy cascade's gate", __doc__)
    p.add_argument("--bundle", default=None, help="empathy bundle version (default: current)")
    p.add_argument("--train-until", default=None, help="train on TLCs before this day (UTC)")
    p.add_argument("--valid-until", default=None, help="validate until this day; test after")
    p.add_argument("--train-sentences", type=int, default=None)
    p.add_argument("--valid-sentences", type=int, default=None)
    p.add_argument("--test-sentences", type=int, default=None)
    p.add_argument("--min-agreement", type=float, default=None, help="settled vs fp32 (0.99)")
    p.add_argument(
        "--min-tlc-agreement", type=float, default=None, help="validation TLCs vs fp32 (0.99)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads for the labelling")
    p.add_argument("--label-cache", default=None, help="default <cache dir>/empathy-gate")
    add_report_dir(p, "empathy-gate")
    p.add_argument("--make-current", action="store_true", help="serve the new bundle")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> Any:
    from training.empathy.gate import GateConfig

    over = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(GateConfig)
        if getattr(args, f.name, None) is not None
    }
    return GateConfig(**over)


def run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console

    from models.bundle import Registry
    from models.empathy.classifier import BUNDLE_NAME, EmpathyClassifier
    from models.errors import ModelsError
    from models.paths import default_cache_dir, resolve_data_dir, resolve_registry_dir
    from models.registry import promote, register_candidate
    from streaming.progress import report_progress
    from training.empathy.gate import (
        LabelCache,
        evaluate_gate,
        label_windows,
        read_windows,
        train_gate,
        write_gate_bundle,
    )

    console = Console(stderr=True)
    cfg = _config(args)
    registry = Registry(resolve_registry_dir(args.registry))
    comments = resolve_data_dir(args.data) / "reddit-college" / "comments.jsonl.gz"
    if not comments.exists():
        return fail(console, f"no {comments}")
    try:
        source = registry.get(BUNDLE_NAME, args.bundle)
    except ModelsError as exc:
        return fail(console, exc)
    torch.set_num_threads(max(1, args.threads))

    def say(msg: str) -> None:
        console.log(msg)
        report_progress(f"empathy-gate: {msg}")

    windows = read_windows(comments, cfg, progress=say)
    cache_dir = Path(args.label_cache) if args.label_cache else default_cache_dir() / "empathy-gate"
    fp32 = EmpathyClassifier.from_bundle(source, fast=False)
    label_windows(
        windows,
        fp32,
        cache=LabelCache(cache_dir / f"labels-{source.version}.jsonl"),
        progress=say,
    )
    trained = train_gate(windows["train"], windows["valid"], cfg, progress=say)
    test = evaluate_gate(trained.gate, windows["test"])
    metrics = {
        "test": test,
        "validation": trained.validation,
        "windows": {
            name: {"sentences": len(w.texts), "tlcs": w.n_tlcs} for name, w in windows.items()
        },
    }
    bundle = write_gate_bundle(
        registry,
        source,
        trained,
        metrics=metrics,
        windows=[windows["train"], windows["valid"]],
        make_current=False,
    )
    info = {"gate_of": source.version, "test": test}
    if args.make_current:
        promote(registry, BUNDLE_NAME, bundle.version, reason="empathy gate", evidence=info)
    else:
        register_candidate(registry, BUNDLE_NAME, bundle.version, reason="empathy gate", info=info)
    reports = report_dir(args)
    reports.mkdir(parents=True, exist_ok=True)
    out = {
        "bundle": bundle.version,
        "source": source.version,
        "current": args.make_current,
        "test": test,
        "validation": trained.validation,
        "params": {k: v for k, v in trained.params.items() if k != "config"},
    }
    (reports / "report.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    if args.json:
        print_json(out)
    else:
        console.print(
            f"gate on test ({test['n_sentences']} sentences, {test['n_tlcs']} TLCs): "
            f"settles {100 * test['settled_share']:.1f}%, settled agreement "
            f"{test['settled_agreement']}, TLC agreement {test['tlc_agreement']}"
        )
        role = "current" if args.make_current else "candidate"
        console.print(f"bundle empathy@{bundle.version} ({role}) -> {bundle.path}")
    return 0
