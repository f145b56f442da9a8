"""Dashboard pieces without a browser: settings, the one approval service under concurrent
decisions from two channels, signed sessions, the dev server's OAuth rules, the demo login."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Literal

import pytest

from bot.approval_service import Decider
from bot.approvals import ApprovalService, ApprovalStore
from bot.dashboard import DashboardConfigError, load_dashboard_settings
from bot.dashboard.auth import SessionStore


# -- settings ----------------------------------------------------------------------------------
def test_demo_login_cannot_run_with_reddit_login_nor_off_loopback(monkeypatch):
    with pytest.raises(DashboardConfigError, match="cannot both be set"):
        load_dashboard_settings(demo_user="demo", client_id="x", client_secret="y")
    monkeypatch.setenv("PROSOCIAL_DASHBOARD_CLIENT_ID", "from-env")
    with pytest.raises(DashboardConfigError, match="cannot both be set"):
        load_dashboard_settings(demo_user="demo")
    monkeypatch.delenv("PROSOCIAL_DASHBOARD_CLIENT_ID")
    with pytest.raises(DashboardConfigError, match="loopback"):
        load_dashboard_settings(demo_user="demo", host="0.0.0.0")
    with pytest.raises(DashboardConfigError, match="no login configured"):
        load_dashboard_settings()
    assert load_dashboard_settings(demo_user="demo").demo_user == "demo"


def test_settings_precedence_arguments_env_file(monkeypatch):
    file = {"client_id": "file-id", "client_secret": "s", "port": 9000, "subreddits": "A, r/B"}
    s = load_dashboard_settings(file)
    assert (s.client_id, s.port, s.subreddits) == ("file-id", 9000, ("A", "B"))
    monkeypatch.setenv("PROSOCIAL_DASHBOARD_PORT", "9100")
    assert load_dashboard_settings(file).port == 9100
    assert load_dashboard_settings(file, port=9200).port == 9200
    assert load_dashboard_settings(file).callback_url == "http://127.0.0.1:9100/auth/callback"


# -- one approval service -------------------------------------------------------------------------
def test_first_decision_wins_across_channels_and_processes(tmp_path: Path):
    path = tmp_path / "approvals.sqlite"
    first = ApprovalStore(path)
    p = first.propose("GradSchool", "suggested_sort", "t3_abc", {"sort": "top"}, 1.0)
    executed: list[int] = []
    lock = threading.Lock()

    def execute(prop: Any) -> str:
        with lock:
            executed.append(prop.id)
        return "ok"

    results: list[Any] = []

    def worker(i: int) -> None:
        store = ApprovalStore(path)  # its own connection, as another process would have
        channel = "dashboard" if i % 2 else "modmail"
        verdict: Literal["approve", "reject"] = "approve" if i % 3 else "reject"
        d = Decider(store, lambda sub, user: True, time.time, execute=execute)
        results.append(d.decide("GradSchool", p.id, f"mod{i}", verdict, channel))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.decided]
    assert len(winners) == 1
    rec = first.decision(p.id)
    assert rec is not None and rec["moderator"] == winners[0].message.split("u/")[1].split(";")[0]
    losers = [r for r in results if not r.decided]
    assert all("already" in r.message and rec["channel"] in r.message for r in losers)
    assert executed == ([p.id] if rec["status"] == "approved" else [])
    # the modmail path, through the same service, reports the decision
    line = ApprovalService(first, lambda s, u: True, time.time).approve("GradSchool", p.id, "late")
    assert "already" in line and f"u/{rec['moderator']}" in line


def test_an_approval_is_claimed_with_its_decision_so_a_concurrent_sweep_cannot_take_it(
    tmp_path: Path,
):
    path = tmp_path / "approvals.sqlite"
    store = ApprovalStore(path)
    sweeper = ApprovalStore(path)  # the live approvals job, in another process
    p = store.propose("GradSchool", "highlights", "t3_p", {"tlcs": "t1_x"}, 1.0)
    swept: list[bool] = []

    def execute(prop: Any) -> str:
        swept.append(sweeper.claim(prop.id))  # the sweep runs between decision and execution
        assert prop.status == "executing"
        return "ok"

    d = Decider(store, lambda sub, user: True, lambda: 2.0, execute=execute)
    out = d.decide("GradSchool", p.id, "mod_alice", "approve", "dashboard")
    assert swept == [False] and out.outcome == "ok" and "executed (ok)" in out.message
    q = store.propose("GradSchool", "highlights", "t3_q", {"tlcs": "t1_y"}, 1.0)

    def broken(prop: Any) -> str:
        raise RuntimeError("config unreadable")

    with pytest.raises(RuntimeError):
        Decider(store, lambda sub, user: True, lambda: 2.0, execute=broken).decide(
            "GradSchool", q.id, "mod_alice", "approve", "dashboard"
        )
    given_back = store.get(q.id)
    assert given_back is not None and given_back.status == "approved"  # the next sweep runs it


def test_decider_checks_subreddit_and_permission_before_recording():
    store = ApprovalStore()
    p = store.propose("GradSchool", "highlights", "t3_p", {"tlcs": "t1_x"}, 1.0)
    d = Decider(store, lambda sub, user: user == "mod_alice", lambda: 2.0)
    assert (
        "no such proposal in r/College"
        in d.decide("College", p.id, "mod_alice", "approve", "dashboard").message
    )
    assert (
        "may not approve" in d.decide("GradSchool", p.id, "someone", "approve", "dashboard").message
    )
    assert store.decision(p.id) is None and store.get(p.id).status == "proposed"
    with pytest.raises(ValueError):
        d.decide("GradSchool", p.id, "mod_alice", "approve", "carrier pigeon")  # type: ignore[arg-type]
    ok = d.decide("GradSchool", p.id, "mod_alice", "reject", "dashboard")
    assert ok.decided and ok.status == "rejected"
    assert store.claim(p.id) is False  # a rejected proposal never executes


# -- sessions ----------------------------------------------------------------------------------
def test_sessions_are_signed_bound_to_the_user_and_expire():
    now = [1000.0]
    store = SessionStore("k" * 32, lambda: now[0], max_age_s=60)
    s, cookie = store.create("mod_alice", "tok", ["A"])
    assert store.load(cookie) is s
    assert store.load(cookie[:-2] + "xx") is None  # tampered signature
    other = SessionStore("other-key" * 4, lambda: now[0]).create("mod_alice", "t", [])[1]
    assert store.load(other) is None  # signed with another key
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("k" * 32, salt="prosocial-dashboard-session").dumps(
        {"sid": s.sid, "u": "mod_bob"}
    )
    assert store.load(forged) is None  # the id belongs to another user
    assert store.csrf_ok(s, s.csrf) and not store.csrf_ok(s, None) and not store.csrf_ok(s, "x")
    now[0] += 61
    assert store.load(cookie) is None  # expired
    state, state_cookie = store.new_state()
    assert store.check_state(state_cookie, state) and not store.check_state(state_cookie, "other")


# -- the dev server's authorization server ---------------------------------------------------------
def _http(
    url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_devserver_oauth_follows_reddits_rules(dev_world):
    from bot.devserver import DevRedditServer

    sub = next(iter(dev_world.subreddits.values()))
    dev_world.moderators = {sub.lower(): {"prosocial_bot": ["all"], "mod_alice": ["all"]}}
    with DevRedditServer(dev_world) as srv:
        cb = "http://127.0.0.1:1/auth/callback"
        srv.oauth.register_app("app", "secret", cb)
        q = {
            "client_id": "app",
            "response_type": "code",
            "state": "s1",
            "redirect_uri": cb,
            "scope": "identity mysubreddits",
        }
        assert _http(srv.url + "/api/v1/authorize?" + urllib.parse.urlencode(q))[0] == 200
        for bad in (
            {"client_id": "nope"},
            {"redirect_uri": "http://evil/cb"},
            {"scope": "identity everything"},
            {"state": ""},
        ):
            assert _http(srv.url + "/api/v1/authorize?" + urllib.parse.urlencode(q | bad))[0] == 400
        status, _, h = _http(
            srv.url + "/api/v1/authorize", q | {"user": "mod_alice", "authorize": "Decline"}
        )
        assert (
            status == 302 and "error=access_denied" in h["Location"] and "state=s1" in h["Location"]
        )
        status, _, h = _http(
            srv.url + "/api/v1/authorize", q | {"user": "mod_alice", "authorize": "Allow"}
        )
        assert status == 302 and h["Location"].startswith(cb + "?")
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(h["Location"]).query)["code"][0]
        basic = {"Authorization": "Basic " + base64.b64encode(b"app:secret").decode()}
        wrong = {"Authorization": "Basic " + base64.b64encode(b"app:guess").decode()}
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": cb}
        assert _http(srv.url + "/api/v1/access_token", form, wrong)[0] == 401
        assert (
            _http(srv.url + "/api/v1/access_token", form | {"redirect_uri": "http://x/"}, basic)[0]
            == 400
        )
        status, body, _ = _http(srv.url + "/api/v1/access_token", form, basic)
        # the failed attempt with another redirect_uri burnt the code, as a one-time code must
        assert status == 400 and json.loads(body)["error"] == "invalid_grant"
        _, _, h = _http(
            srv.url + "/api/v1/authorize", q | {"user": "mod_alice", "authorize": "Allow"}
        )
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(h["Location"]).query)["code"][0]
        status, body, _ = _http(srv.url + "/api/v1/access_token", form | {"code": code}, basic)
        tok = json.loads(body)
        assert status == 200 and tok["scope"] == "identity mysubreddits"
        assert (
            _http(srv.url + "/api/v1/access_token", form | {"code": code}, basic)[0] == 400
        )  # reused
        bearer = {"Authorization": "bearer " + tok["access_token"]}
        assert json.loads(_http(srv.url + "/api/v1/me", headers=bearer)[1])["name"] == "mod_alice"
        mine = json.loads(_http(srv.url + "/subreddits/mine/moderator", headers=bearer)[1])
        assert [c["data"]["display_name"] for c in mine["data"]["children"]] == [sub]
        # the dev app takes /auth/callback on any loopback port, and nothing else
        dev = q | {"client_id": "prosocial-dashboard-dev"}
        for uri, ok in (
            ("http://127.0.0.1:9123/auth/callback", 200),
            ("http://evil.example:9123/auth/callback", 400),
            ("http://127.0.0.1:9123/elsewhere", 400),
        ):
            page = (
                srv.url + "/api/v1/authorize?" + urllib.parse.urlencode(dev | {"redirect_uri": uri})
            )
            assert _http(page)[0] == ok, uri
        # a user token with these scopes reaches nothing else
        assert _http(srv.url + f"/r/{sub}/about/moderators", headers=bearer)[0] == 403
        assert _http(srv.url + "/api/distinguish", {"id": "t1_x", "how": "yes"}, bearer)[0] == 403


# -- the demo login, end to end over HTTP ---------------------------------------------------------
def test_demo_login_serves_the_stored_subreddits(tmp_path: Path):
    from bot.dashboard import create_app
    from bot.dashboard.serve import DashboardServer
    from streaming.storage import PostRow, open_database
    from tests.bot.dashboard_env import free_port

    _, db = open_database(f"sqlite:///{tmp_path / 'demo.db'}")
    with db() as s:
        s.add(
            PostRow(
                name="t3_abc",
                subreddit="GradSchool",
                title="t",
                selftext="",
                author="a",
                score=1,
                created_utc=1,
            )
        )
        s.commit()
    port = free_port()
    settings = load_dashboard_settings(demo_user="demo_mod", port=port)
    app = create_app(settings, db, oauth=None, secret="x" * 32)
    server = DashboardServer(app, "127.0.0.1", port).start()
    try:
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/login").read().decode()
        assert "DEMO LOGIN" in page and "/auth/start" not in page
        state = page.split('name="state" value="')[1].split('"')[0]
        # without the signed state cookie (a forged form) the demo login is refused
        try:
            urllib.request.urlopen(
                base + "/login/demo", data=urllib.parse.urlencode({"state": state}).encode()
            )
            raise AssertionError("forged demo login accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 403
        r = opener.open(
            base + "/login/demo",
            data=urllib.parse.urlencode({"state": state, "next": "/"}).encode(),
        )
        assert r.url == base + "/r/GradSchool"
        html = r.read().decode()
        assert "r/GradSchool" in html and "DEMO LOGIN" in html
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(base + "/auth/start")
        assert refused.value.code == 404  # no Reddit login on a demo server
    finally:
        server.stop()
