"""A dashboard on loopback over a database filled by the real pipeline, for the browser tests.

Posts created 1–2 Oct 2021 in reddit-college (six real subreddits) are replayed through the
embedded pipeline with tiny stand-in models (a sentence-level empathy stand-in, so the post page
has per-sentence labels); the dev Reddit server serves the same threads, with fixture
moderators: ``mod_alice`` moderates r/GradSchool ("r/A") only, ``mod_bob`` r/College ("r/B")
only, ``mod_wiki`` moderates r/GradSchool without the ``posts`` permission. The bot's digests
(real delivery path, sent to the dev server's modmail) create the proposals. The dashboard
runs under uvicorn with the real OAuth client against the dev server.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.bot.support import dev_reddit
from tests.streaming.tiny import TinyEmpathy, tiny_models

__all__ = ["A", "B", "DashboardEnv", "SentenceEmpathy", "start_dashboard_env"]

A, B = "GradSchool", "College"
SINCE, UNTIL = "2021-10-01", "2021-10-03"
_SENT = re.compile(r"(?<=[.!?])\s+")


@dataclass
class _SentEmp:
    text: str
    label: str
    probs: dict[str, float]
    sentences: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SentenceEmpathy(TinyEmpathy):
    """TinyEmpathy per sentence, in the real classifier's output shape."""

    version = "tiny-empathy-sentences-1"

    def predict_comments(self, texts: Sequence[str]) -> list[_SentEmp]:  # type: ignore[override]  # the real classifier's per-sentence shape
        out = []
        for t in texts:
            parts = [p for p in _SENT.split(t.strip()) if p] or [t]
            labs = super().predict_comments(parts)
            sentences = [
                {
                    "text": p,
                    "label": e.label,
                    "probs": dict(zip(("none", "seeking", "providing"), e.probs)),
                }
                for p, e in zip(parts, labs, strict=True)
            ]
            seek = sum(s["label"] == "seeking" for s in sentences)
            prov = sum(s["label"] == "providing" for s in sentences)
            label = "seeking" if seek and seek >= prov else "providing" if prov else "none"
            out.append(
                _SentEmp(t, label, {"none": 0.0, "seeking": 0.0, "providing": 0.0}, sentences)
            )
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DashboardEnv:
    url: str
    devserver: Any
    world: Any
    store: Any
    sessions: Any
    conversations: dict[str, str]
    bot: Any
    app: Any


def fill_database(data_dir: Path, db_url: str, *, until: str = UNTIL) -> Any:
    from streaming.replay import ReplayIndex, parse_time
    from streaming.runtime import run_embedded
    from tests.streaming.support import replay_pipeline

    index = ReplayIndex(
        data_dir / "reddit-college", since=parse_time(SINCE), until=parse_time(until)
    )
    models = tiny_models()
    models.empathy = SentenceEmpathy()  # type: ignore[assignment]  # per-sentence results
    p = replay_pipeline(index, db_url, models, eval_every=150)
    # one malformed record, as Reddit sometimes sends: the health page counts it by reason
    p.bus.publish("reddit.comments", "t3_zzzzzz", b'{"kind": "comment", "id": 42}')
    run_embedded(p)
    return index, p.sessions


WIKI_A = """version: 1
dry_run: false
thresholds:
  min_rank_distance: 0.1
  min_tlcs: 3
  max_posts: 5
actions:
  highlights: true
"""


def start_dashboard_env(data_dir: Path, workdir: Path) -> Iterator[DashboardEnv]:
    """Yield a running environment (dev server + dashboard); stop both afterwards."""
    from bot.actions import ActionExecutor
    from bot.approval_service import ApproverCheck
    from bot.approvals import ApprovalStore
    from bot.config import ConfigLoader, ConfigStore
    from bot.dashboard import RedditOAuth, create_app, load_dashboard_settings
    from bot.dashboard.serve import DashboardServer, approval_desk
    from bot.delivery import ModeratorDelivery
    from bot.devserver import DevRedditServer
    from bot.devserver.world import RedditWorld
    from bot.stored_suggestions import StoredSuggestionSource

    index, sessions = fill_database(data_dir, f"sqlite:///{workdir / 'service.db'}")
    posts = [p.model_dump() for p in index.submissions.values()]
    comments = [c.model_dump() for cs in index.comments.values() for c in cs]
    last = max(float(c["created_utc"]) for c in comments)
    bot = "prosocial_bot"
    world = RedditWorld(
        posts,
        comments,
        start=last + 3600,
        late_fraction=0.0,
        automod_tlcs=False,
        moderators={s.lower(): {bot: ["all"]} for s in {p["subreddit"] for p in posts}}
        | {
            A.lower(): {bot: ["all"], "mod_alice": ["all"], "mod_wiki": ["wiki"]},
            B.lower(): {bot: ["all"], "mod_bob": ["posts", "mail"]},
        },
    )
    world.wiki[(A.lower(), "prosocial")] = {
        "content": WIKI_A,
        "by": "mod_alice",
        "revision_date": world.now,
        "revision_id": "rev-a",
    }
    world.wiki[(B.lower(), "prosocial")] = {
        "content": WIKI_A,
        "by": "mod_bob",
        "revision_date": world.now,
        "revision_id": "rev-b",
    }
    port = free_port()
    srv = DevRedditServer(world).start()
    srv.oauth.register_app("dash-app", "dash-secret", f"http://127.0.0.1:{port}/auth/callback")
    reddit = dev_reddit(srv.url, timeout_cap=5.0)
    state = workdir / "bot"
    state.mkdir(exist_ok=True)
    store = ApprovalStore(state / "approvals.sqlite")
    loader = ConfigLoader(reddit, ConfigStore(state / "config.sqlite"))
    delivery = ModeratorDelivery(reddit, store, bot, send=True, clock=world.clock)
    source = StoredSuggestionSource(sessions)
    conversations: dict[str, str] = {}
    for sub in (A, B):
        cfg = loader.load(sub).config
        r = delivery.deliver_digest(
            sub, cfg.model_copy(update={"horizon_hours": 24 * 365 * 10}), source, force=True
        )
        assert r.digest is not None and r.digest.proposals, f"no proposal for r/{sub}"
        assert r.conversation is not None
        conversations[sub] = r.conversation
    settings = load_dashboard_settings(
        client_id="dash-app",
        client_secret="dash-secret",
        redirect_uri=f"http://127.0.0.1:{port}/auth/callback",
        reddit_url=srv.url,
        oauth_url=srv.url,
        port=port,
        state_dir=str(state),
        send=True,
        moderator_cache_s=0,
    )
    desk = approval_desk(
        store,
        may_approve=ApproverCheck(reddit, loader),
        executor=ActionExecutor(reddit, store, bot_username=bot, clock=world.clock),
        loader=loader,
        clock=world.clock,
        send=True,
    )
    oauth = RedditOAuth(
        "dash-app",
        "dash-secret",
        settings.callback_url,
        reddit_url=srv.url,
        oauth_url=srv.url,
    )
    app = create_app(
        settings,
        sessions,
        oauth=oauth,
        clock=world.clock,
        secret="test-secret-" + str(port),
        approvals=desk,
        ops=lambda: {"last_poll": "n/a in this test", "requests_this_window": world.requests},
    )
    server = DashboardServer(app, "127.0.0.1", port).start()
    try:
        yield DashboardEnv(
            f"http://127.0.0.1:{port}", srv, world, store, sessions, conversations, reddit, app
        )
    finally:
        server.stop()
        srv.stop()
