"""Browser benchmark (not part of the test suite, #17): ``python tests/perf/bench_browser.py --scale 20
[--sessions 10] [--json] [--out F]``.

Seeds a throw-away embedded data dir at the scale, starts ``streamlit run app.py`` the README way,
and drives Debian's Chromium (Playwright) through one walk, timing each step from the click to the
settled page (the script run over — ``data-test-script-state`` back to ``notRunning`` — and what the
step waits for visible; for the map, its points drawn on the canvas), and beside it the time until the
script run ended (``<step>_run``: the app's part, before the browser draws):

  map first visit (points drawn) · layer switch (to Heatmap, drawn) · a filter (an industry) · opening
  a case (table row -> detail panel) · forum thread open · a role save to its toast · a deactivate
  (or reactivate: it toggles) to its toast. Each session changes its own person.

Then the same walk in N concurrent browser sessions (one Chromium, a context per session, each with
its own cookies and cache, driven by Playwright's async API): the median of each step against one
session, and every error with the step it failed in. One browser rather than N: ten Chromiums, each
with its own software-GPU process, on the 2 cores that also run the app and both stores measured the
machine rather than the app (load average 35). A toast step ends when the toast was first seen (from
the click on) and the run is over: a 4 s toast can end before a slow run does. The app process's peak memory (psutil, the
streamlit process and its children) is sampled throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
from tests.app_process import CHROMIUM_ARGS, start_app, stop_app, wait_health  # after the path

STEPS = ("map_first_visit", "map_layer_switch", "map_filter", "map_open_case", "forum_thread_open",
         "role_save_to_toast", "deactivate")
RUN_SUFFIX = "_run"  # the same step until the script run ended, before the browser drew it
STEP_TIMEOUT_MS = 120_000
_STATE_JS = "() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state')"


def _palette() -> list[tuple[int, int, int]]:
    sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))
    from tests.browser.test_pages import _palette as palette

    return palette()


def _point_pixels(png: bytes, palette) -> int:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((400, 300)), dtype=int)
    near = [np.abs(pixels - np.array(colour)).sum(axis=2) < 40 for colour in palette]
    return int(np.logical_or.reduce(near).sum())


async def settle(page, started_running_within_s: float = 3.0, quiet_s: float = 0.2) -> float:
    """Wait for the script run a click started to end (it may have ended before we looked), and for
    the run an ``st.rerun()`` after a write starts ~40 ms later: not running for ``quiet_s``.
    Returns when (``time.perf_counter()``) the last run was seen ending."""
    deadline = time.monotonic() + started_running_within_s
    while time.monotonic() < deadline and await page.evaluate(_STATE_JS) != "running":
        await page.wait_for_timeout(20)
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    ended = None
    while time.monotonic() < deadline:
        if await page.evaluate(_STATE_JS) == "running":
            ended = None
        elif ended is None:
            ended = time.perf_counter()
        elif time.perf_counter() - ended >= quiet_s:
            return ended
        await page.wait_for_timeout(20)
    raise TimeoutError("the script run did not end")


async def drawn(page, palette, before: bytes | None = None) -> bytes:
    """The map's canvas with points (and, given ``before``, different from it)."""
    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    await deck.wait_for(timeout=STEP_TIMEOUT_MS)
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while True:
        png = await deck.screenshot()
        if _point_pixels(png, palette) > 20 and (before is None or png != before):
            return png
        if time.monotonic() > deadline:
            raise TimeoutError("the map drew no points")
        await page.wait_for_timeout(50)


# A toast lasts 4 s; on a loaded machine the run that shows it can outlast it. So the page records
# when a toast with the text first appears, from the click on, and the step waits for that record.
_WATCH_TOAST_JS = """(text) => { window.__toastAt = null; const t0 = performance.now();
  const seen = () => [...document.querySelectorAll('[data-testid="stToast"]')].some(e => e.innerText.includes(text));
  const obs = new MutationObserver(() => { if (seen()) { window.__toastAt = performance.now() - t0; obs.disconnect(); } });
  obs.observe(document.body, {childList: true, subtree: true, characterData: true}); return t0; }"""


async def pick(page, label: str, option: str) -> int:
    """Choose an option in a Streamlit selectbox; returns how many tries it took to open its list.
    The box is scrolled into view and the scroll's event let fire before the click: a click that
    scrolls the page opens the list and the scroll event that follows a frame later closes it again
    (the list closes when the page scrolls, as it should for a person's wheel). A list that still did
    not open is opened with the keyboard, as tests/browser/helpers.pick does."""
    box = page.get_by_role("combobox", name=label, exact=True).filter(visible=True).first
    choice = page.get_by_role("option", name=option, exact=True).first
    await box.scroll_into_view_if_needed()
    await page.evaluate(_TWO_FRAMES_JS)
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    opens = 0
    while True:
        await (box.click() if opens == 0 else box.press("ArrowDown"))
        opens += 1
        try:
            await choice.wait_for(timeout=3_000)
            break
        except Exception:  # the list did not show its options: open it again
            if time.monotonic() > deadline:
                raise
    await choice.click()
    await settle(page)
    return opens


