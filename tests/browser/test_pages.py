"""The rest of the walk: forum thread, map (drawn, filtered, clicked), reseed with progress, health."""

from __future__ import annotations

import ast
import io

import numpy as np
from PIL import Image

from tests.browser.conftest import REPO_ROOT
from tests.browser.helpers import (check_page, deck_layer, deck_settled, go, open_app, pick, sign_in_demo,
                                  wait_idle)

POINTS_LAYER = "use-cases"  # the map page's ScatterplotLayer id


def _palette() -> list[tuple[int, int, int]]:
    """The industry colours of the map page, read from its source (importing it would run the page)."""
    tree = ast.parse((REPO_ROOT / "app_pages" / "map.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PALETTE" for t in node.targets):
            # saturated colours only: a grey would also match anti-aliased label text and borders
            return [tuple(c) for c in ast.literal_eval(node.value) if max(c) - min(c) > 60]
    raise AssertionError("PALETTE not found in app_pages/map.py")


def _point_pixels(png: bytes) -> int:
    """Pixels within a small distance of one of the point colours."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((400, 300)), dtype=int)
    near = [np.abs(pixels - np.array(colour)).sum(axis=2) < 40 for colour in _palette()]
    return int(np.logical_or.reduce(near).sum())


def _outline_pixels(png: bytes) -> int:
    """Pixels of Saudi Arabia's sand fill: the outline the browser loads from app/static (#17)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((400, 300)), dtype=int)
    return int((np.abs(pixels - np.array((240, 228, 200))).sum(axis=2) < 30).sum())


def _deck_png(page) -> bytes:
    """A screenshot of the map once its deck has settled (software WebGL: then poll until the points'
    pixels show, the frame may still be on its way to the screen)."""
    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    deck.wait_for()
    deck_settled(page, POINTS_LAYER)
    png = b""
    for _ in range(40):
        png = deck.screenshot()
        if _point_pixels(png) > 20:
            break
        page.wait_for_timeout(250)
    return png


def test_forum_thread_opens_from_the_list(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Forum")
    check_page(page, "10-forum-list")
    page.get_by_role("button", name="My experience implementing predictive maintenance").click()
    page.get_by_role("button", name="Back to the list").wait_for()
    wait_idle(page)
    assert "?post=" in page.url or "post=" in page.url
    check_page(page, "11-forum-thread")


def test_map_draws_points_then_filter_and_click(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Use-case map")
    png = _deck_png(page)
    check_page(page, "20-map")
    assert _point_pixels(png) > 20, "the map's canvas has none of the points' colours"
    assert _outline_pixels(png) > 5_000, "Saudi Arabia's outline (loaded from app/static) is not drawn"
    pick(page, "Industry", "Plastics & Polymers")
    png = _deck_png(page)
    assert _point_pixels(png) > 5
    check_page(page, "21-map-filtered")
    # The view is fitted to the filtered cases: click where the deck itself draws (and picks) one.
    target = deck_settled(page, POINTS_LAYER, point=True)
    assert target["x"] is not None, f"no point to click: {target}"
    page.mouse.move(5, 5)  # nothing hovered before the click (a hovered point is highlighted)
    page.mouse.click(target["x"], target["y"])
    wait_idle(page)
    page.get_by_role("button", name="Close").wait_for(timeout=15_000)
    check_page(page, "22-map-case")


def test_density_layers_draw_from_the_points_positions(page, app_url):
    """Hexagons and heatmap get positions only (``getPosition: "@@=-"``, the datum itself): deck.gl
    reads each as the position of a case and aggregates them (#17)."""
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Use-case map")
    deck_settled(page, POINTS_LAYER)
    points = deck_layer(page, POINTS_LAYER)
    for label, layer_id in (("Hexagon density", "use-case-density"), ("Heatmap", "use-case-heat")):
        page.locator('[data-testid="stButtonGroup"]').get_by_text(label, exact=True).click()
        wait_idle(page)
        deck_settled(page, layer_id)
        density = deck_layer(page, layer_id)
        assert density is not None, f"{label}: no layer {layer_id}"
        assert sorted(density["positions"]) == sorted(points["positions"])
        assert density["sublayers"] and all(n > 0 for _, n in density["sublayers"]), density["sublayers"]


def test_reseed_from_data_admin_and_watch_progress(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Ahmed")
    go(page, "Data admin")
    check_page(page, "30-data-admin")
    page.get_by_role("button", name="Reseed…").click()
    page.get_by_role("button", name="Replace the data").click()
    page.get_by_text("Reseeded", exact=False).first.wait_for(timeout=120_000)
    wait_idle(page)
    check_page(page, "31-data-admin-reseeded")
    assert page.get_by_role("button", name="Sign out").is_visible()  # still signed in


def test_health_shows_both_stores(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Health")
    page.get_by_text("Healthy").first.wait_for()
    check_page(page, "40-health")
    assert page.get_by_text("PostgreSQL").count() and page.get_by_text("MongoDB").count()


def test_explorer_and_my_account_render(page, app_url):
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Data explorer")
    page.get_by_role("heading", name="Data explorer").wait_for()
    check_page(page, "50-explorer")
    go(page, "My account")
    page.get_by_role("heading", name="My account").wait_for()
    check_page(page, "60-my-account")


def test_health_shows_a_stopped_store_within_10s_and_other_pages_still_work(page, app_url):
    from pathlib import Path

    from p2p_store.stores import local

    root = Path(app_url["data_dir"]).resolve()
    open_app(page, app_url["url"])
    sign_in_demo(page, "Sara")
    go(page, "Health")
    page.get_by_text("Healthy").first.wait_for()
    local.stop_local_mongo(root)
    try:
        page.get_by_text("Degraded").first.wait_for(timeout=10_000)  # the panel refreshes itself
        check_page(page, "41-health-mongo-down")
        go(page, "Users & roles")  # another page: a banner or (embedded default) the store restarted, no error box
        page.get_by_role("heading", name="Users & roles").wait_for()
        check_page(page, "42-users-while-mongo-was-down")
    finally:
        local.ensure_local_mongo(root)
