"""A real browser against the app started the README way (``streamlit run app.py``) on a fresh
embedded data dir. Playwright (PyPI) drives Debian's Chromium by path; ``playwright install``
cannot download here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.app_process import CHROMIUM_ARGS, REPO_ROOT, start_app, stop_app, wait_health

ARTIFACTS = Path(os.environ.get("P2P_ARTIFACTS_DIR", REPO_ROOT / "artifacts")) / "screenshots"
APP_START_TIMEOUT_S = 120  # first start: embedded servers + migrations + demo data


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium",
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        message = "no Chromium found: install Debian's package `chromium` (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def app_url(chromium_path):
    """`streamlit run app.py` on a fresh data dir; waits for /_stcore/health; stops everything after."""
    data_dir = tempfile.mkdtemp(prefix="p2p-browser-")
    env = {**os.environ, "P2P_DATA_DIR": data_dir}
    for var in ("DATABASE_URL", "MONGODB_URL", "P2P_ENV"):  # the newcomer's path: the embedded default
        env.pop(var, None)
    log = open(Path(data_dir) / "streamlit.log", "wb")  # noqa: SIM115 - closed at teardown
    proc, url = start_app(env, log=log)
    try:
        wait_health(url, proc, deadline_s=60)
    except RuntimeError:
        stop_app(proc)
        raise
    yield {"url": url, "data_dir": data_dir, "env": env, "process": proc}
    stop_app(proc)
    subprocess.run([sys.executable, "-m", "p2p_store", "down"], cwd=REPO_ROOT, env=env, timeout=60,
                   capture_output=True)
    log.close()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