_TWO_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


async def walk(browser, url: str, palette, person: tuple[str, str]) -> dict[str, float]:
    """One session's walk in its own browser context (cookies, storage, cache); seconds per step."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    times: dict[str, float] = {}
    step = "sign in"
    try:
        await page.goto(url + "/", timeout=STEP_TIMEOUT_MS)
        await page.get_by_role("button", name="Sign in as Ahmed").click()
        await page.get_by_role("heading", name="Overview").wait_for()
        await settle(page)

        async def timed(name, action, until):
            nonlocal step
            step = name
            start = time.perf_counter()
            await action()
            ended = await settle(page)  # the app's part: the script run the click started is over
            times[name + RUN_SUFFIX] = round(ended - start, 3)
            await until()  # the browser's part: drawn (the map: points on the canvas), toast shown
            times[name] = round(time.perf_counter() - start, 3)

        async def toast(name, text, action):
            """A step that ends at its toast: seen from the click on, and the run over."""
            nonlocal step
            step = name
            await page.evaluate(_WATCH_TOAST_JS, text)
            start = time.perf_counter()
            await action()
            ended = await settle(page)
            times[name + RUN_SUFFIX] = round(ended - start, 3)
            await page.wait_for_function("() => window.__toastAt !== null", timeout=STEP_TIMEOUT_MS)
            seen = await page.evaluate("window.__toastAt") / 1000
            times[name] = round(max(seen, ended - start), 3)

        nav = page.locator('[data-testid="stSidebarNav"]')
        state: dict[str, bytes] = {}

        async def first_map_drawn():
            await page.get_by_role("heading", name="Use-case map").wait_for()
            state["png"] = await drawn(page, palette)

        async def redrawn():
            state["png"] = await drawn(page, palette, state["png"])

        await timed("map_first_visit", lambda: nav.get_by_text("Use-case map", exact=True).click(), first_map_drawn)
        await timed("map_layer_switch",
                    lambda: page.locator('[data-testid="stButtonGroup"]').get_by_text("Heatmap", exact=True).click(),
                    redrawn)

        async def pick_industry():
            await page.get_by_role("combobox", name="Industry", exact=True).filter(visible=True).first.click()
            await page.get_by_role("option").nth(1).click()

        await timed("map_filter", pick_industry, redrawn)
        table = page.locator('[data-testid="stDataFrame"]').last
        await table.scroll_into_view_if_needed()
        box = await table.bounding_box()

        async def open_case():  # the first row's checkbox column of the glide grid
            await page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)

        await timed("map_open_case", open_case, lambda: page.get_by_role("button", name="Close").wait_for())
        step = "forum"
        await nav.get_by_text("Forum", exact=True).click()
        await settle(page)
        thread = page.get_by_role("button", name="My experience implementing predictive maintenance")
        await timed("forum_thread_open", lambda: thread.click(),
                    lambda: page.get_by_role("button", name="Back to the list").wait_for())
        # A person's page (#15): each session works on its own person (no version conflicts between them).
        step = "person's page"
        person_id, role = person
        await page.goto(f"{url}/users?person={person_id}", timeout=STEP_TIMEOUT_MS)
        await page.get_by_role("button", name="Save role").wait_for()
        await settle(page)
        new_role = "user" if role != "user" else "member"
        times["role_box_opens"] = await pick(page, "New role", new_role)
        await toast("role_save_to_toast", "→ " + new_role, lambda: page.get_by_role("button", name="Save role").click())
        toggle = page.get_by_role("button", name=re.compile(r"(Deactivate|Reactivate) "))
        await toast("deactivate", "is now", lambda: toggle.click())
    except Exception as exc:  # which step failed, and what the page showed then
        shot = Path(tempfile.gettempdir()) / f"bench-browser-failed-{person[0]}.png"
        try:
            await page.screenshot(path=str(shot), full_page=True)
        except Exception:  # noqa: BLE001 - the page may be gone
            shot = None
        raise RuntimeError(f"{step}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]} "
                           f"(screenshot: {shot})") from exc
    finally:
        await context.close()
    return times


def _people(env: dict[str, str], n: int) -> list[tuple[str, str]]:
    """``n`` active non-admin people (id, role), one per walk, from the seeded PostgreSQL."""
    import shlex

    import psycopg

    out = subprocess.run([sys.executable, "-m", "p2p_store", "env"], cwd=REPO_ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    urls = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    with psycopg.connect(shlex.split(urls["DATABASE_URL"])[0], connect_timeout=5) as conn:
        rows = conn.execute("SELECT id::text, role FROM users WHERE role <> 'admin' AND is_active "
                            "ORDER BY email LIMIT %s", (n,)).fetchall()
    assert len(rows) == n, f"only {len(rows)} people to work on; seed a larger scale"
    return [(r[0], r[1]) for r in rows]


def sample_memory(pid: int, stop: threading.Event, peak: dict) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=False)
                                                if "streamlit" in " ".join(c.cmdline()))
            peak["rss_mb"] = max(peak.get("rss_mb", 0), round(rss / 2**20, 1))
        except Exception:  # noqa: BLE001 - the process is ending
            return
        stop.wait(0.25)


async def sessions(url: str, palette, persons: list[tuple[str, str]], n: int) -> dict:
    """A warm-up walk (the process's first visit of every page), one walk alone, then ``n`` walks at
    once: one Chromium, one context per session, as ``n`` people's browsers would be isolated."""
    from playwright.async_api import async_playwright

    out: dict = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            await walk(browser, url, palette, persons[0])
            one = out["one_session_s"] = await walk(browser, url, palette, persons[1])
            start = time.perf_counter()
            results = await asyncio.gather(*(walk(browser, url, palette, persons[2 + i]) for i in range(n)),
                                           return_exceptions=True)
            out["concurrent_wall_s"] = round(time.perf_counter() - start, 1)
        finally:
            await browser.close()
    many = [r for r in results if isinstance(r, dict)]
    keys = [k for s in STEPS for k in (s, s + RUN_SUFFIX)]
    out["concurrent_median_s"] = {s: round(statistics.median([m[s] for m in many if s in m]), 3)
                                  for s in keys if any(s in m for m in many)}
    out["concurrent_vs_one"] = {s: round(out["concurrent_median_s"][s] / one[s], 2)
                                for s in out["concurrent_median_s"] if one.get(s)}
    out["completed_sessions"] = len(many)
    out["role_box_opens"] = [m.get("role_box_opens") for m in many]  # 1 each unless the first try failed
    out["errors"] = [f"session {i}: {r}" for i, r in enumerate(results) if not isinstance(r, dict)]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="p2p-bench-browser-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGODB_URL", "P2P_ENV")}
    env["P2P_DATA_DIR"] = data_dir
    py = sys.executable
    subprocess.run([py, "-m", "p2p_store", "up"], cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    subprocess.run([py, "-m", "seed", "--scale", str(args.scale)], cwd=REPO_ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    persons = _people(env, args.sessions + 2)
    log = open(Path(data_dir) / "streamlit.log", "wb")  # noqa: SIM115 - closed after the app stops
    app, url = start_app(env, log=log)
    stop, peak = threading.Event(), {}
    result: dict = {"scale": args.scale, "sessions": args.sessions, "load_average_before": os.getloadavg()}
    try:
        wait_health(url, app, deadline_s=120)
        sampler = threading.Thread(target=sample_memory, args=(app.pid, stop, peak), daemon=True)
        sampler.start()
        result.update(asyncio.run(sessions(url, _palette(), persons, args.sessions)))
    finally:
        stop.set()
        result["app_peak_rss_mb"] = peak.get("rss_mb")
        stop_app(app)
        log.close()
        subprocess.run([py, "-m", "p2p_store", "down"], check=False, cwd=REPO_ROOT, env=env, capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"scale {args.scale}, one session then {args.sessions} concurrent (seconds, click to settled)")
        print(f"  {'step':<22}{'one':>8}{'median of N':>14}{'ratio':>8}   script run only: one, median, ratio")
        one, med, ratio = result["one_session_s"], result.get("concurrent_median_s", {}), \
            result.get("concurrent_vs_one", {})
        for s in STEPS:
            r = s + RUN_SUFFIX
            print(f"  {s:<22}{one.get(s, '-'):>8}{med.get(s, '-'):>14}{ratio.get(s, '-'):>8}"
                  f"   {one.get(r, '-'):>6}{med.get(r, '-'):>8}{ratio.get(r, '-'):>7}")
        print(f"  sessions completed {result.get('completed_sessions')}/{args.sessions}, errors: "
              f"{result.get('errors')}")
        print(f"  tries to open the role list, per session: {result.get('role_box_opens')}")
        print(f"  app process peak RSS {result['app_peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
