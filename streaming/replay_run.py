"""Replay a dump through the whole pipeline in one process and report (used by
``prosocial replay`` and ``prosocial demo``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from streaming.clock import EventClock
from streaming.modelset import ModelSet
from streaming.replay import ReplayIndex, parse_time
from streaming.report import collect_report, render_markdown
from streaming.runtime import RunStats, StopFlag, assemble, run_embedded
from streaming.settings import load_settings

__all__ = ["replay_and_report"]

logger = logging.getLogger(__name__)


def replay_and_report(
    *,
    config: str | None,
    data: str,
    overrides: dict[str, Any] | None = None,
    drain: bool = True,
    models: ModelSet | None = None,
    report_path: str | Path | None = None,
    title: str = "prosocial replay",
    progress: bool = True,
) -> tuple[dict[str, Any], str]:
    """Replay the dump in ``data`` through every stage on the event clock and report.

    The settings come from ``config`` and ``overrides`` (e.g. the replay window:
    ``replay_since``, ``replay_until``, ``subreddits``, and ``replay_speed``); the report and
    its Markdown are returned (the Markdown also written to ``report_path``)."""
    settings = load_settings(config, replay_data=data, clock="event", **(overrides or {}))
    since, until = settings.replay_since, settings.replay_until
    index = ReplayIndex(
        data, since=parse_time(since), until=parse_time(until), subreddits=settings.subreddits
    )
    p = assemble(settings, models=models, index=index, clock=EventClock())
    stop = StopFlag().install()
    total = len(index.submissions) + index.n_comments
    if progress:
        from streaming.progress import StepBar

        with StepBar() as bar:
            task = bar.add("replay", total=total)

            def tick(st: RunStats) -> None:
                bar.update(task, done=st.published)

            stats = run_embedded(p, stop, drain=drain, progress=tick)
            bar.finish(task)
    else:
        stats = run_embedded(p, stop, drain=drain)
    extra = {
        "replay": {
            "data": str(data),
            "since": since,
            "until": until,
            "speed": settings.replay_speed,
            "posts": len(index.submissions),
            "comments": index.n_comments,
            "tlcs": index.n_tlcs,
            "bus": settings.bus,
            "database": settings.database_url.split(":", 1)[0],
        }
    }
    rep = collect_report(p, stats, extra)
    md = render_markdown(rep, title)
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(md)
    p.bus.close()
    return rep, md
