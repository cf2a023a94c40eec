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

Then the same walk in N concurrent browser sessions (N browsers, one per thread): the median
of each step against one session, and every error. The app process's peak memory (psutil, the
streamlit process and its children) is sampled throughout.
"""

from __future__ import annotations

import argparse
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
from tests.app_process import CHROMIUM_ARGS, start_app, stop_app, wait_health  # noqa: E402 - after the path
from tests.browser.helpers import pick  # noqa: E402 - the suite's combobox helper, after the path is set
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


def settle(page, started_running_within_s: float = 3.0, quiet_s: float = 0.2) -> float:
    """Wait for the script run a click started to end (it may have ended before we looked), and for
    the run an ``st.rerun()`` after a write starts ~40 ms later: not running for ``quiet_s``.
    Returns when (``time.perf_counter()``) the last run was seen ending."""
    deadline = time.monotonic() + started_running_within_s
    while time.monotonic() < deadline and page.evaluate(_STATE_JS) != "running":
        page.wait_for_timeout(20)
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    ended = None
    while time.monotonic() < deadline:
        if page.evaluate(_STATE_JS) == "running":
            ended = None
        elif ended is None:
            ended = time.perf_counter()
        elif time.perf_counter() - ended >= quiet_s:
            return ended
        page.wait_for_timeout(20)
    raise TimeoutError("the script run did not end")


def drawn(page, palette, before: bytes | None = None) -> bytes:
    """The map's canvas with points (and, given ``before``, different from it)."""
    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    deck.wait_for(timeout=STEP_TIMEOUT_MS)
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while True:
        png = deck.screenshot()
        if _point_pixels(png, palette) > 20 and (before is None or png != before):
            return png
        if time.monotonic() > deadline:
            raise TimeoutError("the map drew no points")
        page.wait_for_timeout(50)


def walk(browser, url: str, palette, person: tuple[str, str]) -> dict[str, float]:
    """One session's walk; seconds per step."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    times: dict[str, float] = {}
    try:
        page.goto(url + "/", timeout=STEP_TIMEOUT_MS)
        page.get_by_role("button", name="Sign in as Ahmed").click()
        page.get_by_role("heading", name="Overview").wait_for()
        settle(page)

        def timed(name, action, until):
            start = time.perf_counter()
            try:
                action()
                ended = settle(page)  # the app's part: the script run the click started is over
                times[name + RUN_SUFFIX] = round(ended - start, 3)
                until()  # the browser's part: drawn (the map: points on the canvas), toast shown
            except Exception as exc:  # which step failed, after how long
                raise RuntimeError(f"{name} after {time.perf_counter() - start:.0f} s: "
                                   f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from exc
            times[name] = round(time.perf_counter() - start, 3)

        nav = page.locator('[data-testid="stSidebarNav"]')
        state: dict[str, bytes] = {}

        def first_map_drawn():
            page.get_by_role("heading", name="Use-case map").wait_for()
            state["png"] = drawn(page, palette)

        timed("map_first_visit", lambda: nav.get_by_text("Use-case map", exact=True).click(), first_map_drawn)
        timed("map_layer_switch", lambda: page.locator('[data-testid="stButtonGroup"]').get_by_text("Heatmap", exact=True).click(),
              lambda: state.update(png=drawn(page, palette, state["png"])))

        def pick_industry():
            page.get_by_role("combobox", name="Industry", exact=True).filter(visible=True).first.click()
            page.get_by_role("option").nth(1).click()

        timed("map_filter", pick_industry, lambda: state.update(png=drawn(page, palette, state["png"])))
        table = page.locator('[data-testid="stDataFrame"]').last
        table.scroll_into_view_if_needed()
        box = table.bounding_box()

        def open_case():  # the first row's checkbox column of the glide grid
            page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)

        timed("map_open_case", open_case, lambda: page.get_by_role("button", name="Close").wait_for())
        nav.get_by_text("Forum", exact=True).click()
        settle(page)
        thread = page.get_by_role("button", name="My experience implementing predictive maintenance")
        timed("forum_thread_open", lambda: thread.click(),
              lambda: page.get_by_role("button", name="Back to the list").wait_for())
        # A person's page (#15): each session works on its own person (no version conflicts between them).
        person_id, role = person
        page.goto(f"{url}/users?person={person_id}", timeout=STEP_TIMEOUT_MS)
        page.get_by_role("button", name="Save role").wait_for()
        settle(page)
        new_role = "user" if role != "user" else "member"
        pick(page, "New role", new_role)
        timed("role_save_to_toast", lambda: page.get_by_role("button", name="Save role").click(),
              lambda: page.locator('[data-testid="stToast"]').filter(has_text="→ " + new_role).first.wait_for())
        toggle = page.get_by_role("button", name=re.compile(r"(Deactivate|Reactivate) "))
        timed("deactivate", lambda: toggle.click(),
              lambda: page.locator('[data-testid="stToast"]').filter(has_text=re.compile("is now")).first.wait_for())
    finally:
        context.close()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

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
        palette = _palette()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            walk(browser, url, palette, persons[0])  # warm-up: the process's first visit of every page
            one = walk(browser, url, palette, persons[1])
            result["one_session_s"] = one
            browser.close()
        many: list[dict] = []
        errors: list[str] = []

        def session(i: int) -> None:
            # One browser per thread: Playwright's sync API is bound to the thread that started it.
            try:
                with sync_playwright() as p:
                    b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
                    try:
                        many.append(walk(b, url, palette, persons[2 + i]))
                    finally:
                        b.close()
            except Exception as exc:  # noqa: BLE001 - counted and printed
                errors.append(f"session {i}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")

        threads = [threading.Thread(target=session, args=(i,)) for i in range(args.sessions)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result["concurrent_wall_s"] = round(time.perf_counter() - start, 1)
        keys = [k for s in STEPS for k in (s, s + RUN_SUFFIX)]
        result["concurrent_median_s"] = {s: round(statistics.median([m[s] for m in many if s in m]), 3)
                                         for s in keys if any(s in m for m in many)}
        result["concurrent_vs_one"] = {s: round(result["concurrent_median_s"][s] / one[s], 2)
                                       for s in result["concurrent_median_s"] if one.get(s)}
        result["completed_sessions"] = len(many)
        result["errors"] = errors
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
        print(f"  app process peak RSS {result['app_peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
