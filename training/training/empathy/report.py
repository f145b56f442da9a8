"""The empathy training report: figures beside the paper's Table 5/6, baselines, confusion PNG."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.empathy.metrics import SETTINGS

__all__ = ["PAPER", "plot_confusion", "summarise", "write_report"]

logger = logging.getLogger(__name__)

#: The report's columns: P / R / F1 of these settings, in this order.
_COLUMNS = ("seek", "provide", "multi")
#: Hosseini & Caragea (AAAI 2021), Table 5 (BERT-base) and Table 6 (best: CSN pre-training):
#: P / R / F1 % per setting of :data:`_COLUMNS` (None: not reported), one row per model.
_PAPER_ROWS: tuple[tuple[str, tuple[tuple[float, float, float] | None, ...]], ...] = (
    ("BERT-base (Table 5)", ((78.37, 73.40, 76.37), (86.87, 83.37, 84.49), (75.88, 73.42, 74.42))),
    ("BERT + CSN pre-training (Table 6)", ((80.78, 73.74, 78.94), (87.71, 83.37, 85.88), None)),
    ("SVM TF-IDF (Table 5)", ((76.02, 55.28, 53.90), (87.92, 75.32, 79.28), (75.23, 57.22, 58.72))),
    (
        "Lexical-based (Table 5)",
        ((63.85, 53.51, 51.57), (73.58, 58.66, 59.66), (60.46, 47.24, 48.30)),
    ),
)
#: The same figures by model, setting and measure (``PAPER[model]["seek"]["f1"]``).
PAPER: dict[str, dict[str, dict[str, float]]] = {
    model: {
        s: dict(zip(("p", "r", "f1"), prf, strict=True))
        for s, prf in zip(_COLUMNS, row, strict=True)
        if prf is not None
    }
    for model, row in _PAPER_ROWS
}


def summarise(runs: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, Any]]:
    """Mean and sd (sample, ddof=1 when n > 1) of P/R/F1 per setting over runs."""
    out: dict[str, dict[str, Any]] = {}
    for s in SETTINGS:
        d: dict[str, Any] = {}
        for k in ("p", "r", "f1"):
            vals = np.array([r[s][k] for r in runs], dtype=float)
            d[k] = round(float(vals.mean()), 2)
            d[f"{k}_sd"] = round(float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, 2)
        out[s] = d
    return out


def plot_confusion(cms: Mapping[str, np.ndarray], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {
        "multi": ["none", "seeking", "providing"],
        "seek": ["rest", "seeking"],
        "provide": ["rest", "providing"],
    }
    fig, axes = plt.subplots(1, len(cms), figsize=(4.2 * len(cms), 4))
    axes = np.atleast_1d(axes)
    for ax, (setting, cm) in zip(axes, cms.items()):
        ax.imshow(cm, cmap="Blues")
        labs = names[setting]
        ax.set_xticks(range(len(labs)), labs, rotation=30)
        ax.set_yticks(range(len(labs)), labs)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(setting)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    str(int(cm[i, j])),
                    ha="center",
                    va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _row(name: str, res: Mapping[str, Mapping[str, Any]], sd: bool = False) -> str:
    cells = []
    for s in _COLUMNS:
        if s not in res:
            cells += ["", "", ""]
            continue
        for k in ("p", "r", "f1"):
            v = res[s][k]
            cells.append(f"{v:.2f} ± {res[s][k + '_sd']:.2f}" if sd else f"{v:.2f}")
    return f"| {name} | " + " | ".join(cells) + " |"


def write_report(report_dir: Path, summary: Mapping[str, Any]) -> Path:
    """``report.json`` + ``report.md`` (the PNG is written by the caller)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(
        json.dumps(summary, indent=2, default=str), encoding="utf-8"
    )
    head = (
        "| model | seek P | seek R | seek F1 | provide P | provide R | provide F1 | "
        "multi P | multi R | multi F1 |\n|---|" + "---|" * 9
    )
    lines = [
        "# Empathy direction on iEmpathize (test split, macro P/R/F1 %)",
        "",
        (
            f"Split: stratified random 60/20/20, seed {summary.get('split_seed')}; "
            f"n_train/valid/test = {summary.get('n')}. Seeds: {summary.get('seeds')}."
        ),
        "",
        head,
        _row(
            f"MiniLM multi-head, mean ± sd over {len(summary.get('seeds', []))} seeds",
            summary["minilm"],
            sd=True,
        ),
    ]
    if "minilm_untuned" in summary:
        lines.append(
            _row(
                "MiniLM, plain argmax (no validation-tuned decision rule)",
                summary["minilm_untuned"],
                sd=True,
            )
        )
    if "ensemble" in summary:
        lines.append(_row("MiniLM ensemble of the seeds (prob. average)", summary["ensemble"]))
    if summary.get("soup"):
        seeds = ", ".join(str(s) for s in summary.get("bundle_soup") or ())
        lines.append(_row(f"MiniLM greedy weight soup of seeds {seeds}", summary["soup"]))
    for name, res in summary.get("baselines", {}).items():
        lines.append(_row(f"baseline: {name}", res))
    for name, res in PAPER.items():
        lines.append(_row(f"paper: {name}", res))
    lines += [
        "",
        (
            f"Bundle: `{summary.get('bundle')}` ("
            + (
                f"greedy weight soup of seeds {summary['bundle_soup']}"
                if summary.get("bundle_soup")
                else f"seed {summary.get('bundle_seed')}"
            )
            + f", best on validation); test: {json.dumps(summary.get('bundle_test'))}"
        ),
        "",
        (
            f"Training time: {summary.get('train_seconds')} s summed over seeds, "
            f"{summary.get('train_wall_seconds')} s wall; whole command "
            f"{summary.get('total_seconds')} s; "
            f"args: `{json.dumps(summary.get('args'))}`"
        ),
        "",
        "![confusion](confusion.png)",
        "",
    ]
    md = report_dir / "report.md"
    md.write_text("\n".join(lines), encoding="utf-8")
    return md
