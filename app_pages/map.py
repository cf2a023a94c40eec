"""Use-case map (issue 6): every use case across Saudi Arabia on a pydeck map that works without a
token or internet (country outlines shipped in ``seed/geo``), filters and a "near" search kept in
the URL, the same cases in a table, and a click (or ``?case=<id>``) for the details with a link to
the other version (basic <-> detailed)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pyarrow as pa
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize
from pydeck.types import String

from app_pages import open_notebook, shell, url_params
from app_pages.widgets import h, md
from p2p_store.community import stats, use_cases

me = shell.page_guard(stores=("postgresql", "mongodb"))

# The outline and its borders are loaded by the browser from Streamlit's static files
# (server.enableStaticServing) and cached there: a rerun, a filter or a layer switch resends only the
# points, never 350 kB of outline (#17). The borders are line segments drawn by a LineLayer, not the
# outline's stroke: on a software GPU the stroke's path shader cost the first visit ~1.5 s
# (docs/benchmarks.md). Both files are made by scripts/build_outlines.py; tests/test_map_page.py checks
# they are current.
OUTLINE_URL = "app/static/region_outline.json"
BORDERS_URL = "app/static/region_borders.json"
MAP_HEIGHT = 560  # px
MAP_WIDTH_GUESS = 400  # px: a phone-width map column (#17), so the whole country fits at 400 px as at 1400 px
POINTS, SELECTED, OUTLINE, BORDERS, LABELS = "use-cases", "selected-case", "region-outline", "region-borders", \
    "city-labels"
DENSITY = {"clusters": "Clusters", "points": "Points", "hexagons": "Hexagon density", "heatmap": "Heatmap"}
NEAR_CIRCLE, CLUSTERS, CLUSTER_COUNTS = "near-circle", "use-case-clusters", "cluster-counts"
CLUSTER_FROM = 300  # mapped cases from which the map opens on clusters rather than single points
CLUSTER_CELL_PX = 64  # grid cell of a cluster at the initial zoom (a circle stays inside its cell)
KIND_LABEL = {"basic": "Basic", "detailed": "Detailed case study"}
# Main industrial cities get a label; the others sit too close to a labelled one (Dhahran, Al Khobar,
# Ras Tanura by Dammam; Makkah by Jeddah).
LABELLED = ("Riyadh", "Jeddah", "Dammam", "Jubail", "Yanbu", "Rabigh", "Madinah", "Tabuk", "Hail", "Buraydah",
            "Abha", "Jazan", "Al Kharj", "Sudair")
# One colour per industry (Tableau 10 plus two), the same on the map and in the legend.
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (23, 190, 207), (188, 189, 34), (127, 127, 127), (57, 59, 121), (173, 73, 74)]
ANY = "All"
NEAR_LABEL = {"anywhere": "Anywhere", "point": "A point (lon/lat)…"}
URL = "query-params"  # bind= value: the widget's key is its query parameter
# pydeck turns every string argument into a JS accessor expression; these are plain strings.
PIXELS = String("pixels")


# ------------------------------------------------------------------ cached reads and static data


@st.cache_data(ttl=60, show_spinner=False)
def data_epoch() -> float:
    """Changes when st.cache_data is cleared (shell.refresh_after_write after a reseed or any write)
    or after a minute: the key that ties the cache_resource views below to fresh data."""
    return time.time()


@st.cache_resource(ttl=120, max_entries=4, show_spinner=False)
def load_facets(epoch: float) -> dict[str, list[str]]:
    """The filters' choices. The unfiltered view holds every case already (and is what most visits
    show first): read them from it rather than scanning the collection a second time."""
    everything = load_view(epoch, None, None, None, None, None, None)
    if everything["capped"]:
        return stats.use_case_facets().value  # the figure cache (#17): no second scan on a page run
    return use_cases.facets_from_rows(everything["rows"])


# cache_resource, not cache_data: at scale 20 a view is 2,000+ rows, and cache_data would unpickle
# a copy on every rerun (~30-50 ms). The page only reads these objects, never changes them.
@st.cache_resource(ttl=120, max_entries=32, show_spinner=False)
def load_view(epoch: float, industry: str | None, region: str | None, city: str | None, technology: str | None,
              kind: str | None, near: tuple[float, float, float] | None) -> dict[str, Any]:
    """Filtered cases, split into what the map draws and what it cannot, with the map's points and
    the table's frame. The unfiltered view (what most visits show first; 5,000 cases at scale 100,
    ~0.8 s to read and shape) is kept by the figure cache, refreshed in the background (#17)."""
    filters = (industry, region, city, technology, kind, near)
    if all(f is None for f in filters):
        return stats.FIGURES.get("map_view_all", lambda: build_view(use_cases.list_use_cases()),
                                 stats.USE_CASES).value
    return build_view(use_cases.list_use_cases(industry=industry, region=region, city=city, technology=technology,
                                               kind=kind, near=near), near=near)


def build_view(rows: list[dict[str, Any]], *, near: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """The map's points, the legend's counts and the table (Arrow) of these cases."""
    split = use_cases.split_mappable(rows)
    on_map = {r["id"] for r in split.mappable}
    # Straight to Arrow, column by column: st.dataframe would convert a pandas frame on every rerun.
    columns: dict[str, list[Any]] = {
        "id": [r["id"] for r in rows], "Title": [r["title"] for r in rows],
        "Company": [r["company"] for r in rows], "Industry": [r["industry"] for r in rows],
        "City": [r["city"] for r in rows], "Region": [r["region"] for r in rows],
        "Version": [KIND_LABEL.get(r["kind"], r["kind"]) for r in rows],
        "Technologies": [", ".join(r["technologies"]) for r in rows]}
    if near:
        columns["Distance (km)"] = [r.get("distance_km") for r in rows]
    columns["On map"] = [r["id"] in on_map for r in rows]
    industries: dict[str, int] = {}
    for r in split.mappable:
        industries[r["industry"]] = industries.get(r["industry"], 0) + 1
    # Drawn in id order (uuid: a shuffle that stays put), detailed cases on top: in industry order the
    # last industry's colour would cover every crowded city.
    points = sorted((map_point(r) for r in split.mappable), key=lambda p: (p["kind_label"] != "Basic", p["id"]))
    return {"rows": rows, "points": points, "unmapped": split.reasons,
            "industries": industries, "capped": len(rows) >= use_cases.MAX_LIMIT,
            "table": pa.table(columns) if rows else None}


@st.cache_data(ttl=60, max_entries=128, show_spinner=False)
def load_case(case_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    case = use_cases.get_use_case(case_id=case_id)
    return case, use_cases.linked_version(case=case)


@st.cache_resource(show_spinner=False)
def city_labels() -> list[dict[str, Any]]:
    return [{"name": c["name"], "lon": c["lon"], "lat": c["lat"]}
            for c in use_cases.known_cities() if c["name"] in LABELLED]


# ------------------------------------------------------------------ presentation helpers


def industry_color(industry: str) -> tuple[int, int, int]:
    known = use_cases.known_industries()
    if industry in known:
        return PALETTE[known.index(industry) % len(PALETTE)]
    return PALETTE[sum(map(ord, industry)) % len(PALETTE)]  # stable for an industry outside the list


def map_point(row: dict[str, Any]) -> dict[str, Any]:
    """A flat record for the map: pydeck's tooltip reads top-level keys only (Streamlit HTML-escapes
    the values it puts into the tooltip template)."""
    created = row.get("created_at")
    return {"id": row["id"], "lon": row["lon"], "lat": row["lat"], "color": list(industry_color(row["industry"])),
            "title": row["title"], "company": row["company"], "industry": row["industry"], "city": row["city"],
            "kind_label": KIND_LABEL.get(row["kind"], row["kind"]),
            "published": created.strftime("%Y-%m-%d") if created else ""}


def fitted_view(points: list[dict[str, Any]], *, fit: bool,
                near: tuple[float, float, float] | None = None) -> pdk.ViewState:
    """The initial view: Saudi Arabia, or (``fit``) the bounding box of the points (and of the near
    search's circle, so it shows whole)."""
    if fit and (points or near):
        lons, lats = [p["lon"] for p in points], [p["lat"] for p in points]
        if near:
            dlat = near[2] / 111.2
            dlon = dlat / max(math.cos(math.radians(near[1])), 0.1)
            lons += [near[0] - dlon, near[0] + dlon]
            lats += [near[1] - dlat, near[1] + dlat]
        box, pad_lon, pad_lat = (min(lons), min(lats), max(lons), max(lats)), 1.6, 1.4  # room for labels
    else:
        box, pad_lon, pad_lat = use_cases.SAUDI_BOUNDS, 1.05, 1.05  # the bounds have their own margin
    lon, lat = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    span_lon, span_lat = max(box[2] - box[0], 0.15) * pad_lon, max(box[3] - box[1], 0.15) * pad_lat
    # deck.gl's Web Mercator: 512 px span 360° of longitude at zoom 0; a degree of latitude is
    # 1/cos(lat) times longer on screen.
    zoom_lon = math.log2(MAP_WIDTH_GUESS * 360 / (512 * span_lon))
    zoom_lat = math.log2(MAP_HEIGHT * 360 * math.cos(math.radians(lat)) / (512 * span_lat))
    zoom = min(max(min(zoom_lon, zoom_lat), 3.0), 7.0)  # at most ~city scale: keep the coast in view
    return pdk.ViewState(longitude=round(lon, 4), latitude=round(lat, 4), zoom=round(zoom, 2), pitch=0, bearing=0)


# The tooltip box is drawn by the inner div, shifted by the point's ``tip_x`` / ``tip_y`` ("0%" or
# "-100%"): a point in the east or south of the view shows its tooltip west or north of the pointer,
# so it stays inside the map (deck.gl places the outer div at the pointer; #17).
_TIP_BOX = ("transform:translate({tip_x},{tip_y});background:#1f2430;color:white;padding:6px 9px;"
            "border-radius:4px;max-width:260px;box-shadow:0 1px 4px rgba(0,0,0,.35);white-space:normal")
TOOLTIP = {"html": f'<div style="{_TIP_BOX}"><b>{{title}}</b><br/>{{company}}<br/>{{industry}} · {{city}}<br/>'
                   '<i>{kind_label}</i></div>',
           "style": {"backgroundColor": "transparent", "padding": "0", "fontSize": "12px", "color": "white"}}


def hexagon_radius_m(view: pdk.ViewState) -> int:
    """Hexagons about 14 px across at the initial zoom (deck.gl: 78,271.5 m per px at zoom 0 on the
    equator, shrinking with cos(latitude))."""
    metres_per_px = 78_271.5 * math.cos(math.radians(view.latitude)) / 2 ** view.zoom
    return max(int(metres_per_px * 14), 500)


class CompactDeck(pdk.Deck):
    """pydeck's ``to_json`` pretty-prints with the pure-Python encoder (~160 ms for the outline
    alone); compact JSON goes through the C encoder. Same spec."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


class PrebuiltDeck(pdk.Deck):
    """What st.pydeck_chart reads from a deck (its JSON and its tooltip), with the JSON made before."""

    def __init__(self, spec: str) -> None:
        super().__init__(layers=[], tooltip=TOOLTIP)
        self.spec = spec

    def to_json(self) -> str:
        return self.spec


def in_period(points: list[dict[str, Any]], period: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Points published within ``period`` (ISO dates, inclusive); all of them when None."""
    if period is None:
        return points
    return [p for p in points if p["published"] and period[0] <= p["published"] <= period[1]]


def with_tooltips(points: list[dict[str, Any]], view: pdk.ViewState) -> list[dict[str, Any]]:
    """Copies of the points with their tooltip text and side (see TOOLTIP)."""
    return [{**p, "tip_x": "-100%" if p["lon"] > view.longitude else "0%",
             "tip_y": "-100%" if p["lat"] < view.latitude else "0%"} for p in points]


@st.cache_resource(ttl=120, max_entries=16, show_spinner=False)
def deck_spec(view_key: tuple[Any, ...], mode: str, ring: tuple[float, float] | None, fit: bool,
              period: tuple[str, str] | None = None) -> str:
    """The deck's JSON for one view: with 2,000+ points it is ~600 kB, serialised once per view,
    layer mode and period instead of on every rerun."""
    points = in_period(load_view(*view_key)["points"], period)
    near = view_key[-1]
    view = fitted_view(points, fit=fit, near=near)
    return build_deck(with_tooltips(points, view), mode=mode, view=view, ring=ring, near=near).to_json()


def build_deck(points: list[dict[str, Any]], *, mode: str, view: pdk.ViewState,
               ring: tuple[float, float] | None, near: tuple[float, float, float] | None = None) -> pdk.Deck:
    """Outline under everything, then the near search's circle, density (hexagons/heatmap) or
    clusters, the points, the ring around the open case, and the city labels on top."""
    layers = [pdk.Layer(
        "GeoJsonLayer", id=OUTLINE, data=OUTLINE_URL, stroked=False, filled=True, pickable=False,
        # Translucent, so a Carto basemap (when tiles can load) still shows roads through it.
        get_fill_color="properties.is_saudi ? [236, 220, 180, 200] : [214, 216, 220, 170]"), pdk.Layer(
        "LineLayer", id=BORDERS, data=BORDERS_URL, get_source_position="s", get_target_position="t",
        get_color=[110, 110, 110, 220], get_width=1, width_units=String("pixels"), pickable=False)]
    if near is not None:  # the radius search drawn as what it is: a circle around its centre
        layers.append(pdk.Layer(
            "ScatterplotLayer", id=NEAR_CIRCLE, data=[{"lon": near[0], "lat": near[1]}], get_position=["lon", "lat"],
            get_radius=near[2] * 1000, radius_units=String("meters"), filled=True, stroked=True,
            get_fill_color=[15, 118, 110, 28], get_line_color=[15, 118, 110, 220], line_width_units=PIXELS,
            get_line_width=2, pickable=False))
    if mode == "clusters":
        # Grid clusters at the initial zoom (#17): cells of CLUSTER_CELL_PX pixels; a cell with one case
        # stays a clickable point below. The count is written on each cluster.
        cell = CLUSTER_CELL_PX * 360 / (512 * 2 ** view.zoom)
        groups = [dict(g, title=f"{g['count']:,} use cases", company=f"around {g['city']}",
                       industry=f"mostly {g['industry']}", kind_label="zoom in, or filter by city",
                       label=f"{g['count']:,}", color=list(industry_color(g["industry"])),
                       radius=min(7 + 3 * math.sqrt(g["count"]), CLUSTER_CELL_PX // 2 - 4),
                       tip_x="-100%" if g["lon"] > view.longitude else "0%",
                       tip_y="-100%" if g["lat"] < view.latitude else "0%")
                  for g in use_cases.grid_clusters(points, cell_deg=cell) if g["count"] > 1]
        layers.append(pdk.Layer(
            "ScatterplotLayer", id=CLUSTERS, data=groups, get_position=["lon", "lat"], get_fill_color="color",
            get_line_color=[255, 255, 255], stroked=True, radius_units=PIXELS, get_radius="radius",
            line_width_units=PIXELS, get_line_width=2, pickable=True, opacity=0.85))
        layers.append(pdk.Layer(
            "TextLayer", id=CLUSTER_COUNTS, data=groups, get_position=["lon", "lat"], get_text="label", get_size=12,
            get_color=[255, 255, 255, 255], font_weight=700, pickable=False, outline_width=2,
            outline_color=[0, 0, 0, 160], font_settings={"sdf": True},
            font_family=String("'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif")))
        per_cell: dict[tuple[int, int], int] = {}
        for p in points:
            key = (math.floor(p["lon"] / cell), math.floor(p["lat"] / cell))
            per_cell[key] = per_cell.get(key, 0) + 1
        points = [p for p in points if per_cell[(math.floor(p["lon"] / cell), math.floor(p["lat"] / cell))] == 1]
    # The density layers get positions only (``-``: the datum itself), not the points' tooltip records
    # a second time: the heatmap deck at scale 20 was 1.1 MB, half of it that copy (#17).
    positions = [[p["lon"], p["lat"]] for p in points] if mode in ("hexagons", "heatmap") else []
    if mode == "hexagons":
        layers.append(pdk.Layer(
            "HexagonLayer", id="use-case-density", data=positions, get_position="-",
            radius=hexagon_radius_m(view), coverage=0.92, extruded=False, opacity=0.7, pickable=False,
            # ColorBrewer OrRd without its palest steps, which vanish on the sand fill.
            color_range=[[253, 212, 158], [253, 187, 132], [252, 141, 89], [239, 101, 72], [215, 48, 31],
                         [153, 0, 0]]))
    elif mode == "heatmap":
        layers.append(pdk.Layer(
            "HeatmapLayer", id="use-case-heat", data=positions, get_position="-", get_weight=1,
            radius_pixels=45, intensity=1.2, threshold=0.05, opacity=0.75, pickable=False,
            # deck.gl's default 2048×2048 weights texture cost 2.5 s of software-GPU time per redraw in
            # headless Chromium (layer switch 2.7 → 1.3 s, #17); 512 looks the same at this map's size.
            weights_texture_size=512))
    dense = mode in ("hexagons", "heatmap")
    layers.append(pdk.Layer(
        "ScatterplotLayer", id=POINTS, data=points, get_position=["lon", "lat"], get_fill_color="color",
        get_line_color=[255, 255, 255], stroked=True, radius_units=PIXELS, get_radius=3 if dense else 6,
        line_width_units=PIXELS, get_line_width=1, pickable=True, auto_highlight=True,
        highlight_color=[255, 255, 255, 120], opacity=0.7 if dense else 0.95))
    if ring is not None:
        layers.append(pdk.Layer(
            "ScatterplotLayer", id=SELECTED, data=[{"lon": ring[0], "lat": ring[1]}],
            get_position=["lon", "lat"], filled=False, stroked=True, radius_units=PIXELS, get_radius=12,
            line_width_units=PIXELS, get_line_width=3, get_line_color=[20, 20, 20, 230], pickable=False))
    labels = [dict(c, offset=[9, -1]) for c in city_labels()]
    if mode == "clusters":  # a city's name beside its cluster's circle, not under it
        for label in labels:
            near_groups = [g for g in groups if abs(g["lon"] - label["lon"]) < cell and abs(g["lat"] - label["lat"]) < cell]
            if near_groups:
                label["offset"] = [int(max(g["radius"] for g in near_groups)) + 5, -1]
    layers.append(pdk.Layer(
        "TextLayer", id=LABELS, data=labels, get_position=["lon", "lat"], get_text="name", get_size=13,
        get_color=[45, 45, 45, 255], get_text_anchor=String("start"), get_alignment_baseline=String("center"),
        get_pixel_offset="offset", font_weight=600, pickable=False,
        font_family=String("'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif"),
        font_settings={"sdf": True}, outline_width=3, outline_color=[255, 255, 255, 230]))
    return CompactDeck(layers=layers, initial_view_state=view, map_style=None, tooltip=TOOLTIP)


def legend(counts: dict[str, int]) -> None:
    """Industry chips in the points' colours, with how many mapped cases each has."""
    chips = [f'<span style="display:inline-flex;align-items:center;margin:0 14px 6px 0;font-size:0.85rem">'
             f'<span style="width:12px;height:12px;border-radius:50%;margin-right:6px;display:inline-block;'
             f'background:rgb{industry_color(name)};border:1px solid #fff;box-shadow:0 0 0 1px #bbb">'
             f'</span>{h(name)} ({n})</span>' for name, n in sorted(counts.items())]
    if chips:
        st.markdown("".join(chips), unsafe_allow_html=True)


# ------------------------------------------------------------------ filters, kept in the URL
# bind="query-params": each filter's key is its query parameter; values not among the options (or
# out of range) in a hand-edited link are ignored by Streamlit and dropped from the URL.

epoch = data_epoch()
facets = shell.call(load_facets, epoch)
if facets is None:
    st.stop()
cities_by_name = {c["name"]: c for c in use_cases.known_cities()}

st.title("Use-case map")
st.caption("Industrial IoT use cases across Saudi Arabia. Hover a point for a summary, click it for the "
           "details. Filters and the open case are kept in the link, so a view can be shared.")

# The map first and the filters beside it (#17): at 1400 px the filters sit in the right-hand column;
# on a narrow screen Streamlit stacks the columns, so the map comes first and the filters follow in a
# panel that folds away.
map_col, side = st.columns([2, 1], gap="medium")
filter_panel = side.expander("Filters", expanded=True, icon=":material/filter_list:")
with filter_panel:
    f1, f2 = st.columns(2)
    f3, f4 = st.columns(2)
    f5, n1 = st.columns(2)
    n2, _ = st.columns(2)
    n3, n4 = st.columns(2)
industry = f1.selectbox("Industry", [ANY, *facets["industries"]], key="industry", bind=URL)
region = f2.selectbox("Region", [ANY, *facets["regions"]], key="region", bind=URL)
city_options = [ANY, *[c for c in facets["cities"]
                       if region == ANY or cities_by_name.get(c, {}).get("region") == region]]
if st.session_state.get("city", ANY) not in city_options:  # the region changed under a picked city
    st.session_state["city"] = ANY
city = f3.selectbox("City", city_options, key="city", bind=URL)
technology = f4.selectbox("Technology", [ANY, *facets["technologies"]], key="tech", bind=URL)
kind = f5.selectbox("Version", [ANY, *(k.capitalize() for k in use_cases.KINDS)], key="kind", bind=URL)

url_params.numbers({"km": (use_cases.MIN_RADIUS_KM, use_cases.MAX_RADIUS_KM), "lon": (-180, 180),
                    "lat": (-90, 90)})  # before the widgets parse them (#14)
near_choice = n1.selectbox("Near", ["anywhere", *cities_by_name, "point"], key="near", bind=URL,
                           format_func=lambda c: NEAR_LABEL.get(c, c),
                           help="Only cases within the radius of a city or a point, nearest first.")
# A float widget: Streamlit turns an int widget's "-1e309" from the link into an OverflowError (#14).
radius = n2.number_input("Radius (km)", min_value=float(use_cases.MIN_RADIUS_KM),
                         max_value=float(use_cases.MAX_RADIUS_KM), value=100.0, step=25.0, format="%.0f",
                         key="km", bind=URL, disabled=near_choice == "anywhere")
near: tuple[float, float, float] | None = None
if near_choice == "point":
    lon = n3.number_input("Longitude", min_value=-180.0, max_value=180.0, value=46.6753, step=0.1,
                          format="%.4f", key="lon", bind=URL)
    lat = n4.number_input("Latitude", min_value=-90.0, max_value=90.0, value=24.7136, step=0.1,
                          format="%.4f", key="lat", bind=URL)
    near = (float(lon), float(lat), float(radius))
elif near_choice in cities_by_name:
    near = (float(cities_by_name[near_choice]["lon"]), float(cities_by_name[near_choice]["lat"]), float(radius))
everything = shell.call(load_view, epoch, None, None, None, None, None, None)
default_mode = "clusters" if everything and len(everything["points"]) >= CLUSTER_FROM else "points"
mode = map_col.segmented_control("Layer", list(DENSITY), format_func=DENSITY.get, key="layer", bind=URL,
                                 default=default_mode, required=True) or default_mode

filters = {"industry": None if industry == ANY else industry, "region": None if region == ANY else region,
           "city": None if city == ANY else city, "technology": None if technology == ANY else technology,
           "kind": None if kind == ANY else kind.lower()}
data = shell.call(load_view, epoch, *filters.values(), near)
if data is None:
    st.stop()
rows, points, table = data["rows"], data["points"], data["table"]
filtered = any(v is not None for v in filters.values()) or near is not None

# A time slider over the cases' publication dates (#17), when the matching cases have them.
period: tuple[str, str] | None = None
published = sorted(r["created_at"].date() for r in rows if r.get("created_at"))
if published and published[0] < published[-1]:
    lo, hi = published[0], published[-1]
    chosen = map_col.slider("Published", min_value=lo, max_value=hi, value=(lo, hi), format="MMM YYYY",
                            key=f"published_{lo}_{hi}", help="Only cases published in this period.")
    if tuple(chosen) != (lo, hi):
        period = (chosen[0].isoformat(), chosen[1].isoformat())
        keep = [bool(r.get("created_at")) and period[0] <= r["created_at"].date().isoformat() <= period[1]
                for r in rows]
        rows = [r for r, k in zip(rows, keep) if k]
        table = table.filter(pa.array(keep)) if table is not None else None

# ------------------------------------------------------------------ the open case: ?case=<id>


def open_case(case_id: str | None) -> None:
    if case_id:
        st.query_params["case"] = case_id
    elif "case" in st.query_params:
        del st.query_params["case"]


def take_pick(source: str, raw: object, case_id: str | None) -> None:
    """A new click on the map (or a table row) opens that case. Charts keep their selection across
    reruns, so only a change counts: a link to the other version must not be undone by a stale pick."""
    memory = f"map_last_pick_{source}"
    if st.session_state.get(memory) != raw:
        st.session_state[memory] = raw
        if case_id:
            open_case(case_id)


# Read both selections before drawing anything, so the panel and the map's ring show this click.
map_state = st.session_state.get("use_case_map") or {}
picked = ((map_state.get("selection") or {}).get("objects") or {}).get(POINTS) or []
pick_id = picked[0].get("id") if picked and isinstance(picked[0], dict) else None
take_pick("map", pick_id, pick_id if isinstance(pick_id, str) else None)
table_state = st.session_state.get("use_case_table") or {}
picked_rows = list((table_state.get("selection") or {}).get("rows") or [])
row_id = (rows[picked_rows[0]]["id"] if picked_rows and isinstance(picked_rows[0], int)
          and 0 <= picked_rows[0] < len(rows) else None)
take_pick("table", picked_rows, row_id)

selected: dict[str, Any] | None = None
linked: dict[str, Any] | None = None
case_param = st.query_params.get("case")
if case_param:
    loaded = shell.call(load_case, case_param)
    if loaded is None:
        open_case(None)
    else:
        selected, linked = loaded

# ------------------------------------------------------------------ map, legend, notices


def show_summary(case: dict[str, Any], other: dict[str, Any] | None) -> None:
    st.markdown(f"#### {md(case.get('title', ''))}")
    color = "violet" if case.get("kind") == "detailed" else "blue"
    st.markdown(f":{color}-badge[{KIND_LABEL.get(case.get('kind'), '?')}] "
                f":gray-badge[{md(case.get('industry', ''))}]")
    st.markdown(f"**{md(case.get('company', ''))}** · {md(case.get('city', ''))}, "
                f"{md(case.get('region', ''))}")
    if other:
        label = "Read the detailed case study" if other["kind"] == "detailed" else "Open the basic version"
        st.button(label, icon=":material/arrow_forward:", key="open_other_version", on_click=open_case,
                  args=(other["id"],), type="primary", help=md(other["title"]))
    if case.get("description"):
        st.markdown(md(case["description"], keep_lines=True))
    if case.get("technologies"):
        st.markdown("**Technologies**  \n" + " ".join(f":blue-badge[{md(t)}]" for t in case["technologies"]))
    if case.get("benefits"):
        st.markdown("**Benefits**\n" + "\n".join(f"- {md(b)}" for b in case["benefits"]))
    created = case.get("created_at")
    facts = {"Submitted by": case.get("submitted_by_name") or case.get("submitted_by"),
             "Status": case.get("status"),
             "Published": created.strftime("%d %b %Y") if hasattr(created, "strftime") else None,
             "Location": (f"{case['lat']:.4f}° N, {case['lon']:.4f}° E" if case.get("lon") is not None
                          else "no coordinates"),
             "Slug": case.get("slug")}
    st.caption("  \n".join(f"{k}: {md(v)}" for k, v in facts.items() if v))
    if rows and case["id"] not in {r["id"] for r in rows}:
        st.caption("This case is outside the current filters.")
    st.button("Close", icon=":material/close:", key="close_case", on_click=open_case, args=(None,))


def show_study(case: dict[str, Any]) -> None:
    """The rich sections of a detailed case, laid out for reading."""
    st.subheader("Enterprise case study", anchor=False)
    if case.get("executive_summary"):
        st.markdown(md(case["executive_summary"], keep_lines=True))
    roi = case.get("roi") if isinstance(case.get("roi"), dict) else {}
    headline = [("Investment", roi.get("investment_sar"), "SAR {:,.0f}"),
                ("Annual savings", roi.get("annual_savings_sar"), "SAR {:,.0f}"),
                ("Payback", roi.get("payback_months"), "{:g} months")]
    headline = [(label, value, fmt) for label, value, fmt in headline if isinstance(value, (int, float))]
    if headline:
        for col, (label, value, fmt) in zip(st.columns(len(headline)), headline):
            col.metric(label, fmt.format(value), border=True)
    metrics = [m for m in roi.get("metrics", []) if isinstance(m, dict)]
    for start in range(0, len(metrics), 3):
        for col, m in zip(st.columns(3), metrics[start:start + 3]):
            col.metric(md(m.get("name", "")), str(m.get("after", "")), delta=f"before: {m.get('before', '?')}",
                       delta_color="off", delta_arrow="off")
    tabs = st.tabs(["Business challenge", "Solution", "Implementation", "Technical architecture",
                    "Lessons learned"])
    challenge = case.get("business_challenge") if isinstance(case.get("business_challenge"), dict) else {}
    solution = case.get("solution") if isinstance(case.get("solution"), dict) else {}
    with tabs[0]:
        if challenge.get("summary"):
            st.markdown(md(challenge["summary"], keep_lines=True))
        if challenge.get("pain_points"):
            st.markdown("**Pain points**\n" + "\n".join(f"- {md(p)}" for p in challenge["pain_points"]))
        if challenge.get("cost_of_problem"):
            st.warning(f"**Cost of the problem.** {md(challenge['cost_of_problem'])}", icon=":material/payments:")
    with tabs[1]:
        if solution.get("overview"):
            st.markdown(md(solution["overview"], keep_lines=True))
        left, right = st.columns([3, 2])
        if solution.get("components"):
            left.markdown("**Components**\n" + "\n".join(f"- {md(p)}" for p in solution["components"]))
        if solution.get("vendors"):
            right.markdown("**Vendors and partners**\n" + "\n".join(f"- {md(p)}" for p in solution["vendors"]))
    with tabs[2]:
        phases = [p for p in case.get("implementation_phases") or [] if isinstance(p, dict)]
        weeks = sum(p["duration_weeks"] for p in phases if isinstance(p.get("duration_weeks"), (int, float)))
        if weeks:
            st.caption(f"{len(phases)} phases over {weeks:g} weeks")
        for n, phase in enumerate(phases, start=1):
            span = f" · {phase['duration_weeks']} weeks" if phase.get("duration_weeks") else ""
            with st.expander(f"{n}. {md(phase.get('phase', ''))}{span}", expanded=n == 1):
                if phase.get("activities"):
                    st.markdown("\n".join(f"- {md(a)}" for a in phase["activities"]))
                if phase.get("outcome"):
                    st.success(md(phase["outcome"]), icon=":material/flag:")
    with tabs[3]:
        architecture = case.get("technical_architecture")
        for part, text in (architecture.items() if isinstance(architecture, dict) else []):
            st.markdown(f"**{md(str(part).replace('_', ' ').capitalize())}.** {md(text)}")
    with tabs[4]:
        if case.get("lessons_learned"):
            st.markdown("\n".join(f"- {md(x)}" for x in case["lessons_learned"]))


with map_col:
    ring = (selected["lon"], selected["lat"]) if selected and selected.get("lon") is not None else None
    spec = deck_spec((epoch, *filters.values(), near), mode, ring, filtered or period is not None, period)
    st.pydeck_chart(PrebuiltDeck(spec), height=MAP_HEIGHT, on_select="rerun", selection_mode="single-object",
                    key="use_case_map", alt="Map of industrial IoT use cases in Saudi Arabia")
    legend(data["industries"])
    unmapped = sum(data["unmapped"].values())
    if unmapped:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(data["unmapped"].items()))
        st.info(f"{unmapped} of {len(rows)} matching cases are not on the map ({why}); the table lists them.",
                icon=":material/wrong_location:")
    if data["capped"]:
        st.warning(f"Showing the first {use_cases.MAX_LIMIT:,} matching cases; narrow the filters to see the rest.")
with side:
    if selected is None:
        with st.container(border=True):
            st.markdown("**Select a use case**")
            st.caption("Click a point on the map or a row in the table to read it here.")
            m1, m2 = st.columns(2)
            m1.metric("Matching", f"{len(rows):,}")
            m2.metric("Case studies", f"{sum(1 for r in rows if r['kind'] == 'detailed'):,}")
    else:
        with st.container(border=True, key="case_panel"):
            show_summary(selected, linked)
if selected is not None and selected.get("kind") == "detailed":
    with st.container(border=True, key="case_study"):
        show_study(selected)

# ------------------------------------------------------------------ the same cases as a table

where = ""
if near is not None:
    where = (f" within {radius:g} km of {md(near_choice)}" if near_choice != "point"
             else f" within {radius:g} km of {near[0]:.3f}° E, {near[1]:.3f}° N")
st.subheader(f"{len(rows):,} use case{'' if len(rows) == 1 else 's'}{where}", anchor=False)
open_notebook.map_view(filters, near)  # issue #18.3
if rows:
    st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 420),
                 column_order=[c for c in table.column_names if c != "id"], on_select="rerun",
                 selection_mode="single-row", key="use_case_table",
                 column_config={"On map": st.column_config.CheckboxColumn("On map"),
                                "Title": st.column_config.TextColumn("Title", width="large")})
else:
    st.info("No use cases match these filters. Widen them, or clear the near search.", icon=":material/search_off:")
