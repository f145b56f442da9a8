"""The run report (demo / replay): throughput, latency, suggestions, forecast quality beside
Reddit's and chronological order — as a dict and as Markdown."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy import func, select

from streaming.pipeline import Pipeline
from streaming.runtime import RunStats
from streaming.storage import EvaluationRow, SuggestionRow
from streaming.storage.queries import dead_letter_kinds, latest_revisions, row_counts

__all__ = ["collect_report", "render_markdown"]


def _pct(xs: list[float], quantile: float) -> float | None:
    return float(np.percentile(xs, quantile)) if xs else None


def collect_report(
    p: Pipeline, stats: RunStats, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    with p.sessions() as s:
        counts = row_counts(s)
        posts_suggested = int(
            s.scalar(select(func.count(func.distinct(SuggestionRow.post_name)))) or 0
        )
        latencies = [x for x in s.scalars(select(SuggestionRow.latency_s)) if x is not None]
        dead_letters: dict[str, int] = {}
        for (_, kind), n in dead_letter_kinds(s).items():
            dead_letters[kind] = dead_letters.get(kind, 0) + n
        latest = s.execute(latest_revisions()).tuples().all()
        moved = 0
        for post, rev in latest[:5000]:
            row = s.get(SuggestionRow, (post, rev))
            if row is not None and row.diff:
                moved += 1
        evals = s.scalars(select(EvaluationRow).where(EvaluationRow.subreddit == "*")).all()
        newest: dict[str, EvaluationRow] = {}
        for e in evals:
            if e.model not in newest or e.window_end_utc > newest[e.model].window_end_utc:
                newest[e.model] = e
    wall = stats.wall_s or math.nan
    report: dict[str, Any] = {
        "wall_s": round(stats.wall_s, 2),
        "events_published": stats.published,
        "events_per_s": round(stats.published / wall, 1) if stats.published else None,
        "tlcs_scored": counts["scores"],
        "tlcs_scored_per_s": round(counts["scores"] / wall, 1) if counts["scores"] else None,
        "latency_ingest_to_suggestion_s": {
            "p50": _pct(latencies, 50),
            "p99": _pct(latencies, 99),
            "n": len(latencies),
        },
        "suggestions": counts["suggestions"],
        "posts_with_suggestions": posts_suggested,
        "posts_where_order_changes": moved,
        "counts": counts,
        "dead_letters": dead_letters,
        "models": p.models.versions(),
        "missing_models": dict(p.models.missing),
        "skipped": dict(p.skipped),
        "evaluation": {
            m: {"window_tlcs": e.n_tlcs, "posts": e.n_posts, **e.figures}
            for m, e in sorted(newest.items())
        },
    }
    if extra:
        report.update(extra)
    return report


def _f(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def render_markdown(report: dict[str, Any], title: str = "prosocial demo") -> str:
    lines = [f"# {title}", ""]
    if report.get("replay"):
        r = report["replay"]
        lines += [
            (
                f"Replay of `{r.get('data')}` {r.get('since')} → {r.get('until')}"
                f" ({r.get('posts')} posts, {r.get('comments')} comments, "
                f"{r.get('tlcs')} TLCs) on the **{r.get('bus', 'embedded')}** bus with "
                f"{r.get('database', 'SQLite')}."
            ),
            "",
        ]
    if report["missing_models"]:
        lines += ["## Missing bundles (these parts did not run)", ""]
        lines += [f"- **{k}**: {v}" for k, v in report["missing_models"].items()]
        lines += [f"- stage/feature `{k}`: {v}" for k, v in report["skipped"].items()]
        lines.append("")
    latencies = report["latency_ingest_to_suggestion_s"]
    lines += [
        "## Throughput and latency",
        "",
        "| figure | value |",
        "|---|---|",
        f"| wall time (s) | {_f(report['wall_s'])} |",
        f"| events replayed | {report['events_published']} |",
        f"| events/s | {_f(report['events_per_s'])} |",
        f"| TLCs scored | {report['tlcs_scored']} |",
        f"| TLCs scored/s | {_f(report['tlcs_scored_per_s'])} |",
        f"| ingest → stored suggestion p50 (s) | {_f(latencies['p50'])} |",
        f"| ingest → stored suggestion p99 (s) | {_f(latencies['p99'])} |",
        f"| suggestions stored (revisions) | {report['suggestions']} |",
        f"| posts with a suggestion | {report['posts_with_suggestions']} |",
        (
            f"| posts whose suggested order differs from Reddit's | "
            f"{report['posts_where_order_changes']} |"
        ),
        f"| outcomes back-filled | {report['counts']['outcomes']} |",
        (
            f"| dead letters | {sum(report['dead_letters'].values())} {report['dead_letters'] or ''} |"
        ),
        "",
    ]
    ev = report["evaluation"]
    if ev:
        lines += [
            "## Forecast quality against back-filled outcomes (all subreddits)",
            "",
            (
                "| order / model | TLCs | posts | MSE | R² | pairwise acc. | time-matched "
                "pairwise | post-macro pairwise | NDCG@5 | within-post Spearman |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for m, f in ev.items():
            lines.append(
                f"| {m} | {f.get('window_tlcs')} | {f.get('posts')} | "
                f"{_f(f.get('mse'))} | {_f(f.get('r2'))} | {_f(f.get('pairwise_acc'))} | "
                f"{_f(f.get('pairwise_acc_time_matched'))} | "
                f"{_f(f.get('pairwise_acc_post_macro'))} | {_f(f.get('ndcg5'))} | "
                f"{_f(f.get('spearman'))} |"
            )
        lines += [
            "",
            (
                "Figures from the same evaluation module as the training reports. Pairwise "
                "accuracy and NDCG are within posts (posts with ≥ 2 scored TLCs; "
                "time-matched: TLCs posted ≤ 10 min apart); `reddit_order` = score as scraped, then older first; "
                "`chronological` = oldest first; the evaluation window is the newest "
                "TLCs with both a forecast and an outcome."
            ),
            "",
        ]
    else:
        lines += [
            "## Forecast quality",
            "",
            (
                "No evaluation: forecasts and back-filled outcomes "
                "are both needed (see missing bundles above)."
            ),
            "",
        ]
    lines += ["## Models", ""] + [f"- {k}: `{v}`" for k, v in report["models"].items()] + [""]
    return "\n".join(lines)
