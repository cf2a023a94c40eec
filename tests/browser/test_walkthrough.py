"""A person's walk through the app in Chromium (issues 4 and 10)."""

from __future__ import annotations

from seed.dataset import user_id_for
from tests.browser.conftest import APP_START_TIMEOUT_S
from tests.browser.helpers import check_page, go, open_app, pick, sign_in_demo, sign_out, wait_idle

SARA_ID = str(user_id_for("sara.hassan@advanced-electronics.sa"))


def sign_in_demo_here(page, first_name: str) -> None:
    """Sign in from a deep link: the app stays on the linked page."""
    page.get_by_role("button", name=f"Sign in as {first_name}").click(timeout=APP_START_TIMEOUT_S * 1000)
    page.get_by_role("button", name="Sign out").wait_for(timeout=APP_START_TIMEOUT_S * 1000)
    wait_idle(page)


def test_deep_link_while_signed_out_shows_sign_in(page, app_url):
    open_app(page, app_url["url"], "data-admin")
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    check_page(page, "00-sign-in")
    assert page.get_by_text("Data admin").count() == 0 or page.get_by_role("heading", name="Data admin").count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() == 0


def test_member_sees_no_edit_controls(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    check_page(page, "01-overview-member")
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Data admin" not in nav
    go(page, "Users & roles")
    page.get_by_role("heading", name="Users & roles").wait_for()
    check_page(page, "02-users-member")
    assert page.get_by_text("Change a role").count() == 0
    assert page.get_by_text("Manage accounts").count() == 0
    sign_out(page)


def test_admin_changes_saras_role(page, app_url):
    open_app(page, app_url["url"], "users?person=" + SARA_ID)  # a person's page is a deep link (#15.2)
    sign_in_demo_here(page, "Ahmed")
    page.get_by_role("heading", name="Sara Hassan").wait_for()
    pick(page, "New role", "admin")
    page.get_by_role("button", name="Save role").click()
    page.get_by_text("member → admin").first.wait_for()  # the toast
    wait_idle(page)
    check_page(page, "03-users-admin-role-changed")
    page.locator('[data-testid="stTable"]').last.wait_for()  # the person's history: the role change as a diff (#16)
    # change her back so later steps see the demo roles
    pick(page, "New role", "member")
    page.get_by_role("button", name="Save role").click()
    page.get_by_text("admin → member").first.wait_for()
    sign_out(page)
