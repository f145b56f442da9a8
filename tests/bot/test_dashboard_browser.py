"""The dashboard in real Chromium (Playwright, Debian's ``chromium``) against the dev Reddit
server's OAuth and a database filled by the real pipeline on a small real slice.

Screenshots of every page, at 1280×800 and at a phone width (390×844), are kept under
``var/test-artifacts/dashboard/`` (or ``$PROSOCIAL_TEST_ARTIFACTS``): never committed."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.dashboard_env import A, B, DashboardEnv, start_dashboard_env

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    Path(os.environ.get("PROSOCIAL_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "dashboard"
)
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardEnv]:
    yield from start_dashboard_env(data_dir, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: make system-deps (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


def _login(browser: Any, env: DashboardEnv, user: str, viewport: str = "desktop") -> Any:
    ctx = browser.new_context(viewport=VIEWPORTS[viewport])
    page = ctx.new_page()
    page.goto(env.url + "/")
    assert page.url.startswith(env.url + "/login")
    page.click("#reddit-login")
    # the dev Reddit's consent page
    assert "/api/v1/authorize" in page.url and "state=" in page.url
    assert "identity" in page.content() and "mysubreddits" in page.content()
    page.select_option("#user", user)
    page.click("#allow")
    page.wait_for_load_state()
    assert page.url.startswith(env.url), page.url
    return page


@pytest.fixture()
def page(env: DashboardEnv, browser: Any) -> Iterator[Any]:
    """A desktop page logged in as ``mod_alice`` (moderator of r/A); closed after the test."""
    page = _login(browser, env, "mod_alice")
    yield page
    page.context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _status(page: Any, url: str) -> int:
    resp = page.goto(url)
    return int(resp.status)


def _post(p: Any) -> str:
    """The post a proposal is about (its target, or the post of a comment target)."""
    return str(p.target if p.target.startswith("t3_") else p.params["post"])


def _a_post_with_proposal(env: DashboardEnv, sub: str) -> Any:
    props = [p for p in env.store.proposals(sub) if p.status == "proposed"]
    assert props, f"no open proposal in r/{sub}"
    return props[0]


def test_logged_out_every_page_redirects_to_login(env: DashboardEnv, browser: Any) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    post = _post(_a_post_with_proposal(env, A))
    for path in (
        "/",
        f"/r/{A}",
        f"/r/{A}/comments/{post[3:]}",
        f"/r/{A}/seekers",
        f"/r/{A}/quality",
        f"/r/{A}/audit",
        "/health",
        f"/api/r/{A}/queue",
        f"/r/{B}",
    ):
        page.goto(env.url + path)
        assert page.url.startswith(env.url + "/login?next="), (path, page.url)
    _shot(page, "login-desktop")
    phone = browser.new_context(viewport=VIEWPORTS["phone"]).new_page()
    phone.goto(env.url + "/login")
    _shot(phone, "login-phone")
    phone.context.close()
    # a POST without a session goes to the login page too, and decides nothing
    req = urllib.request.Request(
        env.url + f"/r/{A}/proposals/1/approve", data=b"csrf=x", method="POST"
    )
    with urllib.request.urlopen(req) as r:  # follows the 303 to the login page
        assert r.url.startswith(env.url + "/login")
    ctx.close()


def test_moderator_of_a_sees_a_only_and_b_is_403(env: DashboardEnv, page: Any) -> None:
    assert page.url.rstrip("/").endswith(f"/r/{A}")  # one subreddit: straight to its queue
    nav = page.inner_text("nav.subs")
    assert f"r/{A}" in nav and f"r/{B}" not in nav
    rows = page.locator("table.queue tbody tr")
    assert rows.count() > 5
    # newest first
    assert "suggestions" in page.inner_text("h1")
    _shot(page, "queue-desktop")
    # filters: min distance and has seekers
    page.fill("input[name=min_distance]", "0.3")
    page.click("form.filters button")
    dists = [float(x) for x in page.locator("span.dist").all_inner_texts()]
    assert dists and min(dists) >= 0.3
    # r/B: pages, a post, a proposal, the API — all 403, whatever the URL says
    b_prop = _a_post_with_proposal(env, B)
    b_post = _post(b_prop)[3:]
    for path in (
        f"/r/{B}",
        f"/r/{B.lower()}",
        f"/r/{B}/comments/{b_post}",
        f"/r/{A}/comments/{b_post}",  # r/B's post under r/A's URL
        f"/r/{B}/seekers",
        f"/r/{B}/quality",
        f"/r/{B}/audit",
        f"/api/r/{B}/queue",
        f"/api/r/{B}/comments/{b_post}",
        f"/api/r/{B}/proposals",
        "/r/SomethingElse",
    ):
        assert _status(page, env.url + path) == 403, path
    _shot(page, "forbidden-desktop")
    # posting a decision on r/B's proposal (with a valid CSRF token) is refused too
    page.goto(env.url + f"/r/{A}")
    csrf = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    for url in (f"/r/{B}/proposals/{b_prop.id}/approve", f"/r/{A}/proposals/{b_prop.id}/approve"):
        resp = page.request.post(env.url + url, form={"csrf": csrf}, max_redirects=0)
        assert resp.status == 403, url
    assert env.store.get(b_prop.id).status == "proposed"
    # the JSON API of r/A answers
    data = json.loads(page.request.get(env.url + f"/api/r/{A}/queue").text())
    assert data["subreddit"] == A and data["total"] > 5


def test_queue_and_post_show_forecasts_reasons_and_sentences(env: DashboardEnv, page: Any) -> None:
    prop = _a_post_with_proposal(env, A)
    post = _post(prop)
    page.goto(env.url + f"/r/{A}/comments/{post[3:]}")
    assert page.locator("section.suggested-order article.tlc").count() >= 3
    first = page.locator("article.tlc").first
    text = first.inner_text()
    assert re.search(r"forecast -?\d+\.\d\d", text), text
    assert re.search(r"\[-?\d+\.\d\d, -?\d+\.\d\d\]", text)  # the interval
    assert "length" in first.locator("ul.reasons").inner_text()  # the forecaster's reasons
    assert page.locator("section.reddit-order li").count() == page.locator("article.tlc").count()
    assert page.locator(".sent-seeking, .sent-providing").count() > 0  # per-sentence empathy
    assert page.locator("span.outcome").count() > 0  # back-filled outcomes
    assert page.locator(f"#proposal-{prop.id} button.approve").count() == 1
    assert "highlights" in page.inner_text(f"#proposal-{prop.id}")
    _shot(page, "post-desktop")
    for name in ("seekers", "quality", "audit"):
        page.goto(env.url + f"/r/{A}/{name}")
        assert page.locator("h1").inner_text().startswith(f"r/{A}")
        _shot(page, f"{name}-desktop")
    page.goto(env.url + f"/r/{A}/quality")
    # one point (or line) per model and window: forecaster, Reddit's order, chronological
    # the first chart (pairwise accuracy): a point per window for the forecaster and both orders
    assert page.locator("svg.chart.wide").first.locator("circle").count() >= 3
    legend = page.inner_text("div.charts")
    assert "forecaster:" in legend, legend
    assert "reddit_order" in legend and "chronological" in legend, legend
    assert "tiny-forecaster-1" in page.inner_text("body")
    page.goto(env.url + "/health")
    health = page.inner_text("main")
    assert "requests this window" in health
    dead = page.locator("table").last.inner_text()  # the malformed record, by stage and reason
    assert "scorer" in dead and "None." not in dead, dead
    _shot(page, "health-desktop")


def test_forged_form_without_csrf_is_refused(env: DashboardEnv, page: Any) -> None:
    prop = _a_post_with_proposal(env, A)
    for form in ({}, {"csrf": "forged"}):
        resp = page.request.post(
            env.url + f"/r/{A}/proposals/{prop.id}/approve", form=form, max_redirects=0
        )
        assert resp.status == 403
    assert env.store.get(prop.id).status == "proposed"
    assert not env.world.mod_actions
    # a page on another origin that posts the form: the browser sends the cookie (SameSite=Lax
    # does not cover a top-level POST from a same-site port) but not the token
    page.set_content(
        f'<form id="f" method="post" action="{env.url}/r/{A}/proposals/{prop.id}/approve">'
        '<input name="csrf" value="guess"></form>'
    )
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    assert "403" in page.inner_text("h1")
    assert env.store.get(prop.id).status == "proposed"


def test_moderator_without_posts_permission_cannot_approve(env: DashboardEnv, browser: Any) -> None:
    page = _login(browser, env, "mod_wiki")
    prop = _a_post_with_proposal(env, A)
    page.goto(env.url + f"/r/{A}/comments/{_post(prop)[3:]}")
    page.click(f"#proposal-{prop.id} button.approve")
    assert "may not approve" in page.inner_text("p.flash")
    assert env.store.get(prop.id).status == "proposed"
    page.context.close()


def test_approving_in_the_browser_executes_once_and_modmail_sees_it_decided(
    env: DashboardEnv, page: Any
) -> None:
    from bot.approvals import ApprovalService
    from bot.modmail_commands import ModmailCommandReader

    prop = _a_post_with_proposal(env, A)
    before = len(env.world.mod_actions)
    page.goto(env.url + f"/r/{A}/comments/{_post(prop)[3:]}")
    page.click(f"#proposal-{prop.id} button.approve")
    flash = page.inner_text("p.flash")
    assert "approved by u/mod_alice" in flash and "executed (ok)" in flash
    assert "executed" in page.inner_text(f"#proposal-{prop.id}").lower()
    # performed once on the dev server, by the bot: its own highlights comment on the post,
    # distinguished and stickied
    acts = env.world.mod_actions[before:]
    assert [(a["action"], a["by"]) for a in acts] == [("distinguish", "prosocial_bot")]
    mine = env.world.items[acts[0]["id"]].data
    assert mine["author"] == "prosocial_bot" and mine["link_id"] == prop.target
    assert mine["stickied"] is True and "highlights" in mine["body"].lower()
    # a second click (resubmitted form) changes nothing
    csrf = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    page.request.post(env.url + f"/r/{A}/proposals/{prop.id}/approve", form={"csrf": csrf})
    assert len(env.world.mod_actions) == before + 1
    # the modmail path: mod_alice replies "!approve N" in the digest conversation
    env.devserver.api.add_moderator_reply(env.conversations[A], "mod_alice", f"!approve {prop.id}")
    service = ApprovalService(env.store, lambda sub, user: True, lambda: 0.0)
    reader = ModmailCommandReader(env.bot, service, "prosocial_bot", send=True)
    lines = reader.poll(A)
    assert len(lines) == 1 and "already executed" in lines[0]
    assert "via dashboard" in lines[0] and "mod_alice" in lines[0]
    assert len(env.world.mod_actions) == before + 1
    # the audit page has every step with who and the channel
    page.goto(env.url + f"/r/{A}/audit")
    audit = page.inner_text("table.audit").lower()
    for word in ("proposed", "approved", "executed", "dashboard", "mod_alice"):
        assert word in audit
    _shot(page, "audit-after-approval-desktop")


def test_pages_at_phone_width(env: DashboardEnv, browser: Any) -> None:
    page = _login(browser, env, "mod_alice", viewport="phone")
    prop = env.store.proposals(A)[-1]
    pages = {
        "queue": f"/r/{A}",
        "post": f"/r/{A}/comments/{_post(prop)[3:]}",
        "seekers": f"/r/{A}/seekers",
        "quality": f"/r/{A}/quality",
        "audit": f"/r/{A}/audit",
        "health": "/health",
    }
    for name, path in pages.items():
        page.goto(env.url + path)
        _shot(page, f"{name}-phone")
        # nothing wider than the screen: no sideways scrolling on a phone
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS["phone"]["width"] + 1, (name, width)
    page.context.close()


def test_moderator_list_is_reread_from_reddit(env: DashboardEnv, browser: Any, page: Any) -> None:
    assert _status(page, env.url + f"/r/{A}") == 200
    mods = env.world.moderators[A.lower()]
    perms = mods.pop("mod_alice")  # removed as a moderator of r/A on Reddit
    try:
        assert _status(page, env.url + f"/r/{A}") == 403  # cache of 0 s in this environment
        assert _status(page, env.url + f"/api/r/{A}/queue") == 403
    finally:
        mods["mod_alice"] = perms
    assert _status(page, env.url + f"/r/{A}") == 200
    # logging out ends the session on the server: the old cookie is worth nothing
    cookies = page.context.cookies()
    page.click("form[action='/logout'] button")
    assert page.url.startswith(env.url + "/login")
    other = browser.new_context()
    other.add_cookies(cookies)
    p2 = other.new_page()
    p2.goto(env.url + f"/r/{A}")
    assert p2.url.startswith(env.url + "/login")
    other.close()
