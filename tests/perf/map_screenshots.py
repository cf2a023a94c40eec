"""Screenshots of the use-case map for the docs (#17): ``python tests/perf/map_screenshots.py --scale 20
--out artifacts/map``. Starts a throw-away embedded data dir at the scale and ``streamlit run app.py``,
signs in, and saves the map at 1400x1000 and 400x800: the opening view, a radius search, a layer
switch and a tooltip near the right edge."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.app_process import CHROMIUM_ARGS, start_app, stop_app, wait_health  # after the path
from tests.perf.bench_browser import _palette, drawn, settle


async def shoot(browser, url: str, out: Path, width: int, height: int, palette) -> None:
    tag = f"{width}x{height}"

    async def visit(query: str):
        """A deep link opened in a new browser session (a fresh context: the sign-in cookie of the last
        visit would skip the sign-in): sign in and land on the linked map view."""
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        page.set_default_timeout(120_000)
        await page.goto(url + "/map" + query)
        await page.get_by_role("button", name="Sign in as Sara").click()
        await page.get_by_role("heading", name="Use-case map").wait_for()
        await settle(page)
        await drawn(page, palette)
        await page.wait_for_timeout(800)
        return context, page

    for name, query in (("open", ""), ("near", "?near=Riyadh&km=250"), ("heatmap", "?layer=Heatmap")):
        context, page = await visit(query)
        await page.screenshot(path=str(out / f"map-{name}-{tag}.png"))
        await context.close()
    context, page = await visit("?layer=Points")
    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    await deck.scroll_into_view_if_needed()
    box = await deck.bounding_box()
    # Hover along a line near the right edge until a tooltip shows.
    for dy in range(int(box["height"] * 0.2), int(box["height"] * 0.8), 6):
        for dx in (30, 45, 60, 80, 100):
            await page.mouse.move(box["x"] + box["width"] - dx, box["y"] + dy)
            await page.wait_for_timeout(30)
            if await page.locator(".deck-tooltip").filter(has_text="·").count():
                break
        else:
            continue
        break
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(out / f"map-tooltip-{tag}.png"))
    await context.close()


async def shoot_all(url: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            for width, height in ((1400, 1000), (400, 800)):
                await shoot(browser, url, out, width, height, _palette())
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artifacts" / "map")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data_dir = tempfile.mkdtemp(prefix="p2p-map-shots-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGODB_URL", "P2P_ENV")}
    env["P2P_DATA_DIR"] = data_dir
    py = sys.executable
    subprocess.run([py, "-m", "p2p_store", "up"], cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    subprocess.run([py, "-m", "seed", "--scale", str(args.scale)], cwd=REPO_ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    app, url = start_app(env)
    try:
        wait_health(url, app, deadline_s=120)
        asyncio.run(shoot_all(url, args.out))
    finally:
        stop_app(app)
        subprocess.run([py, "-m", "p2p_store", "down"], check=False, cwd=REPO_ROOT, env=env, capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    print("\n".join(sorted(str(p) for p in args.out.glob("map-*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
