"""``prosocial-train aux``: train the auxiliary metric models into one ``aux`` bundle.

Trains toxicity (+ Perspective calibration), politeness, supportiveness, advice and info heads
on ``<data>/aux`` (see :mod:`training.aux.datasets`), evaluates the result on held-out data
through the serving code path, stores those figures in the bundle and makes it current.
``--eval`` prints every held-out figure beside the paper's; ``--no-train --eval`` evaluates the
registry's current bundle instead; ``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from typing import Any

from rich.console import Console

from models.aux import AUX_HEADS, AuxModels
from models.bundle import Registry, hash_files
from models.errors import ModelsError
from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
from streaming.clikit import print_json
from streaming.progress import report_progress
from training.aux.bundle import write_trained_aux
from training.aux.data import aux_data_files
from training.aux.datasets import load_aux_data
from training.aux.evaluate import evaluate_aux
from training.aux.fit import TRAINING_FEATURES, AuxConfig, train_aux
from training.commands.options import add_command
from training.errors import TrainingError

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "aux",
        "train the auxiliary metric models (bundle 'aux')",
        __doc__,
        data="data directory (holds the aux datasets)",
    )
    p.add_argument("--eval", action="store_true", help="print every held-out figure")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="do not train; evaluate the registry's current aux bundle",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="cap every dataset split at N items (quick runs and tests)",
    )
    p.add_argument(
        "--char-bits",
        type=int,
        default=TRAINING_FEATURES.char_bits,
        help="log2 of the hashed char n-gram buckets",
    )
    p.add_argument(
        "--reg",
        type=_fixed_reg,
        default=(),
        metavar="HEAD=VALUE,...",
        help="fix these heads' regularisation (C or alpha) instead of choosing it from the "
        "validation grid (e.g. the values a full run chose: quick runs)",
    )
    p.add_argument("--vocab-min-df", type=int, default=AuxConfig.vocab_min_df)
    p.add_argument(
        "--calibration",
        default=AuxConfig.calibration,
        choices=("isotonic", "quantile", "platt", "auto"),
        help="toxicity calibration onto Perspective scores (default: %(default)s)",
    )
    p.set_defaults(func=run)


def _fixed_reg(text: str) -> tuple[tuple[str, float], ...]:
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        head, sep, value = item.partition("=")
        if not sep or head not in AUX_HEADS:
            raise argparse.ArgumentTypeError(f"expected HEAD=VALUE with HEAD in {AUX_HEADS}")
        try:
            out.append((head, float(value)))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{item}: not a number") from exc
    return tuple(out)


def _summary(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    tox = result["toxicity"]["heldout"]
    ph = tox["perspective_heldout"]
    rows.append(("toxicity", "ToxiChat test AUC", str(tox["toxichat_test"]["auc"])))
    rows.append(("toxicity", "Ruddit test Pearson r", str(tox["ruddit_test"]["pearson_r"])))
    rows.append(
        (
            "toxicity",
            "Perspective held-out r / calib. err",
            f"{ph['pearson_r']} / {ph['calibration_error']}",
        )
    )
    for t in ("0.5", "0.8"):
        a = ph[f"at_{t}"]
        rows.append(
            (
                "toxicity",
                f"vs Perspective @{t}: acc / kappa / rate (P)",
                f"{a['accuracy']} / {a['kappa']} / {a['model_rate']} ({a['perspective_rate']})",
            )
        )
    for head in ("politeness", "supportiveness"):
        for k, v in result[head]["heldout"].items():
            rows.append(
                (
                    head,
                    f"{k} Pearson r (paper {result[head]['paper']['pearson_r']})",
                    str(v["pearson_r"]),
                )
            )
    for head in ("advice", "info"):
        for k, v in result[head]["heldout"].items():
            rows.append(
                (
                    head,
                    f"{k} F1@{v['threshold']} (paper {result[head]['paper']['f1']})",
                    f"{v['f1']} (P {v['precision']} R {v['recall']} AUC {v['auc']})",
                )
            )
    return rows


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        return _run(args, console)
    except (TrainingError, ModelsError) as exc:
        console.print(f"[red]prosocial-train aux: {exc}[/red]")
        return 2


def _run(args: argparse.Namespace, console: Console) -> int:
    data_dir = resolve_data_dir(args.data)
    registry = Registry(resolve_registry_dir(args.registry))
    t0 = time.perf_counter()
    with console.status("loading aux data") as status:
        data = load_aux_data(data_dir, limit=args.limit)
        if args.no_train:
            model = AuxModels.from_registry(registry)
            status.update("evaluating the current aux bundle")
            result = evaluate_aux(model, data)
        else:
            cfg = AuxConfig(
                vocab_min_df=args.vocab_min_df,
                features=replace(TRAINING_FEATURES, char_bits=args.char_bits),
                calibration=args.calibration,
                fixed_reg=args.reg,
            )

            def progress(msg: str) -> None:
                status.update(msg)
                report_progress(f"aux: {msg}")

            trained = train_aux(data, cfg, progress=progress)
            model = AuxModels(
                trained.featurizer,
                trained.weights,
                trained.bias,
                trained.calibrator,
                heads=AUX_HEADS,
                version="training",
            )
            status.update("held-out evaluation")
            result = evaluate_aux(model, data)
            status.update("writing bundle")
            bundle = write_trained_aux(
                registry,
                trained,
                metrics={k: v for k, v in result.items() if k != "version"},
                params={"validation": trained.validation, "limit": args.limit},
                training_data_hash=hash_files(aux_data_files(data_dir)),
            )
            result["version"] = bundle.version
    result["registry"] = str(registry.root)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    report = var_dir() / "reports" / "aux" / f"eval-{result['version']}.json"
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2, sort_keys=True), encoding="utf-8")
        logger.info("held-out figures written to %s", report)
    except OSError as exc:  # a read-only checkout must not fail the command
        logger.warning("could not write %s: %s", report, exc)
    if args.json:
        print_json(result, sort_keys=True)
        return 0
    from rich.table import Table

    table = Table(title=f"aux bundle {result['version']} — held-out figures")
    for col in ("head", "figure", "value"):
        table.add_column(col)
    for row in _summary(result):
        table.add_row(*row)
    Console().print(table)
    if args.eval:
        Console().print_json(json.dumps(result))
    return 0
