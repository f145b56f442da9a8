"""The dev server: a threaded HTTP server on loopback in front of :class:`RedditApi`.

``/api/v1/access_token`` hands out bearer tokens (any client id / password is accepted; the
authorization-code flow of web apps is :mod:`bot.devserver.oauth`); every
other path requires ``Authorization: bearer <token>``, carries ``X-Ratelimit-Used / -Remaining /
-Reset`` for the current 10-minute window of the simulated clock and answers 429 past 600
requests. :class:`FaultPlan` faults a share of the API requests: 429 (with rate-limit headers
and ``Retry-After``), 500, a timeout (the answer comes after the client gave up, the request is
not performed), a late answer (performed, then a 504 after the client gave up: a retried POST
would do it twice) and a truncated body (GET only, so no side effect is ever half-done); during
an outage window every request fails (503, or a mix with 500, timeouts and late answers:
``FaultPlan.outage_kinds``), during a path outage (e.g. only the wiki) every request to it
answers 503. A token belongs to the user who asked for it
(password grant), so moderator rules apply per user. ``GET /dev/clock`` (no token) tells a
client how the simulated clock runs; ``POST /dev/clock/start`` starts a paused one.
``GET /dev/deletions`` (no token, not counted) lists the deletions and removals applied so far
(:class:`bot.devserver.deletions.DeletionPlan`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from bot.devserver.api import RedditApi
from bot.devserver.faults import FaultPlan
from bot.devserver.oauth import OAuthProvider
from bot.devserver.request import Request
from bot.devserver.world import RedditWorld

__all__ = ["DevRedditServer"]

logger = logging.getLogger(__name__)

WINDOW_S = 600
LIMIT = 600


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("devserver: " + format, *args)

    def _end_headers(self) -> None:
        if self.close_connection:  # the client asked to close (prawcore's token requests do):
            # say so, or its pool keeps the connection and its next request finds it closed
            self.send_header("Connection", "close")
        self.end_headers()

    def _send(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        truncate: bool = False,
    ) -> None:
        body = json.dumps(payload).encode()
        if truncate:
            body = body[: max(1, len(body) // 2)]
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self._end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send_raw(self, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self._end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _form(self) -> dict[str, str]:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        return dict(parse_qsl(raw, keep_blank_values=True))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        srv = self.server.owner
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        form = self._form() if method == "POST" else {}
        if url.path.rstrip("/") == "/dev/clock":
            self._send(200, srv.world.clock_info())
            return
        if url.path.rstrip("/") == "/dev/clock/start" and method == "POST":
            if not srv.world.speed:
                srv.world.run_at(srv.speed)
            self._send(200, srv.world.clock_info())
            return
        if url.path.rstrip("/") == "/dev/state":
            self._send(200, srv.state())
            return
        down = srv.faults.outage(srv.world.now, url.path, method)
        if down == "503" or (down is not None and "access_token" in url.path):
            self._send(503, {"message": "Service Unavailable", "error": 503})
            return
        request = Request(method, url.path, query, form, self.headers)
        raw = srv.oauth.handle(request)
        if raw is not None:  # the authorization-code flow and user tokens (oauth.py)
            self._send_raw(*raw)
            return
        if url.path.rstrip("/") == "/api/v1/access_token":
            srv.tokens_issued += 1
            token = f"devtoken-{srv.tokens_issued}"
            srv.tokens[token] = form.get("username") or "anonymous"
            self._send(
                200,
                {"access_token": token, "token_type": "bearer", "expires_in": 86400, "scope": "*"},
            )
            return
        if url.path.rstrip("/") == "/dev/deletions":  # test hook, not part of Reddit's API
            plan = srv.world.deletions
            with srv.world.lock:
                srv.world.apply_due()
                self._send(200, {"deletions": list(plan.applied) if plan is not None else []})
            return
        auth = self.headers.get("Authorization", "")
        user = srv.tokens.get(auth.split(" ", 1)[1]) if " " in auth else None
        if not auth.lower().startswith("bearer ") or user is None:
            self._send(401, {"message": "Unauthorized", "error": 401})
            return
        headers, over = srv.count_request()
        fault = down or srv.faults.draw()
        if fault == "truncated" and method != "GET":
            fault = "500"
        srv.record(method, url.path, fault)
        if over or fault == "429":
            wait = str(srv.faults.retry_after_s)
            self._send(
                429,
                {"message": "Too Many Requests", "error": 429},
                {
                    **headers,
                    "x-ratelimit-remaining": "0.0",
                    "x-ratelimit-reset": wait,
                    "Retry-After": wait,
                },
            )
            return
        if fault == "500":
            self._send(500, {"message": "Internal Server Error", "error": 500}, headers)
            return
        if fault == "timeout":
            threading.Event().wait(srv.faults.timeout_delay_s)
            self._send(504, {"message": "Gateway Timeout", "error": 504}, headers)
            return
        try:
            status, payload = srv.api.handle(request, user)
        except Exception:  # a dev tool: never kill the serving thread
            logger.exception("devserver handler failed for %s %s", method, url.path)
            status, payload = 500, {"message": "Internal Server Error", "error": 500}
        if fault == "late":  # performed, but the answer is lost
            threading.Event().wait(srv.faults.timeout_delay_s)
            self._send(504, {"message": "Gateway Timeout", "error": 504}, headers)
            return
        self._send(status, payload, headers, truncate=fault == "truncated")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: DevRedditServer


class DevRedditServer:
    """``with DevRedditServer(world) as srv: praw.Reddit(oauth_url=srv.url, ...)``."""

    def __init__(
        self,
        world: RedditWorld,
        faults: FaultPlan | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tree_limit: int = 40,
        max_depth: int = 10,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the dev server binds to loopback only")
        self.world = world
        self.faults = faults or FaultPlan()
        self.api = RedditApi(world, tree_limit=tree_limit, max_depth=max_depth)
        self.oauth = OAuthProvider(world)
        self.tokens: dict[str, str] = {}  # token -> user
        self.speed = 0.0  # the speed POST /dev/clock/start sets the world running at
        self.tokens_issued = 0
        self.log: list[tuple[float, str, str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def count_request(self) -> tuple[dict[str, str], bool]:
        w = self.world
        with w.lock:
            window = int(w.now // WINDOW_S)
            w.requests += 1
            w.requests_by_window[window] += 1
            used = w.requests_by_window[window]
            reset = int(WINDOW_S - (w.now % WINDOW_S)) or 1
        return (
            {
                "x-ratelimit-used": str(used),
                "x-ratelimit-remaining": f"{max(0, LIMIT - used):.1f}",
                "x-ratelimit-reset": str(reset),
            },
            used > LIMIT,
        )

    def state(self) -> dict[str, Any]:
        """Everything the bot did to this Reddit, for tests and dev inspection."""
        w = self.world
        with w.lock:
            return {
                "now": w.now,
                "modmail": [
                    {
                        "id": c.id,
                        "subreddit": c.subreddit,
                        "subject": c.subject,
                        "messages": [
                            {
                                "author": m["author"]["name"],
                                "body": m["bodyMarkdown"],
                                "date": m["date"],
                            }
                            for m in c.messages
                        ],
                    }
                    for c in w.modmail.values()
                ],
                "wiki": {f"{s}/{p}": d for (s, p), d in w.wiki.items()},
                "wiki_revisions": {
                    f"{s}/{p}": list(revs) for (s, p), revs in w.wiki_revisions.items()
                },
                "wiki_settings": {f"{s}/{p}": d for (s, p), d in w.wiki_settings.items()},
                "mod_actions": list(w.mod_actions),
                "bot_comments": [
                    dict(i.data)
                    for i in w.items.values()
                    if i.kind == "t1" and i.data.get("author") == w.bot_username
                ],
                "requests": w.requests,
                "requests_by_window": {str(k): v for k, v in w.requests_by_window.items()},
                "faults": dict(self.faults.injected),
                "late_posts": sum(1 for _, m, _, f in self.log if f == "late" and m == "POST"),
                "post_faults": dict(Counter(f for _, m, _, f in self.log if f and m == "POST")),
                "log_size": len(self.log),
            }

    def record(self, method: str, path: str, fault: str | None) -> None:
        with self._lock:
            self.log.append((self.world.now, method, path, fault))

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="devreddit"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
