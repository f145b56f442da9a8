"""The dashboard's ASGI app (Starlette + Jinja2, server-rendered, no JavaScript).

:func:`create_app` takes its collaborators: the service database's session factory, the
Reddit OAuth client, the settings, the clock, and optionally the approval desk (store and
:class:`bot.approval_service.Decider`), an operations probe (last poll, request budget) and
the "has a supportive reply" check for seekers. Every page but the login pages needs a
session; every subreddit page, API answer and form answers 403 unless the user moderates the
subreddit and the service watches it; every POST needs the session's CSRF token.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.dashboard import queries
from bot.dashboard.auth import COOKIE, STATE_COOKIE, Session, SessionStore
from bot.dashboard.charts import line_chart
from bot.dashboard.errors import DashboardConfigError, LoginError
from bot.dashboard.oauth import OAuthClient
from bot.dashboard.settings import DashboardSettings
from streaming.storage import SessionFactory

__all__ = ["ApprovalDesk", "create_app"]

logger = logging.getLogger(__name__)

_CSP = (
    "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class ApprovalDesk:
    """The proposals' store (:class:`bot.approvals.ApprovalStore`) and, when the bot's Reddit
    client is configured, the :class:`bot.approval_service.Decider` that decides on them."""

    store: Any
    decider: Any = None


@dataclass
class _Deps:
    settings: DashboardSettings
    db: SessionFactory
    oauth: OAuthClient | None
    clock: Callable[[], float]
    sessions: SessionStore
    approvals: ApprovalDesk | None
    ops: Callable[[], dict[str, Any]] | None
    has_supportive_reply: Callable[[str], bool]
    env: Environment
    wall: Callable[[], float] = time.time
    orders: queries.OrderLookup | None = None
    watched: tuple[float, dict[str, str]] = (0.0, {})
    summaries: queries.SummaryCache = field(default_factory=dict)


class _SecurityHeaders:
    """Content-Security-Policy (no script, no inline style, forms to this origin only), no
    framing, no caching of pages (static files excepted)."""

    _HEADERS = (
        (b"content-security-policy", _CSP.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"x-content-type-options", b"nosniff"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + list(self._HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _ago(now: float, t: float | None) -> str:
    if not t:
        return "—"
    d = max(0.0, now - t)
    if d < 90:
        return f"{d:.0f} s"
    if d < 5400:
        return f"{d / 60:.0f} min"
    if d < 48 * 3600:
        return f"{d / 3600:.1f} h"
    return f"{d / 86400:.1f} d"


def _utc(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if t else "—"


def _safe_next(url: str | None) -> str:
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def create_app(
    settings: DashboardSettings,
    db: SessionFactory,
    *,
    oauth: OAuthClient | None,
    clock: Callable[[], float] = time.time,
    secret: str | None = None,
    approvals: ApprovalDesk | None = None,
    ops: Callable[[], dict[str, Any]] | None = None,
    has_supportive_reply: Callable[[str], bool] | None = None,
    wall: Callable[[], float] = time.time,
    orders: queries.OrderLookup | None = None,
) -> Starlette:
    """The app; ``secret`` signs cookies (default: ``settings.session_secret``). ``clock`` is
    the service's time (ages of posts and comments; event time in a replay, the dev server's
    simulated time against it), ``wall`` real time (sessions, the moderator-list cache and the
    processing stamps, ``*_ms`` columns, that the health page compares with). ``orders`` gives
    Reddit's current order of a post's TLCs as last read (:class:`bot.reddit_order.OrderStore`);
    without it Reddit's order is the one stored with the suggestion (score at ingest)."""
    if settings.demo_user is None and oauth is None:
        raise DashboardConfigError("Reddit login is configured but no OAuth client was given")
    if settings.demo_user is not None and oauth is not None:
        raise DashboardConfigError("the demo login cannot run together with Reddit login")
    key = secret or (settings.session_secret.get_secret_value() if settings.session_secret else "")
    if not key:
        raise DashboardConfigError("no session secret")
    env = Environment(
        loader=PackageLoader("bot.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc
    deps = _Deps(
        settings,
        db,
        oauth,
        clock,
        SessionStore(  # sessions and the moderator-list cache live in wall time
            key,
            wall,
            max_age_s=settings.session_max_age_s,
            moderator_cache_s=settings.moderator_cache_s,
        ),
        approvals,
        ops,
        has_supportive_reply or (lambda _tlc: False),
        env,
        wall,
        orders,
    )
    from importlib.resources import files

    static = StaticFiles(directory=str(files("bot.dashboard") / "static"))
    routes = [
        Route("/", _page(deps, _index)),
        Route("/login", _login_page(deps)),
        Route("/login/demo", _demo_login(deps), methods=["POST"]),
        Route("/auth/start", _auth_start(deps)),
        Route("/auth/callback", _auth_callback(deps)),
        Route("/logout", _logout(deps), methods=["POST"]),
        Route("/health", _page(deps, _health)),
        Route("/r/{sub}", _page(deps, _queue)),
        Route("/r/{sub}/comments/{post}", _page(deps, _post)),
        Route("/r/{sub}/seekers", _page(deps, _seekers)),
        Route("/r/{sub}/quality", _page(deps, _quality)),
        Route("/r/{sub}/audit", _page(deps, _audit)),
        Route("/r/{sub}/proposals/{pid:int}/{verdict}", _decide(deps), methods=["POST"]),
        Route("/api/r/{sub}/queue", _api(deps, _api_queue)),
        Route("/api/r/{sub}/comments/{post}", _api(deps, _api_post)),
        Route("/api/r/{sub}/proposals", _api(deps, _api_proposals)),
        Mount("/static", app=static, name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=_warm, args=(deps,), daemon=True, name="dashboard-warm").start()
        yield

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        exception_handlers={HTTPException: _http_error(deps)},
        middleware=[Middleware(_SecurityHeaders)],
    )

    app.state.deps = deps
    return app


def _warm(deps: _Deps) -> None:
    """Fill the queue's summary cache at start, so that the first filtered load is fast."""
    try:
        for sub in _watched(deps).values():
            with deps.db() as db:
                queries.queue(
                    db, sub, min_distance=1e-9, limit=1, cache=deps.summaries, orders=deps.orders
                )
        logger.info("queue summaries ready (%d suggestion revisions)", len(deps.summaries))
    except Exception:  # a warm-up only: the pages compute what is missing
        logger.exception("queue warm-up failed")


# -- sessions and access ---------------------------------------------------------------------
def _session(deps: _Deps, request: Request) -> Session | None:
    s = deps.sessions.load(request.cookies.get(COOKIE))
    if s is not None and not deps.sessions.refresh_moderated(s, deps.oauth):
        return None
    return s


def _require(deps: _Deps, request: Request) -> Session:
    s = _session(deps, request)
    if s is None:
        raise _Redirect("/login?next=" + quote(_safe_next(request.url.path), safe="/"))
    return s


def _watched(deps: _Deps) -> dict[str, str]:
    """lower-case name → name as stored, for the subreddits the service watches."""
    at, cached = deps.watched
    if deps.wall() - at < 60 and cached:
        return cached
    with deps.db() as s:
        stored = queries.watched_subreddits(s)
    names = {n.lower(): n for n in stored}
    if deps.settings.subreddits:
        names = {
            k.lower(): names.get(k.lower(), k)
            for k in deps.settings.subreddits
            if k.lower() in names or not stored
        }
    deps.watched = (deps.wall(), names)
    return names


def _allowed(deps: _Deps, s: Session) -> dict[str, str]:
    watched = _watched(deps)
    if s.demo:
        return dict(sorted(watched.items()))
    return dict(
        sorted((m.lower(), watched[m.lower()]) for m in s.moderated if m.lower() in watched)
    )


def _require_sub(deps: _Deps, s: Session, sub: str) -> str:
    stored = _allowed(deps, s).get(sub.lower())
    if stored is None:
        raise HTTPException(403, f"You do not moderate r/{sub}, or the service does not watch it.")
    return stored


def _ctx(deps: _Deps, request: Request, s: Session | None, **kw: Any) -> dict[str, Any]:
    flash = []
    if s is not None:
        flash, s.flash = s.flash, []
    return {
        "request": request,
        "session": s,
        "demo": deps.settings.demo_user is not None,
        "subs": _allowed(deps, s) if s is not None else {},
        "now": deps.clock(),
        "ago": lambda t: _ago(deps.clock(), t),
        "flash": flash,
        **kw,
    }


def _render(deps: _Deps, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    return HTMLResponse(deps.env.get_template(name).render(**ctx), status_code=status)


def _http_error(deps: _Deps) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        s = await run_in_threadpool(_session, deps, request)
        ctx = await run_in_threadpool(
            _ctx, deps, request, s, code=exc.status_code, message=exc.detail
        )
        return _render(deps, "error.html", ctx, exc.status_code)

    return handler


# -- page plumbing ---------------------------------------------------------------------------
Builder = Callable[[_Deps, Request, Session], tuple[str, dict[str, Any]]]


def _page(deps: _Deps, build: Builder) -> Callable[[Request], Awaitable[Response]]:
    def run(request: Request) -> Response:
        try:
            s = _require(deps, request)
            name, kw = build(deps, request, s)
        except _Redirect as r:
            return RedirectResponse(r.url, status_code=303)
        return _render(deps, name, _ctx(deps, request, s, **kw))

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(run, request)

    return endpoint


def _api(
    deps: _Deps, build: Callable[[_Deps, Request, Session], Any]
) -> Callable[[Request], Awaitable[Response]]:
    def run(request: Request) -> Response:
        try:
            s = _require(deps, request)
        except _Redirect as r:
            return RedirectResponse(r.url, status_code=303)
        return JSONResponse(build(deps, request, s))

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(run, request)

    return endpoint


# -- login ----------------------------------------------------------------------------------
def _login_page(deps: _Deps) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        nxt = _safe_next(request.query_params.get("next"))
        s = await run_in_threadpool(_session, deps, request)
        if s is not None:
            return RedirectResponse(nxt, status_code=303)
        ctx: dict[str, Any] = {
            "request": request,
            "session": None,
            "demo": deps.settings.demo_user is not None,
            "demo_user": deps.settings.demo_user,
            "next": nxt,
            "error": request.query_params.get("error"),
            "subs": {},
            "flash": [],
        }
        if deps.settings.demo_user is None:
            return _render(deps, "login.html", ctx)
        state, cookie = deps.sessions.new_state()  # the demo form posts a signed state back
        response = _render(deps, "login.html", ctx | {"state": state})
        _set_state(deps, response, cookie)
        return response

    return endpoint


def _set_state(deps: _Deps, response: Response, cookie: str) -> None:
    response.set_cookie(
        STATE_COOKIE,
        cookie,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=deps.settings.secure_cookies,
    )


def _set_session(deps: _Deps, response: Response, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=deps.settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=deps.settings.secure_cookies,
    )
    response.delete_cookie(STATE_COOKIE)


def _auth_start(deps: _Deps) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if deps.oauth is None:
            raise HTTPException(404, "Reddit login is not configured (demo login).")
        state, cookie = deps.sessions.new_state()
        nxt = _safe_next(request.query_params.get("next"))
        response = RedirectResponse(deps.oauth.authorize_url(state), status_code=303)
        _set_state(deps, response, cookie)
        response.set_cookie(
            "prosocial_next",
            nxt,
            max_age=600,
            httponly=True,
            samesite="lax",
            secure=deps.settings.secure_cookies,
        )
        return response

    return endpoint


def _auth_callback(deps: _Deps) -> Callable[[Request], Awaitable[Response]]:
    def run(request: Request) -> Response:
        q = request.query_params
        if deps.oauth is None:
            raise HTTPException(404, "Reddit login is not configured (demo login).")
        if not deps.sessions.check_state(request.cookies.get(STATE_COOKIE), q.get("state")):
            logger.warning("login refused: state parameter missing or not ours")
            raise HTTPException(400, "Login failed: the state parameter does not match.")
        if q.get("error") or not q.get("code"):
            return RedirectResponse("/login?error=denied", status_code=303)
        try:
            token = deps.oauth.exchange(q["code"])
            user = deps.oauth.me(token)
            moderated = deps.oauth.moderated(token)
        except LoginError as exc:
            logger.warning("login failed: %s", exc)
            return RedirectResponse("/login?error=reddit", status_code=303)
        _, cookie = deps.sessions.create(user, token, moderated)
        logger.info("u/%s logged in (%d moderated subreddits)", user, len(moderated))
        response = RedirectResponse(
            _safe_next(request.cookies.get("prosocial_next")), status_code=303
        )
        _set_session(deps, response, cookie)
        response.delete_cookie("prosocial_next")
        return response

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(run, request)

    return endpoint


def _demo_login(deps: _Deps) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        user = deps.settings.demo_user
        if user is None or deps.oauth is not None:
            raise HTTPException(404, "The demo login is off.")
        form = await request.form()
        if not deps.sessions.check_state(request.cookies.get(STATE_COOKIE), str(form.get("state"))):
            raise HTTPException(403, "Login form expired or forged: reload the login page.")
        _, cookie = deps.sessions.create(user, None, [], demo=True)
        response = RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
        _set_session(deps, response, cookie)
        return response

    return endpoint


def _logout(deps: _Deps) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        s = await run_in_threadpool(_session, deps, request)
        if s is None:
            return RedirectResponse("/login", status_code=303)
        form = await request.form()
        if not deps.sessions.csrf_ok(s, form.get("csrf")):  # type: ignore[arg-type]
            raise HTTPException(403, "Missing or wrong CSRF token.")
        deps.sessions.end(s)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    return endpoint


# -- pages ----------------------------------------------------------------------------------
def _index(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    subs = _allowed(deps, s)
    if len(subs) == 1:
        raise _Redirect(f"/r/{next(iter(subs.values()))}")
    return "index.html", {"title": "Your subreddits"}


def _float(v: str | None, default: float) -> float:
    try:
        return max(0.0, min(1.0, float(v))) if v not in (None, "") else default
    except ValueError:
        return default


def _queue(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    sub = _require_sub(deps, s, request.path_params["sub"])
    q = request.query_params
    other = q.get("r")
    if other and other.lower() != sub.lower():  # the subreddit filter of the form
        target = _require_sub(deps, s, other)
        rest = "&".join(f"{k}={quote(v)}" for k, v in q.items() if k not in ("r", "page"))
        raise _Redirect(f"/r/{target}" + (f"?{rest}" if rest else ""))
    min_d = _float(q.get("min_distance"), 0.0)
    has_seekers = q.get("seekers") == "1"
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    with deps.db() as db:
        items, total = queries.queue(
            db,
            sub,
            min_distance=min_d,
            has_seekers=has_seekers,
            limit=50,
            offset=(page - 1) * 50,
            cache=deps.summaries,
            orders=deps.orders,
        )
    return "queue.html", {
        "title": f"r/{sub} — queue",
        "sub": sub,
        "tab": "queue",
        "items": items,
        "total": total,
        "page": page,
        "pages": max(1, (total + 49) // 50),
        "min_distance": min_d,
        "has_seekers": has_seekers,
    }


def _post_of(deps: _Deps, s: Session, sub: str, post_id: str) -> queries.PostView:
    name = post_id if post_id.startswith("t3_") else f"t3_{post_id}"
    with deps.db() as db:
        actual = queries.post_subreddit(db, name)
        if actual is None:
            raise HTTPException(404, "No such post.")
        _require_sub(deps, s, actual)  # the post's own subreddit, whatever the URL says
        if actual.lower() != sub.lower():
            raise HTTPException(404, "No such post in this subreddit.")
        view = queries.post_view(db, name, deps.orders)
    assert view is not None
    return view


def _post(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    sub = _require_sub(deps, s, request.path_params["sub"])
    view = _post_of(deps, s, sub, request.path_params["post"])
    proposals: list[Any] = []
    if deps.approvals is not None:
        targets = (view.name, *(t.name for t in view.suggested))
        proposals = deps.approvals.store.proposals(sub, target_in=targets)
    return "post.html", {
        "title": view.title,
        "sub": sub,
        "tab": "queue",
        "post": view,
        "proposals": proposals,
        "can_decide": deps.approvals is not None and deps.approvals.decider is not None,
    }


def _seekers(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    sub = _require_sub(deps, s, request.path_params["sub"])
    with deps.db() as db:
        rows = [x for x in queries.seekers(db, sub) if not deps.has_supportive_reply(x.tlc)]
    return "seekers.html", {
        "title": f"r/{sub} — seekers",
        "sub": sub,
        "tab": "seekers",
        "rows": rows,
    }


def _quality(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    sub = _require_sub(deps, s, request.path_params["sub"])
    with deps.db() as db:
        q = queries.quality(db, sub)
    series = q["series"]
    order = sorted(series, key=lambda m: (not m.startswith("forecaster:"), m))
    charts = []
    for label, keys in queries.QUALITY_METRICS:
        lines = {
            m: [(float(t), queries.figure(f, keys)) for t, f in series[m]]
            for m in order
            if any(queries.figure(f, keys) is not None for _, f in series[m])
        }
        if lines:
            floor = -1.0 if keys == ("r2",) else None
            title = label + (" (drawn from −1 up)" if floor else "")
            charts.append(  # a wide one for screens, a narrow one for phones (CSS picks)
                line_chart(lines, title=title, floor=floor, css_class="chart wide")
                + line_chart(
                    lines, title=title, floor=floor, width=360, height=220, css_class="chart narrow"
                )
            )
    columns = (("TLCs", ("n_tlcs",)), *queries.QUALITY_METRICS, ("MSE", ("mse",)))
    latest = [
        (m, series[m][-1][0], [queries.figure(series[m][-1][1], keys) for _, keys in columns])
        for m in order
    ]
    return "quality.html", {
        "title": f"r/{sub} — forecast quality",
        "sub": sub,
        "tab": "quality",
        "charts": charts,
        "latest": latest,
        "metrics": [label for label, _ in columns],
        "versions": q["versions"],
    }


def _audit_rows(deps: _Deps, sub: str) -> list[dict[str, Any]]:
    if deps.approvals is None:
        return []
    store = deps.approvals.store
    props = {p.id: p for p in store.proposals(sub)}
    rows: list[dict[str, Any]] = []
    for p in props.values():
        rows.append({"at": p.created_at, "event": "proposed", "p": p, "who": "prosocial"})
        if p.status == "expired":
            rows.append({"at": p.decided_at or p.created_at, "event": "expired", "p": p})
    decided = set()
    for d in store.decisions_of(sub):
        decided.add(d["proposal_id"])
        rows.append(
            {
                "at": d["at"],
                "event": d["status"],
                "p": props.get(d["proposal_id"]),
                "who": d["moderator"],
                "channel": d["channel"],
            }
        )
    for p in props.values():  # decisions made before decision records existed
        if p.id not in decided and p.decided_by and p.status != "expired":
            status = "rejected" if p.status == "rejected" else "approved"
            rows.append({"at": p.decided_at, "event": status, "p": p, "who": p.decided_by})
    for a in store.action_log(sub):
        event = "dry-run" if a["dry_run"] else ("executed" if a["outcome"] == "ok" else "failed")
        rows.append(
            {
                "at": a["executed_at"],
                "event": event,
                "p": props.get(a["proposal_id"]),
                "who": "prosocial",
                "detail": f"approved by u/{a['approved_by']}"
                + ("" if a["outcome"] == "ok" else f"; {a['outcome']}"),
            }
        )
    rows.sort(key=lambda r: (-(r["at"] or 0), -(r["p"].id if r["p"] else 0)))
    return rows[:1000]


def _audit(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    sub = _require_sub(deps, s, request.path_params["sub"])
    return "audit.html", {
        "title": f"r/{sub} — audit",
        "sub": sub,
        "tab": "audit",
        "rows": _audit_rows(deps, sub),
        "has_store": deps.approvals is not None,
    }


def _health(deps: _Deps, request: Request, s: Session) -> tuple[str, dict[str, Any]]:
    ops_users = {u.lower() for u in deps.settings.operators}
    if (ops_users and s.user.lower() not in ops_users) or not _allowed(deps, s):
        raise HTTPException(403, "The health page is for the service's operators.")
    with deps.db() as db:
        h = queries.health(db, deps.clock())
    return "health.html", {
        "title": "Service health",
        "tab": "health",
        "h": h,
        "ops": deps.ops() if deps.ops is not None else None,
        "since": lambda ms: "never" if not ms else f"{_ago(deps.wall(), ms / 1000)} ago",
    }


# -- decisions ------------------------------------------------------------------------------
def _decide(deps: _Deps) -> Callable[[Request], Awaitable[Response]]:
    def run(request: Request, form: dict[str, str]) -> Response:
        try:
            s = _require(deps, request)
        except _Redirect as r:
            return RedirectResponse(r.url, status_code=303)
        if not deps.sessions.csrf_ok(s, form.get("csrf")):
            logger.warning("refused a decision by u/%s without a valid CSRF token", s.user)
            raise HTTPException(403, "Missing or wrong CSRF token.")
        sub = _require_sub(deps, s, request.path_params["sub"])
        verdict = request.path_params["verdict"]
        if verdict not in ("approve", "reject"):
            raise HTTPException(404, "No such decision.")
        if deps.approvals is None or deps.approvals.decider is None:
            raise HTTPException(503, "Approvals need the bot's Reddit credentials.")
        pid = int(request.path_params["pid"])
        p = deps.approvals.store.get(pid)
        if p is None:
            raise HTTPException(404, "No such proposal.")
        _require_sub(deps, s, p.subreddit)  # the proposal's own subreddit
        if p.subreddit != sub.lower():
            raise HTTPException(404, "No such proposal in this subreddit.")
        d = deps.approvals.decider.decide(sub, pid, s.user, verdict, "dashboard")
        s.flash.append(d.message)
        post = p.target if p.target.startswith("t3_") else p.params.get("post", "")
        back = f"/r/{sub}/comments/{post[3:]}" if post else f"/r/{sub}/audit"
        return RedirectResponse(back, status_code=303)

    async def endpoint(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        return await run_in_threadpool(run, request, form)

    return endpoint


# -- JSON API ---------------------------------------------------------------------------------
def _api_queue(deps: _Deps, request: Request, s: Session) -> Any:
    sub = _require_sub(deps, s, request.path_params["sub"])
    with deps.db() as db:
        items, total = queries.queue(db, sub, limit=200, cache=deps.summaries, orders=deps.orders)
    return {"subreddit": sub, "total": total, "posts": [vars(i) for i in items]}


def _api_post(deps: _Deps, request: Request, s: Session) -> Any:
    sub = _require_sub(deps, s, request.path_params["sub"])
    view = _post_of(deps, s, sub, request.path_params["post"])
    return {
        "post": view.name,
        "subreddit": view.subreddit,
        "title": view.title,
        "distance": view.distance,
        "suggested": [
            {k: v for k, v in vars(t).items() if k not in ("body", "sentences")}
            for t in view.suggested
        ],
    }


def _api_proposals(deps: _Deps, request: Request, s: Session) -> Any:
    sub = _require_sub(deps, s, request.path_params["sub"])
    props = deps.approvals.store.proposals(sub) if deps.approvals is not None else []
    return {"subreddit": sub, "proposals": [vars(p) for p in props]}
