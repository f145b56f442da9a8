"""``prosocial-train eval-empathy``: re-evaluate an ``empathy`` bundle on the test split.

The split is rebuilt from the bundle's ``split_seed``; predictions go through the serving code
(:class:`models.empathy.EmpathyClassifier`, fp32 unless ``--fast``) and the decision rules stored
in the bundle. ``--json`` prints one object: ``{"multi": {"p", "r", "f1"}, "seek": {...},
"provide": {...}, "n_test", "seed" (the split seed), "model" (bundle version)}``, in percent.
"""

from __future__ import annotations

import argparse
from typing import Any

from streaming.clikit import fail, print_json
from training.commands.options import IEMPATHIZE, add_command

__all__ = ["evaluate_bundle", "register", "run"]


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "eval-empathy",
        "re-evaluate the empathy bundle on test",
        __doc__,
        data=IEMPATHIZE,
    )
    p.add_argument("--model", default=None, help="bundle directory (default: registry current)")
    p.add_argument("--fast", action="store_true", help="evaluate the int8 fast path")
    p.set_defaults(func=run)


def evaluate_bundle(bundle: Any, data_dir: Any, fast: bool = False) -> dict[str, Any]:
    from models.empathy.classifier import EmpathyClassifier
    from training.empathy.data import SPLIT_SEED, dataset_path, split_dataset
    from training.empathy.metrics import Decision, evaluate

    seed = int(bundle.params.get("split_seed", SPLIT_SEED))
    data = split_dataset(dataset_path(data_dir), seed=seed)
    clf = EmpathyClassifier.from_bundle(bundle, fast=fast)
    probs = clf.head_probs(data.test.texts)
    decisions = {k: Decision(**v) for k, v in bundle.params.get("decisions", {}).items()}
    scores = evaluate(probs, data.test.labels, decisions)
    return {
        "multi": scores["multi"],
        "seek": scores["seek"],
        "provide": scores["provide"],
        "n_test": len(data.test),
        "seed": seed,
        "model": bundle.version,
    }


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.bundle import Bundle, Registry
    from models.errors import ModelsError
    from models.paths import resolve_data_dir, resolve_registry_dir
    from training.errors import TrainingError

    console = Console(stderr=True)
    try:
        bundle = (
            Bundle.open(args.model)
            if args.model
            else Registry(resolve_registry_dir(args.registry)).current("empathy")
        )
        out = evaluate_bundle(bundle, resolve_data_dir(args.data), fast=args.fast)
    except (ModelsError, TrainingError) as exc:
        return fail(console, exc)
    if args.json:
        print_json(out)
    else:
        for s in ("multi", "seek", "provide"):
            v = out[s]
            console.print(f"{s:8s} P {v['p']:.2f}  R {v['r']:.2f}  F1 {v['f1']:.2f}")
        console.print(f"n_test {out['n_test']}  split seed {out['seed']}  model {out['model']}")
    return 0
