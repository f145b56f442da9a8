"""A simulated day: dev server (real threads, faults) → praw ingest → bus → digest → approval.

Used by the end-to-end test and by ``prosocial bot simulate``. Time is simulated: the world
clock advances between polls and whenever the bot (or praw / prawcore) sleeps, so a day runs
in a few minutes of wall time while rate-limit windows, back-offs and sweeps follow simulated time.

The suggestions here come from :class:`HeuristicSuggestions`, a deliberately simple stand-in
(longer, question-answering TLCs first) that reads the bus — it exercises delivery, not model
quality; the service plugs its real suggester in through :class:`bot.suggestions
.SuggestionSource`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.actions import ActionExecutor
from bot.approvals import ApprovalService, ApprovalStore
from bot.backoff import Backoff
from bot.config import ConfigLoader, ConfigStore
from bot.delivery import ModeratorDelivery
from bot.devserver.faults import FaultPlan
from bot.devserver.server import DevRedditServer
from bot.devserver.simservice import service_figures, settle, stream_service
from bot.devserver.simtools import HeuristicSuggestions, sim_sleep
from bot.devserver.world import load_world
from bot.errors import RetriesExhausted
from bot.ingest import RedditIngest
from bot.modmail_commands import ModmailCommandReader
from bot.permissions import check_permissions
from bot.ratelimit import RateBudget
from bot.reddit import ClientSettings, make_reddit
from bot.seen import SeenStore
from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS
from streaming.bus.base import Bus

__all__ = ["HeuristicSuggestions", "run_simulated_day", "sim_sleep"]

logger = logging.getLogger(__name__)

_GOOD = """version: 1
dry_run: {dry}
digest: {{every_hours: 6}}
thresholds: {{min_rank_distance: 0.2, min_tlcs: 3, max_posts: 5, empathy_unanswered_hours: 1}}
channels: {{modmail: true, wiki: true, wiki_page: prosocial/suggestions}}
actions: {{sticky_comment: true}}
"""


def run_simulated_day(
    data_dir: str | Path,
    subreddits: Sequence[str],
    day: str,
    bus: Bus,
    *,
    fault_rate: float = 0.1,
    seed: int = 7,
    poll_every_s: float = 120,
    hours: float = 24,
    workdir: str | Path | None = None,
    restart_at_h: float | None = 16,
    sweep_every_s: float = 1800,
    models: Any | None = None,
    horizon_s: int = 4 * 3600,
    database_url: str | None = None,
    downtime_s: float = 2 * 3600,
) -> dict[str, Any]:
    """Run the day and return the figures (see the module docstring).

    At ``restart_at_h`` the bot stops for ``downtime_s`` and restarts on the same state: more
    than a listing page of items arrives meanwhile, which only the sweeps can recover.
    With ``models`` (a :class:`streaming.modelset.ModelSet`) the stream service's scorer,
    suggester and back-fill stages run on the same bus and database; the digests then come
    from its stored suggestions and the back-fills fetch threads from the dev server's API.
    """
    start = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    end = start + hours * 3600
    world = load_world(data_dir, subreddits, start, end, seed=seed)
    subs = [world.subreddits[s.lower()] for s in subreddits]
    bot = world.bot_username
    # who moderates what: the last subreddit lacks the posts permission
    world.moderators = {s.lower(): {bot: ["all"], "mod_alice": ["all"]} for s in subs}
    world.moderators[subs[-1].lower()] = {bot: ["mail", "wiki"], "mod_alice": ["all"]}
    faults = FaultPlan(rate=fault_rate, seed=seed, timeout_delay_s=0.4)
    wd = Path(workdir) if workdir else None
    seen_path = str(wd / "seen.sqlite") if wd else ":memory:"
    with DevRedditServer(world, faults) as srv, sim_sleep(world.advance) as shim:
        srv.api.set_wiki(subs[0], "prosocial", _GOOD.format(dry="false"), "mod_alice")
        if len(subs) > 1:
            srv.api.set_wiki(subs[1], "prosocial", "digest: [every 6 hours\n", "mod_alice")
        for s in subs[2:]:
            srv.api.set_wiki(s, "prosocial", _GOOD.format(dry="true"), "mod_alice")
        budget = RateBudget(world.clock)
        settings = ClientSettings(
            oauth_url=srv.url,
            reddit_url=srv.url,
            timeout_cap=0.25,
            user_agent="python:prosocial-sim:v0.1 (by u/prosocial_bot)",
            extra={"client_id": "sim", "client_secret": "sim", "username": bot, "password": "sim"},
        )
        reddit = make_reddit(settings, budget)
        backoff = Backoff(sleep=world.advance, base_s=2, cap_s=120, max_tries=8)
        perms = {r.subreddit: r.explain() for r in check_permissions(reddit, subs, backoff=backoff)}
        store = ApprovalStore(str(wd / "approvals.sqlite") if wd else ":memory:")
        delivery = ModeratorDelivery(
            reddit, store, bot, send=True, clock=world.clock, backoff=backoff
        )
        loader = ConfigLoader(reddit, ConfigStore(), notify=delivery.notify, backoff=backoff)
        service = ApprovalService(store, lambda sub, user: user.lower() == "mod_alice", world.clock)
        reader = ModmailCommandReader(reddit, service, bot, send=True, backoff=backoff)
        executor = ActionExecutor(reddit, store, clock=world.clock, backoff=backoff)
        source: Any = HeuristicSuggestions(bus)
        pipe = None
        ingest: RedditIngest | None = None
        if models is not None:
            pipe, source = stream_service(
                models,
                bus,
                reddit,
                budget,
                backoff,
                world,
                horizon_s,
                database_url or "sqlite://",
                lambda t: ingest is not None and ingest.core.seen.has_reply(t),
            )

        def new_ingest() -> RedditIngest:
            return RedditIngest(
                reddit,
                bus,
                SeenStore(seen_path),
                subs,
                clock=world.clock,
                sleep=world.advance,
                sweep_every_s=sweep_every_s,
                sweep_lookback_s=3600,
                backoff=backoff,
                budget=budget,
            )

        ingest = new_ingest()
        stats: list[dict[str, Any]] = []
        restarted = False
        approved_once = False
        configs: dict[str, str] = {}
        results: dict[str, Any] = {}
        last_config = last_mail = -1e18
        while world.now < end:
            try:
                ingest.poll_once()
            except RetriesExhausted as exc:
                logger.warning("poll gave up: %s", exc)
            if pipe is not None:
                settle(pipe)
            if (
                restart_at_h is not None
                and not restarted
                and world.now >= start + restart_at_h * 3600
                and seen_path != ":memory:"
            ):
                stats.append(ingest.stats.as_dict())
                ingest.core.seen.close()
                world.advance(downtime_s)  # the bot is down; Reddit is not
                ingest = new_ingest()  # a restart: same store, fresh streams
                restarted = True
            refresh = world.now - last_config >= 1800
            check_mail = world.now - last_mail >= 600
            last_config = world.now if refresh else last_config
            last_mail = world.now if check_mail else last_mail
            for s in subs:
                if refresh:
                    results[s] = loader.load(s)
                    configs[s] = results[s].source
                result = results[s]
                d = delivery.deliver_digest(s, result.config, source)
                if d.conversation and not approved_once and d.digest and d.digest.proposals:
                    srv.api.add_moderator_reply(d.conversation, "random_user", "!approve 1")
                    srv.api.add_moderator_reply(
                        d.conversation, "mod_alice", f"!approve {d.digest.proposals[0].id}"
                    )
                    approved_once = True
                if check_mail:
                    reader.poll(s)
                    executor.run_approved(s, dry_run=result.config.dry_run)
            world.advance(poll_every_s)
        ingest.sweep()  # the closing reconciliation
        stats.append(ingest.stats.as_dict())
        gaps_during = _gaps_during(ingest.core.seen, start)
        slept = shim.slept
        svc_figures = service_figures(pipe) if pipe is not None else None
    fig = _figures(world, srv, bus, budget, store, stats, perms, configs, slept, subs, start)
    fig["stream_service"] = svc_figures
    fig["sweep_filled_during_run"] = gaps_during
    fig["late_items_during_run"] = sum(
        1
        for i in world.items.values()
        if i.created >= start
        and i.visible_at > i.created
        and i.data.get("author") != "AutoModerator"
    )
    return fig


def _gaps_during(seen: SeenStore, start: float) -> dict[str, int]:
    """Items first published by a sweep although created after the bot started: the
    stream's real gaps (the rest of the sweeps' catch is the backlog from before the start)."""
    rows = seen._db.execute(  # a read-only report query on our own store
        "SELECT kind, COUNT(*) FROM seen WHERE via='sweep' AND created_utc>=? GROUP BY kind",
        (int(start),),
    ).fetchall()
    return {k: int(n) for k, n in rows}


def _figures(
    world: Any,
    srv: DevRedditServer,
    bus: Any,
    budget: RateBudget,
    store: ApprovalStore,
    stats: list[dict[str, Any]],
    perms: dict[str, str],
    configs: dict[str, str],
    slept: float,
    subs: list[str],
    start: float,
) -> dict[str, Any]:
    names: Counter[str] = Counter()
    tlc_names: Counter[str] = Counter()
    bot_items = 0
    for topic in (TOPIC_SUBMISSIONS, TOPIC_COMMENTS):
        for m in bus.poll("sim-audit", [topic], 10**7, 0):
            v = json.loads(m.value)
            names[v["name"]] += 1
            if v.get("author") == "AutoModerator":
                bot_items += 1
            if topic == TOPIC_COMMENTS and v["parent_id"] == v["link_id"]:
                tlc_names[v["name"]] += 1
    # ground truth: what appeared (was created and visible) while the bot was running
    present_tlcs = world.present("t1", tlc_only=True, since=start)
    present = world.present("t1", since=start) | world.present("t3", since=start)
    gaps: Counter[str] = Counter()
    for s in stats:
        gaps.update(s["gaps_filled"])
    return {
        "subreddits": subs,
        "tlcs_present": len(present_tlcs),
        "tlcs_ingested": len(set(tlc_names) & present_tlcs),
        "tlcs_ingested_twice": sum(1 for n in tlc_names.values() if n > 1),
        "items_present": len(present),
        "items_published": sum(names.values()),
        "duplicates_published": sum(n - 1 for n in names.values() if n > 1),
        "missing": len(present - set(names)),
        "published_from_before_start": len(set(names) - present),
        "bot_items_published": bot_items,
        "stream_replays_suppressed": sum(s["duplicates"] for s in stats),
        "gaps_filled_by_sweeps": dict(gaps),
        "tlc_gaps_filled": sum(s["tlc_gaps_filled"] for s in stats),
        "skipped_bot_items": sum(s["skipped_bots"] for s in stats),
        "requests": budget.requests,
        "server_requests": world.requests,
        "max_requests_per_10min": max(world.requests_by_window.values(), default=0),
        "rate_budget_per_10min": 600,
        "throttled_429": budget.throttled,
        "faults_injected": dict(srv.faults.injected),
        "fault_share": round(sum(srv.faults.injected.values()) / max(1, world.requests), 4),
        "simulated_seconds_slept": round(slept, 1),
        "digests": len([d for d in store.digests() if d[1]]),
        "digests_per_subreddit": dict(Counter(d[0] for d in store.digests() if d[1])),
        "digest_times": {s.lower(): [d[2] for d in store.digests(s) if d[1]] for s in subs},
        "notices": dict(
            Counter(
                c.subreddit.lower() for c in world.modmail.values() if "not applied" in c.subject
            )
        ),
        "digest_conversations": len(world.modmail),
        "wiki_pages_written": sum(1 for (s, p) in world.wiki if p != "prosocial"),
        "config_sources": configs,
        "permissions": perms,
        "mod_actions": world.mod_actions,
        "action_log": store.action_log(),
        "restarts": len(stats) - 1,
    }
