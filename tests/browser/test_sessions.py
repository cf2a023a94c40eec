"""Sessions in a real browser (#15.1): a reload and a new tab stay signed in on the same page; signing
out in one tab signs the other out at its next action; reloads never add session rows."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from tests.browser.conftest import APP_START_TIMEOUT_S, REPO_ROOT
from tests.browser.helpers import go, open_app, sign_out, wait_idle


def sign_in_demo(page, first_name: str) -> None:
    """helpers.sign_in_demo with the cold-start allowance: the first sign-in of a fresh app on a busy
    machine draws Overview's first charts (seen taking over 30 s)."""
    page.get_by_role("button", name=f"Sign in as {first_name}").click()
    page.get_by_role("heading", name="Overview").wait_for(timeout=APP_START_TIMEOUT_S * 1000)
    wait_idle(page)


COOKIE = "p2p_session"


def _db_url(app_url) -> str:
    out = subprocess.run([sys.executable, "-m", "p2p_store", "env"], cwd=REPO_ROOT, env=app_url["env"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("export DATABASE_URL="))
    return line.split("=", 1)[1].strip("'\"")


def _db_now(app_url):
    with psycopg.connect(_db_url(app_url)) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def _session_rows(app_url, email: str, since=None) -> int:
    """Sign-in rows of ``email`` (made at or after ``since``: the app is shared by the session's
    browser tests, and earlier ones signed the same person in from other browsers)."""
    with psycopg.connect(_db_url(app_url)) as conn:
        return conn.execute("SELECT count(*) FROM user_sessions s JOIN users u ON u.id = s.user_id "
                            "WHERE u.email = %s AND (%s::timestamptz IS NULL OR s.created_at >= %s::timestamptz)",
                            (email, since, since)).fetchone()[0]


def _cookie(context) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == COOKIE), None)


def test_reload_and_new_tab_stay_signed_in_and_one_row_per_browser(page, app_url):
    started = _db_now(app_url)
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Forum")
    page.get_by_role("heading", name="Forum").first.wait_for()
    cookie = _cookie(page.context)
    assert cookie is not None and cookie["sameSite"] == "Strict" and not cookie["secure"]  # http here
    for _ in range(10):
        page.reload()
        wait_idle(page)
        assert page.url.rstrip("/").endswith("/forum"), page.url
        assert page.get_by_role("button", name="Sign out").is_visible()
    assert _session_rows(app_url, "sara.hassan@advanced-electronics.sa", started) == 1
    other = page.context.new_page()
    open_app(other, app_url["url"], "users")
    other.get_by_role("heading", name="Users & roles").wait_for()
    assert other.get_by_role("button", name="Sign out").is_visible()
    assert _session_rows(app_url, "sara.hassan@advanced-electronics.sa", started) == 1
    # sign out in the new tab; the first tab is signed out at its next action
    sign_out(other)
    go(page, "Overview") if page.get_by_role("button", name="Sign out").count() == 0 else \
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Overview", exact=True).click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    wait_idle(page)  # the previous run's sidebar stays on screen until this run has finished
    page.get_by_role("button", name="Sign out").wait_for(state="detached")
    assert _session_rows(app_url, "sara.hassan@advanced-electronics.sa", started) == 0
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    assert _cookie(page.context) is None  # the stale cookie was removed
    other.close()


def test_tampered_or_revoked_cookie_gets_the_sign_in_page_only(page, app_url):
    base = app_url["url"]
    for value in ("tampered-" + "A" * 40, "'><script>alert(1)</script>", ""):
        page.context.add_cookies([{"name": COOKIE, "value": value, "url": base}])
        open_app(page, base, "users")
        page.get_by_role("button", name="Sign in", exact=True).wait_for()
        assert page.get_by_role("heading", name="Users & roles").count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0


def test_deep_link_survives_sign_in(page, app_url):
    open_app(page, app_url["url"], "health")
    sign_in_demo_on = page.get_by_role("button", name="Sign in as Sara")
    sign_in_demo_on.click()
    page.get_by_role("heading", name="Health").first.wait_for()
    wait_idle(page)
    page.reload()
    wait_idle(page)
    assert page.url.rstrip("/").endswith("/health")
    page.get_by_role("heading", name="Health").first.wait_for()
