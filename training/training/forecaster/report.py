"""The forecaster report: markdown tables + PNG plots under ``var/reports/forecaster``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SIZE_BINS",
    "by_subreddit",
    "checkpoint_lines",
    "results_table",
    "subreddit_table",
    "write_report",
]

SIZE_BINS = ((0, 0), (1, 1), (2, 3), (4, 7), (8, 15), (16, 10**9))
_ORDER_ONLY = ("chronological", "reddit_order")
_ROWS = (
    "mean",
    "ridge",
    "gbm",
    "text_ridge",
    "main",
    "main_no_time",
    "main_no_author",
    "main_no_context",
    "main_no_empathy",
    "minilm",
    "chronological",
    "reddit_order",
    "oracle",
)


def _fmt(r: dict[str, Any], k: str, order_only: bool) -> str:
    if order_only and k in ("mse", "r2"):
        return "—"
    v = r.get(k)
    if v is None or not np.isfinite(v):
        return "—"
    ci = r.get("ci", {}).get(k)
    pct = k.startswith("pairwise")
    s = f"{100 * v:.1f}" if pct else f"{v:.3f}"
    if ci:
        s += f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if pct else f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return s


def checkpoint_lines(
    by_checkpoint: Mapping[Any, Mapping[str, Any]],
    rows: tuple[str, ...] = ("mean", "main", "chronological", "reddit_order"),
) -> list[str]:
    """The command line's text of the figures at each checkpoint delay (seconds): a line per
    model or order of ``rows`` it has; the R² cell of an order is empty (orders are not
    forecasts)."""
    lines = []
    for delay, figures in by_checkpoint.items():
        lines.append(f"checkpoint +{int(delay) // 60} min:")
        for k in rows:
            r = figures.get(k)
            if r:
                r2 = "" if k in _ORDER_ONLY else f"{r['r2']:+.3f}"
                lines.append(
                    f"  {k:14s} R² {r2:>6s}  pairwise {r['pairwise_acc']:.3f}  "
                    f"time-matched {r['pairwise_acc_time_matched']:.3f}  ndcg5 {r['ndcg5']:.3f}"
                )
    return lines


def results_table(results: dict[str, Any]) -> str:
    keys = (
        "mse",
        "r2",
        "pairwise_acc",
        "pairwise_acc_time_matched",
        "pairwise_acc_post_macro",
        "ndcg5",
        "spearman",
    )
    lines = [
        (
            "| model | MSE | R² | pairwise % | time-matched pairwise % | post-macro pairwise % "
            "| NDCG@5 | Spearman |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in _ROWS:
        if name not in results:
            continue
        r = results[name]
        cells = [_fmt(r, k, name in _ORDER_ONLY) for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def by_subreddit(
    y: np.ndarray,
    preds: dict[str, np.ndarray],
    groups: np.ndarray,
    times: np.ndarray,
    subs: np.ndarray,
    models: tuple[str, ...] = ("main", "main_no_time", "gbm", "chronological"),
) -> dict[str, dict[str, dict[str, float]]]:
    """Test figures per subreddit (no bootstrap): subreddit → model → metric."""
    from models.forecaster.evaluation import evaluate

    out: dict[str, dict[str, dict[str, float]]] = {}
    for s in sorted(set(subs.tolist()), key=str.lower):
        m = subs == s
        out[s] = {
            k: {
                x: float(v)
                for x, v in evaluate(y[m], preds[k][m], groups[m], times[m], n_boot=0).items()
                if x in ("r2", "pairwise_acc", "pairwise_acc_time_matched")
            }
            for k in models
            if k in preds
        }
        out[s]["_n"] = {"tlcs": float(m.sum()), "posts": float(len(set(groups[m].tolist())))}
    return out


def subreddit_table(res: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        (
            "| subreddit | TLCs / posts | R² main | pairwise % main / no-time / chrono | "
            "time-matched % main / no-time |"
        ),
        "|---|---|---|---|---|",
    ]

    def pct(d: dict[str, float] | None, k: str) -> str:
        v = None if d is None else d.get(k)
        return "—" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"

    for s, r in res.items():
        n = r["_n"]
        main, nt, ch = r.get("main"), r.get("main_no_time"), r.get("chronological")
        r2 = "—" if main is None or not np.isfinite(main["r2"]) else f"{main['r2']:.3f}"
        lines.append(
            f"| {s} | {int(n['tlcs'])} / {int(n['posts'])} | {r2} | "
            f"{pct(main, 'pairwise_acc')} / {pct(nt, 'pairwise_acc')} / "
            f"{pct(ch, 'pairwise_acc')} | {pct(main, 'pairwise_acc_time_matched')} / "
            f"{pct(nt, 'pairwise_acc_time_matched')} |"
        )
    return "\n".join(lines)


def _margins_table(m: dict[str, Any]) -> str:
    lines = [
        (
            "| main − … | ΔR² 95% CI | Δpairwise 95% CI | Δtime-matched 95% CI | "
            "Δpost-macro pairwise 95% CI | ΔNDCG@5 95% CI |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for k, d in m.items():
        cells = [
            "—"
            if (x == "r2" and k in _ORDER_ONLY) or x not in d
            else f"[{d[x][0]:+.3f}, {d[x][1]:+.3f}]"
            for x in (
                "r2",
                "pairwise_acc",
                "pairwise_acc_time_matched",
                "pairwise_acc_post_macro",
                "ndcg5",
            )
        ]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plots(
    out: Path, y: np.ndarray, pred: dict[str, np.ndarray], subs: np.ndarray, size: np.ndarray
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.hexbin(y, pred["main"], gridsize=50, bins="log", cmap="viridis")
    lo, hi = float(np.min(y)), float(np.max(y))
    ax.plot([lo, hi], [lo, hi], "r--", lw=1)
    ax.set_xlabel("actual trajectory")
    ax.set_ylabel("forecast (main)")
    ax.set_title("Predicted vs actual (test)")
    fig.tight_layout()
    fig.savefig(out / "pred_vs_actual.png", dpi=110)
    plt.close(fig)
    files.append("pred_vs_actual.png")
    models = [m for m in ("mean", "ridge", "gbm", "main") if m in pred]
    for fname, keys, labels, title in (
        (
            "error_by_subreddit.png",
            [subs == s for s in sorted(set(subs))],
            sorted(set(subs)),
            "MSE by subreddit (test)",
        ),
        (
            "error_by_thread_size.png",
            [(size >= a) & (size <= b) for a, b in SIZE_BINS],
            [f"{a}" if a == b else (f"{a}-{b}" if b < 10**9 else f"{a}+") for a, b in SIZE_BINS],
            "MSE by replies under the TLC (test)",
        ),
    ):
        fig, ax = plt.subplots(figsize=(8, 4))
        w = 0.8 / len(models)
        for j, m in enumerate(models):
            mse = [float(np.mean((y[k] - pred[m][k]) ** 2)) if k.any() else 0 for k in keys]
            ax.bar(np.arange(len(keys)) + j * w, mse, w, label=m)
        ax.set_xticks(np.arange(len(keys)) + w * (len(models) - 1) / 2)
        ax.set_xticklabels(
            [f"{lab}\n(n={int(k.sum())})" for lab, k in zip(labels, keys)], fontsize=7
        )
        ax.set_ylabel("MSE")
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=110)
        plt.close(fig)
        files.append(fname)
    return files


def write_report(
    out: Path,
    *,
    header: dict[str, Any],
    sections: dict[str, dict[str, Any]],
    y: np.ndarray,
    preds: dict[str, np.ndarray],
    subs: np.ndarray,
    size: np.ndarray,
    notes: list[str],
    extra: dict[str, str] | None = None,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    files = _plots(out, y, preds, subs, size)
    md = ["# Trajectory forecaster report", ""]
    md += [f"- **{k}**: {v}" for k, v in header.items()]
    md.append("")
    for title, res in sections.items():
        md += [f"## {title}", "", results_table(res), ""]
        if "_margins" in res:
            md += [
                "Paired bootstrap (posts) of the main model's margin:",
                "",
                _margins_table(res["_margins"]),
                "",
            ]
    for title, text in (extra or {}).items():
        md += [f"## {title}", "", text, ""]
    md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    md += [f"![{f}]({f})" for f in files]
    p = out / "README.md"
    p.write_text("\n".join(md) + "\n", encoding="utf-8")
    return p
