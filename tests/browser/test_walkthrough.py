"""A person's walk through the app in Chromium (issues 4 and 10)."""

from __future__ import annotations

from tests.browser.helpers import check_page, go, open_app, pick, sign_in_demo, sign_out, wait_idle


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
    open_app(page, app_url["url"])
    sign_in_demo(page, "Ahmed")
    go(page, "Users & roles")
    page.get_by_role("heading", name="Change a role").wait_for()
    pick(page, "Person", "Sara Hassan · sara.hassan@advanced-electronics.sa")
    pick(page, "New role", "admin")
    page.get_by_role("button", name="Save role").click()
    page.get_by_text("Sara Hassan is now").wait_for()
    wait_idle(page)
    assert page.get_by_text("member → admin").count() >= 1  # the toast
    check_page(page, "03-users-admin-role-changed")
    audit = page.locator('[data-testid="stDataFrame"]').last
    assert audit.is_visible()
    # change her back so later steps see the demo roles
    pick(page, "Person", "Sara Hassan · sara.hassan@advanced-electronics.sa")
    pick(page, "New role", "member")
    page.get_by_role("button", name="Save role").click()
    page.get_by_text("Sara Hassan is now").wait_for()
    sign_out(page)
