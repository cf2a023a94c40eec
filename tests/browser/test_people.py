"""People in a real browser (#15.2/#15.3/#15.5/#15.6): actions on a person's page take effect every time
with a toast and an audit row; an edit shows in the list; Arabic text is visible in its table cell;
a member's admin link says why it stops."""

from __future__ import annotations

import io
import re

import psycopg
from PIL import Image

from seed.dataset import user_id_for
from tests.browser.helpers import go, open_app, pick, sign_out, wait_idle
from tests.browser.test_sessions import _db_url, sign_in_demo

MOHAMMED = "mohammed.rashid@gulfplastics.sa"
MOHAMMED_ID = str(user_id_for(MOHAMMED))


def _audit(app_url, action: str) -> int:
    with psycopg.connect(_db_url(app_url)) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE action = %s AND object_email = %s",
                            (action, MOHAMMED)).fetchone()[0]


def _open_mohammed(page) -> None:
    go(page, "Users & roles")
    page.get_by_placeholder("e.g. Hassan").fill("gulf")
    page.keyboard.press("Enter")
    wait_idle(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the row's selection box (header 35 px, row 35 px)
    page.get_by_role("button", name=re.compile("Open \u2068?Mohammed Rashid\u2069?'s page")).click()  # names isolated (#15.6)
    page.get_by_role("heading", name="Mohammed Rashid").wait_for()
    wait_idle(page)


def test_deactivate_reactivate_deactivate_on_one_screen(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Ahmed")
    _open_mohammed(page)
    before = {a: _audit(app_url, a) for a in ("deactivate", "reactivate")}
    for verb, toast in (("Deactivate", "is now inactive"), ("Reactivate", "is now active"),
                        ("Deactivate", "is now inactive")):
        page.get_by_role("button", name=verb).click()
        # the toast comes first in the run (it lasts 4 s), then the page shows the new state
        page.locator('[data-testid="stToast"]').filter(has_text=toast).last.wait_for()
        page.get_by_role("button", name="Reactivate" if verb == "Deactivate" else "Deactivate").wait_for()
        wait_idle(page)
    assert _audit(app_url, "deactivate") == before["deactivate"] + 2
    assert _audit(app_url, "reactivate") == before["reactivate"] + 1
    page.get_by_role("button", name="Reactivate").click()  # leave him active for the other tests
    page.locator('[data-testid="stToast"]').filter(has_text="is now active").last.wait_for()
    wait_idle(page)
    sign_out(page)


def _role(app_url) -> str:
    with psycopg.connect(_db_url(app_url)) as conn:
        return conn.execute("SELECT role FROM users WHERE email = %s", (MOHAMMED,)).fetchone()[0]


def test_a_click_made_while_the_page_redraws_after_a_write_counts(page, app_url):
    """Save a role, then at once (no waiting for the run after the write) deactivate: both take
    effect, each with one click. Keyed by the account's version, the Deactivate button redrawn after
    the role change was a new widget, and a click on the old one — still on screen while the page
    redraws — was lost (found at scale 100, #17)."""
    open_app(page, app_url["url"])
    sign_in_demo(page, "Ahmed")
    _open_mohammed(page)
    role = _role(app_url)
    new_role = "user" if role != "user" else "member"
    before = {a: _audit(app_url, a) for a in ("change_role", "deactivate")}
    pick(page, "New role", new_role)
    page.get_by_role("button", name="Save role").click()
    page.get_by_role("button", name="Deactivate").click()  # no wait: the page is still redrawing
    page.get_by_role("button", name="Reactivate").wait_for()
    wait_idle(page)
    assert _audit(app_url, "change_role") == before["change_role"] + 1
    assert _audit(app_url, "deactivate") == before["deactivate"] + 1
    assert _role(app_url) == new_role
    # Leave him as he was for the other tests.
    page.get_by_role("button", name="Reactivate").click()
    page.get_by_role("button", name="Deactivate").wait_for()
    pick(page, "New role", role)
    page.get_by_role("button", name="Save role").click()
    page.locator('[data-testid="stToast"]').filter(has_text="→ " + role).last.wait_for()
    wait_idle(page)
    assert _role(app_url) == role
    sign_out(page)


def test_edit_company_shows_in_the_list_and_arabic_is_visible(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Ahmed")
    _open_mohammed(page)
    company = page.get_by_label("Company", exact=True)
    company.fill("مصانع الخليج للبلاستيك")
    page.get_by_role("button", name="Save changes").click()
    page.locator('[data-testid="stToast"]').filter(has_text="Saved").last.wait_for()
    wait_idle(page)
    page.get_by_role("button", name="← All people").click()
    wait_idle(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    wait_idle(page)
    box = grid.bounding_box()
    image = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("L")
    # the Company cell of the one row: after the selection column (~32 px), Name (170) and Email (270)
    x0, x1 = 32 + 170 + 270 + 4, 32 + 170 + 270 + 330 - 4
    cell = image.crop((x0, 35 + 4, min(x1, image.width), 70 - 4))
    dark = sum(1 for v in cell.tobytes() if v < 140)
    assert dark > 80, f"the Arabic company is not visible in its cell ({dark} dark pixels)"
    sign_out(page)


def test_member_following_an_admin_link_is_told_why(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    page.goto(app_url["url"] + "/data-admin")
    wait_idle(page)
    page.get_by_text("This page is for admins").wait_for()
    assert page.get_by_role("button", name="Empty both stores").count() == 0
    sign_out(page)
