"""What every browser step checks: the page rendered, no error box, no traceback, a screenshot."""

from __future__ import annotations

import io

from PIL import Image, ImageStat

from tests.browser.conftest import APP_START_TIMEOUT_S, ARTIFACTS

_RUNNING_JS = ("() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
               " return !!w && (w.innerText.includes('Running') || w.innerText.includes('Stop')); }")


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script: its status widget ("Running…" / "Stop")
    stays away for a whole second (it appears only some time after a run starts)."""
    import time

    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        if page.evaluate(_RUNNING_JS):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            break
        page.wait_for_timeout(100)
    try:  # elements still loading show as skeletons; give them a moment (not an error if they stay)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=5_000)
    except Exception:  # noqa: BLE001 - a skeleton that stays is caught by the screenshot review, not here
        pass


def check_page(page, name: str) -> Image.Image:
    """Screenshot into artifacts/screenshots/<name>.png; fail on an error box, a traceback or a blank page."""
    wait_idle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: exception box"
    body = page.inner_text("body")
    assert "Traceback" not in body, f"{name}: traceback on the page"
    image = Image.open(io.BytesIO(png)).convert("L")
    assert ImageStat.Stat(image).stddev[0] > 5, f"{name}: the page looks blank"
    return image


def open_app(page, url: str, path: str = "") -> None:
    page.goto(url + "/" + path, timeout=APP_START_TIMEOUT_S * 1000)
    wait_idle(page, APP_START_TIMEOUT_S * 1000)


def sign_in_demo(page, first_name: str) -> None:
    page.get_by_role("button", name=f"Sign in as {first_name}").click()
    page.get_by_role("heading", name="Overview").wait_for()
    wait_idle(page)


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()


def go(page, nav_label: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(nav_label, exact=True).click()
    wait_idle(page)


def pick(page, label: str, option: str) -> None:
    """Choose an option in a Streamlit selectbox (a React Aria combobox) found by its label."""
    box = page.get_by_role("combobox", name=label, exact=True).filter(visible=True).first
    box.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)
