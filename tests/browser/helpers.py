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
    # The first sign-in of a fresh app also warms its caches (overview aggregations, the first health
    # report): on a loaded machine that took 42 s, so it gets the app's start-up bound, not 30 s.
    page.get_by_role("heading", name="Overview").wait_for(timeout=APP_START_TIMEOUT_S * 1000)
    wait_idle(page)


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()


def go(page, nav_label: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(nav_label, exact=True).click()
    wait_idle(page)


def pick(page, label: str, option: str) -> None:
    """Choose an option in a Streamlit selectbox (a React Aria combobox) found by its label, once the
    script run that drew it has finished (a run still drawing can replace the box under the click)."""
    wait_idle(page)
    box = page.get_by_role("combobox", name=label, exact=True).filter(visible=True).first
    box.click()
    choice = page.get_by_role("option", name=option, exact=True).first
    try:
        choice.wait_for(timeout=3_000)
    except Exception:  # noqa: BLE001 - a box scrolled into view by the click stays focused but closed
        box.press("ArrowDown")  # the keyboard way to open a combobox's list
    choice.click()
    wait_idle(page)


# ------------------------------------------------------------------ pydeck maps
# Streamlit draws st.pydeck_chart with deck.gl's React component, which keeps its Deck in a ref of
# the canvas' React fiber. Reading it gives the deck's own state: whether it is initialised, the
# view state it draws with, whether every layer has loaded and whether a redraw is still pending.

_FIND_DECK_JS = """
const findDeck = () => {  // the map's Deck and the JSON spec the page sent, or nulls
  const root = document.querySelector('[data-testid="stDeckGlJsonChart"]');
  const canvas = root && root.querySelector('canvas');
  if (!canvas) return {canvas: null, deck: null, json: null};
  const key = Object.keys(canvas).find(k => k.startsWith('__reactFiber$'));
  let deck = null, json = null;
  for (let f = key && canvas[key]; f && !deck; f = f.return) {
    for (let h = f.memoizedState; h && typeof h === 'object' && 'next' in h && !deck; h = h.next) {
      const cur = h.memoizedState && h.memoizedState.current;
      if (cur && cur.deck && typeof cur.deck.pickObject === 'function') deck = cur.deck;
    }
  }
  // The spec from React's current tree: the canvas's own fiber can be the alternate of an earlier
  // render, whose props still hold the spec before the last change of layers.
  const container = document.getElementById('root');
  const rootKey = container && Object.keys(container).find(k => k.startsWith('__reactContainer$'));
  const stack = rootKey ? [container[rootKey].stateNode.current] : [];
  while (stack.length && !json) {
    const f = stack.pop(), p = f.memoizedProps;
    if (p && p.element && typeof p.element.json === 'string') json = p.element.json;
    if (f.sibling) stack.push(f.sibling);
    if (f.child) stack.push(f.child);
  }
  return {canvas, deck, json};
};
"""

_DECK_JS = """
async ([layerId, want]) => {""" + _FIND_DECK_JS + """
  const {canvas, deck, json} = findDeck();
  if (!canvas) return {settled: false, why: 'no canvas'};
  if (!deck || !json) return {settled: false, why: 'no deck yet'};
  if (!deck.isInitialized) return {settled: false, why: 'deck not initialised'};
  const spec = JSON.parse(json);
  const target = spec.initialViewState, view = deck.props.viewState || {};
  const same = k => Math.abs((view[k] ?? 0) - (target[k] ?? 0)) < 1e-6;
  if (!['longitude', 'latitude', 'zoom'].every(same)) return {settled: false, why: 'view state not applied yet'};
  const layers = deck.layerManager.getLayers();
  if (!layers.every(l => l.isLoaded)) return {settled: false, why: 'layers loading'};
  const layer = layers.find(l => l.id === layerId);
  const specLayer = (spec.layers || []).find(l => l.id === layerId);
  if (!layer || !specLayer || layer.props.data.length !== specLayer.data.length)
    return {settled: false, why: `layer data differs from the page spec: ${layer ? layer.props.data.length : 'no layer'}`
                                 + ` drawn, ${specLayer ? specLayer.data.length : 'no layer'} in the spec`};
  // Let two frames pass, then nothing may be left to draw.
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  if (deck.needsRedraw({clearRedrawFlags: false})) return {settled: false, why: 'redraw pending'};
  if (!want) return {settled: true, points: layer.props.data.length};
  // The on-screen position of a point the deck's own picking finds there.
  const rect = canvas.getBoundingClientRect();
  const viewport = deck.getViewports()[0];
  for (const d of layer.props.data) {
    const [x, y] = viewport.project([d.lon, d.lat]);
    if (x < 8 || y < 8 || x > rect.width - 8 || y > rect.height - 8) continue;
    if (rect.top + y < 0 || rect.top + y > window.innerHeight) continue;  // must be clickable where it is
    const info = deck.pickObject({x, y, radius: 0, layerIds: [layerId]});
    if (info && info.object && info.object.id === d.id)
      return {settled: true, points: layer.props.data.length, x: rect.left + x, y: rect.top + y, id: d.id};
  }
  return {settled: true, points: layer.props.data.length, x: null, why: 'no point pickable in view'};
}
"""


def deck_settled(page, layer_id: str, *, point: bool = False, timeout_ms: int = 60_000) -> dict:
    """Wait until the map's deck has applied the page's view state, loaded every layer, holds the
    page's data for ``layer_id`` and has nothing left to draw; with ``point``, also return the
    viewport position (``x``, ``y``) of a point of that layer that the deck itself picks there."""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(_DECK_JS, [layer_id, point])
        if state.get("settled"):
            return state
        page.wait_for_timeout(100)
    raise AssertionError(f"the map did not settle within {timeout_ms} ms: {state.get('why')}")


_LAYER_JS = """
(layerId) => {""" + _FIND_DECK_JS + """
  const {deck} = findDeck();
  const layers = deck.layerManager.getLayers();
  const layer = layers.find(l => l.id === layerId);
  if (!layer) return null;
  const data = Array.from(layer.props.data);
  return {type: layer.constructor.layerName, data: data.length,
          positions: data.map(d => layer.props.getPosition(d, {})),
          sublayers: layers.filter(l => l.id.startsWith(layerId + '-')).map(l => [l.id, l.getNumInstances()])};
}
"""


def deck_layer(page, layer_id: str) -> dict | None:
    """What the map's deck made of one layer: its type, how many data, the position its accessor
    gives each datum, and its sublayers with their instance counts (None: no such layer)."""
    return page.evaluate(_LAYER_JS, layer_id)
