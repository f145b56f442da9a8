"""``prosocial-train eval-forecaster``: evaluate a forecaster bundle on any Pushshift-style dump
directory (every matured thread in it) against its baselines, Reddit's order and chronological
order."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console

from models.bundle import Bundle, Registry
from models.errors import BundleError, BundleMissingError
from models.paths import resolve_data_dir, resolve_registry_dir
from streaming.clikit import fail, print_json
from training.commands.options import add_command, add_thread_window

if TYPE_CHECKING:
    from redditdata.tree import Thread
    from training.forecaster.dataset import TargetFn

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(
        subparsers, "eval-forecaster", "evaluate a forecaster bundle on a dump", __doc__
    )
    p.add_argument(
        "--model",
        help="bundle version in the registry or a bundle directory "
        "(default: the registry's current forecaster)",
    )
    add_thread_window(p)
    p.add_argument(
        "--target",
        choices=("safe", "trajectory", "structural"),
        default=None,
        help="outcome to score against (default: the one the bundle was trained on)",
    )
    p.add_argument(
        "--checkpoints",
        default=None,
        help="re-forecast delays to evaluate, seconds, comma-separated (default: the bundle's; "
        "a delay without its own model uses the latest trained delay before it)",
    )
    p.add_argument("--n-boot", type=int, default=0, help="bootstrap resamples for CIs (text)")
    p.set_defaults(func=run)


def _open(registry: Registry, model: str | None) -> Bundle:
    from pathlib import Path

    if model is None:
        return registry.current("forecaster")
    if Path(model).is_dir():
        return Bundle.open(model)
    return registry.get("forecaster", model)


def run(args: argparse.Namespace) -> int:
    from models.forecaster.checkpoint import parse_checkpoints
    from models.forecaster.model import Forecaster
    from training.forecaster.dataset import build_examples, structural_target
    from training.forecaster.evaluate import eval_json, predict_examples
    from training.forecaster.report import checkpoint_lines
    from training.forecaster.targets import load_aux_for_trajectory

    err = Console(stderr=True)
    registry = Registry(resolve_registry_dir(args.registry))
    try:
        bundle = _open(registry, args.model)
        trained_on = str(bundle.params.get("target", "trajectory"))
        target = args.target or (
            "structural" if trained_on.startswith("structural") else trained_on
        )
        aux = None
        if (
            bundle.params.get("metrics_need_aux")
            and bundle.params.get("aux_version")
            and str(bundle.params["aux_version"]) in registry.versions("aux")
        ):
            from models.aux import AuxModels

            aux = AuxModels.from_bundle(registry.get("aux", str(bundle.params["aux_version"])))
        elif target != "structural" or bundle.params.get("metrics_need_aux"):
            aux = load_aux_for_trajectory(registry)
        empathy = None
        if bundle.params.get("use_empathy"):
            from models.empathy import EmpathyClassifier  # type: ignore[attr-defined]

            empathy = EmpathyClassifier.from_registry(registry, fast=True)
        fc = Forecaster(bundle, aux=aux, empathy=empathy)
        checkpoints = (
            parse_checkpoints(args.checkpoints)
            if args.checkpoints is not None
            else tuple(sorted(fc.checkpoints))
        )
        if checkpoints:
            fc.model_for(checkpoints[0])  # no checkpoint models: say so now
        target_fn = (
            structural_target if target == "structural" else _target_fn(fc, registry, aux, target)
        )
    except (BundleMissingError, BundleError, ValueError) as exc:
        return fail(err, exc)
    with err.status("eval-forecaster: reading matured threads") as status:
        ex = build_examples(
            resolve_data_dir(args.data),
            target_fn,
            min_age_s=int(args.min_age_hours * 3600),
            max_threads=args.max_threads,
            history_scope=str(bundle.params.get("history_scope", "all")),
            checkpoints=checkpoints,
            featurizer=fc.featurizer if checkpoints else None,
        )
        if len(ex) == 0:
            return fail(err, "no matured threads with TLCs in that dump", 1)
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            status.update(f"eval-forecaster: forecasting {done[0]:,}/{len(ex):,} TLCs")

        preds = predict_examples(fc, ex, progress=tick)
        out = eval_json(ex, preds, n_boot=args.n_boot, target=target)
    if args.json:
        print_json(out)
        return 0
    con = Console()
    con.print(f"forecaster@{bundle.version} on {out['n_tlc']:,} TLCs / {out['n_posts']:,} posts")
    con.print(f"target: {out['target']}")
    by_checkpoint = {c: {"main": b, **b["baselines"]} for c, b in out["by_checkpoint"].items()}
    for line in checkpoint_lines(by_checkpoint):
        con.print(line)
    return 0


def _target_fn(fc: Any, registry: Registry, aux: Any, target: str) -> TargetFn:
    """The outcome as the bundle measures it (its own trajectory copy, sharing the checkpoint
    featurizer's memory of reply texts), else from the registry's trajectory bundle."""
    from models.errors import BundleError
    from training.forecaster.targets import outcome_target

    oc = fc.featurizer.outcomes
    if oc.trajectory is None or (target == "safe" and oc.trajectory.safe is None):
        return outcome_target(registry, aux, target)[0]
    if oc.aux is None:
        raise BundleError("measuring outcomes needs the aux models")

    def fn(thread: Thread) -> dict[str, float]:
        return {
            o.tlc: float(v) for o in oc.compute(thread.tlcs) if (v := o.value(target)) is not None
        }

    return fn
