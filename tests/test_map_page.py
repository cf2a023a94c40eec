"""The use-case map page (AppTest) on the demo set: the deck's layers and one point per filtered
case, filters from widgets and from the link, the radius search, the layer switch, selection (from
the link, the chart and the table) with the details and the other version, and bad data."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from p2p_store.stores import figures, mongo
from seed.dataset import doc_id

APP = str(Path(__file__).resolve().parent.parent / "app.py")
MEMBER = "demo_sara.hassan@advanced-electronics.sa"
BASIC_AOI = doc_id("use_case", "ai-optical-inspection-smt-lines")
DETAILED_AOI = doc_id("use_case", "ai-optical-inspection-smt-lines-case-study")
PLAIN_BASIC = doc_id("use_case", "rfid-yard-management-jazan")


@pytest.fixture(scope="module")
def demo_map(stores):
    """The demo set, seeded once: these tests only read (the one that adds bad data removes it)."""
    import streamlit as st

    from seed.loader import reseed

    reseed(scale=0)
    st.cache_data.clear()
    yield stores
    st.cache_data.clear()


def open_map(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.button(key=MEMBER).click().run()
    if query:
        at.query_params.update(query)
    at.switch_page("app_pages/map.py").run()
    assert not at.exception, at.exception
    return at


def deck(at: AppTest) -> dict:
    return json.loads(at.get("deck_gl_json_chart")[0].proto.json)


def layer(at: AppTest, layer_id: str) -> dict | None:
    return next((lay for lay in deck(at)["layers"] if lay["id"] == layer_id), None)


def points(at: AppTest) -> list[dict]:
    return layer(at, "use-cases")["data"]


def table_rows(at: AppTest):
    return at.dataframe[0].value


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def send_widget_state(at: AppTest, element_id: str, value: dict) -> AppTest:
    """AppTest has no click for a deck.gl chart or a dataframe row: send the state the browser sends."""
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=element_id, string_value=json.dumps(value)))
    at._run(states)
    assert not at.exception, at.exception
    return at


def click_point(at: AppTest, point: dict) -> AppTest:
    chart = at.get("deck_gl_json_chart")[0]
    index = points(at).index(point)
    return send_widget_state(at, chart.proto.id, {"selection": {"indices": {"use-cases": [index]},
                                                                "objects": {"use-cases": [point]}}})


# ------------------------------------------------------------------ the deck


def test_map_draws_every_demo_case_over_the_outline(demo_map):
    at = open_map()
    spec = deck(at)
    types = {lay["id"]: lay["@@type"] for lay in spec["layers"]}
    assert types == {"region-outline": "GeoJsonLayer", "region-borders": "LineLayer", "use-cases": "ScatterplotLayer",
                     "city-labels": "TextLayer"}
    # outline and borders under the points, labels on top
    assert [lay["id"] for lay in spec["layers"]] == ["region-outline", "region-borders", "use-cases", "city-labels"]
    pts = points(at)
    assert len(pts) == 17 and len({p["id"] for p in pts}) == 17
    # Tooltip fields are flat (pydeck reads no nested keys) and every template field is on every point.
    tooltip = json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)["html"]
    for field in ("title", "company", "industry", "city", "kind_label"):
        assert "{" + field + "}" in tooltip
        assert all(isinstance(p[field], str) and p[field] for p in pts)
    assert {p["kind_label"] for p in pts} == {"Basic", "Detailed case study"}
    # The outline works without a token or tiles: the browser loads it from the app's own static files.
    assert layer(at, "region-outline")["data"] == "app/static/region_outline.json"
    # Borders are a LineLayer of their own (the outline's stroke cost a software GPU ~1.5 s, #17).
    assert layer(at, "region-outline")["stroked"] is False
    assert layer(at, "region-borders")["data"] == "app/static/region_borders.json"
    labels = {d["name"] for d in layer(at, "city-labels")["data"]}
    assert {"Riyadh", "Jeddah", "Dammam", "Jubail", "Yanbu"} <= labels
    # Unfiltered, the view is Saudi Arabia.
    view = spec["initialViewState"]
    assert 40 < view["longitude"] < 50 and 20 < view["latitude"] < 28 and 3 <= view["zoom"] <= 6
    assert len(table_rows(at)) == 17
    assert not at.info  # no case lacks coordinates
    # No token anywhere: Streamlit's keyless theme basemap (Carto) when tiles load, the outline always.
    assert not at.get("deck_gl_json_chart")[0].proto.mapbox_token and "mapStyle" not in spec


def test_points_are_coloured_by_industry_with_a_legend(demo_map):
    at = open_map()
    colours = {}
    for p in points(at):
        colours.setdefault(p["industry"], set()).add(tuple(p["color"]))
    assert all(len(c) == 1 for c in colours.values())  # one colour per industry
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # distinct
    legend = next(m.value for m in at.markdown if "border-radius:50%" in m.value)
    for industry, (colour,) in colours.items():
        assert f"rgb{colour}" in legend and industry.replace("&", "&amp;") in legend


@pytest.mark.parametrize("mode, layer_type", [("Hexagon density", "HexagonLayer"), ("Heatmap", "HeatmapLayer")])
def test_layer_switch_from_the_link(demo_map, mode, layer_type):
    at = open_map({"layer": mode})
    types = [lay["@@type"] for lay in deck(at)["layers"]]
    assert layer_type in types
    assert len(points(at)) == 17  # points stay on top, clickable
    density = next(lay for lay in deck(at)["layers"] if lay["@@type"] == layer_type)
    # Positions only, the datum itself as the accessor: not the points' tooltip records a second time.
    assert density["getPosition"] == "@@=-"
    assert sorted(density["data"]) == sorted([p["lon"], p["lat"]] for p in points(at))


# ------------------------------------------------------------------ filters


def test_filters_from_widgets(demo_map):
    at = open_map()
    at.selectbox(key="industry").select("Food & Beverage").run()
    assert {p["industry"] for p in points(at)} == {"Food & Beverage"} and len(points(at)) == 3
    assert len(table_rows(at)) == 3
    at.selectbox(key="city").select("Jeddah").run()
    assert [p["city"] for p in points(at)] == ["Jeddah"]
    # A filtered view is fitted to its points (one point: zoomed in around Jeddah).
    view = deck(at)["initialViewState"]
    assert abs(view["longitude"] - 39.245) < 0.01 and abs(view["latitude"] - 21.352) < 0.01 and view["zoom"] >= 7
    at.selectbox(key="industry").select("All").run()
    at.selectbox(key="city").select("All").run()
    at.selectbox(key="kind").select("Detailed").run()
    assert {p["kind_label"] for p in points(at)} == {"Detailed case study"} and len(points(at)) == 2
    at.selectbox(key="kind").select("All").run()
    at.selectbox(key="tech").select("OPC UA").run()
    assert len(points(at)) == 5
    assert not at.exception


def test_region_narrows_the_city_choices(demo_map):
    at = open_map()
    at.selectbox(key="city").select("Jeddah").run()
    at.selectbox(key="region").select("Eastern Province").run()
    assert set(at.selectbox(key="city").options) == {"All", "Dammam", "Dhahran", "Jubail"}
    assert at.selectbox(key="city").value == "All"  # Jeddah is not in the Eastern Province
    assert {p["city"] for p in points(at)} == {"Dammam", "Dhahran", "Jubail"}


def test_filters_from_the_link(demo_map):
    at = open_map({"region": "Eastern Province", "kind": "Basic"})
    assert at.selectbox(key="region").value == "Eastern Province"
    assert {p["city"] for p in points(at)} == {"Dammam", "Dhahran", "Jubail"}
    assert {p["kind_label"] for p in points(at)} == {"Basic"}
    assert len(table_rows(at)) == len(points(at)) == 3


@pytest.mark.parametrize("query", [
    {"industry": '{"$ne": 1}', "km": "abc", "near": "<script>alert(1)</script>", "layer": "Nope"},
    {"city": "Atlantis", "kind": "all", "km": "-5", "tech": ".*"},
    {"near": "point", "lon": "999", "lat": "nan", "km": "1e9"},
    {"case": '{"$ne": 1}'},
    {"case": "x" * 5000},
])
def test_hostile_links_change_nothing(demo_map, query):
    at = open_map(query)
    assert not at.exception
    if "case" in query:
        assert [e.value for e in at.error] == ["No such use case."]
    assert len(points(at)) == 17


# ------------------------------------------------------------------ radius search


@pytest.mark.parametrize("city, km, expected", [
    ("Riyadh", 50, {"Riyadh"}), ("Riyadh", 120, {"Riyadh", "Al Kharj"}),
    ("Jeddah", 200, {"Jeddah", "Rabigh"}), ("Dammam", 100, {"Dammam", "Dhahran", "Jubail"}),
])
def test_radius_search_from_widgets(demo_map, city, km, expected):
    at = open_map()
    at.selectbox(key="near").select(city).run()
    at.number_input(key="km").set_value(km).run()
    assert {p["city"] for p in points(at)} == expected
    table = table_rows(at)
    assert set(table["City"]) == expected
    assert list(table["Distance (km)"]) == sorted(table["Distance (km)"]) and table["Distance (km)"].max() <= km
    assert any(f"within {km} km of {city}" in h.value for h in at.subheader)


def test_radius_search_from_the_link_and_around_a_point(demo_map):
    at = open_map({"near": "Jeddah", "km": "60"})
    assert {p["city"] for p in points(at)} == {"Jeddah"}
    at = open_map()
    at.selectbox(key="near").select("point").run()
    at.number_input(key="lon").set_value(50.0).run()
    at.number_input(key="lat").set_value(26.5).run()
    at.number_input(key="km").set_value(40).run()
    assert {p["city"] for p in points(at)} == {"Dammam", "Dhahran"}


def test_radius_search_with_no_result_still_draws_the_map(demo_map):
    at = open_map({"near": "Abha", "km": "30"})
    assert points(at) == []
    assert layer(at, "region-outline")["data"] == "app/static/region_outline.json"
    assert any("No use cases match" in i.value for i in at.info)


# ------------------------------------------------------------------ selection and details


def test_case_from_the_link_shows_details_and_opens_the_detailed_version(demo_map):
    at = open_map({"case": BASIC_AOI})
    page = texts(at)
    assert "AI\\-Assisted Optical Inspection on SMT Lines" in page
    assert "Advanced Electronics Co" in page and "Computer Vision" in page
    assert layer(at, "selected-case")["data"] == [{"lon": 46.8521, "lat": 24.6012}]
    assert not at.tabs  # a basic case has no case-study sections
    at.button(key="open_other_version").click().run()
    assert at.query_params["case"] == DETAILED_AOI
    assert "Cutting AOI False Calls by 71%" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Investment"] == "SAR 960,000" and metrics["Payback"] == "11 months"
    assert [t.label for t in at.tabs] == ["Business challenge", "Solution", "Implementation",
                                          "Technical architecture", "Lessons learned"]
    assert len(at.expander) >= 3  # implementation phases
    assert at.button(key="open_other_version").label == "Open the basic version"
    at.button(key="open_other_version").click().run()
    assert at.query_params["case"] == BASIC_AOI
    at.button(key="close_case").click().run()
    assert "case" not in at.query_params and not [b for b in at.button if b.key == "close_case"]
    assert layer(at, "selected-case") is None


def test_basic_case_without_a_detailed_version_has_no_link(demo_map):
    at = open_map({"case": PLAIN_BASIC})
    assert "RFID" in texts(at)
    assert not [b for b in at.button if b.key == "open_other_version"]


def test_clicking_a_point_opens_it(demo_map):
    at = open_map()
    point = next(p for p in points(at) if p["id"] == BASIC_AOI)
    click_point(at, point)
    assert at.query_params["case"] == BASIC_AOI
    assert at.button(key="open_other_version").label == "Read the detailed case study"
    # The chart keeps its selection; following the link must not be undone by it on the next run.
    at.button(key="open_other_version").click().run()
    assert at.query_params["case"] == DETAILED_AOI
    at.run()
    assert at.query_params["case"] == DETAILED_AOI


def test_clicking_a_table_row_opens_it(demo_map):
    at = open_map()
    frame = at.dataframe[0]
    index = list(frame.value["id"]).index(PLAIN_BASIC)
    send_widget_state(at, frame.proto.id, {"selection": {"rows": [index], "columns": [], "cells": []}})
    assert at.query_params["case"] == PLAIN_BASIC


# ------------------------------------------------------------------ bad data never breaks the map


def test_cases_without_usable_coordinates_are_left_off_and_counted(demo_map):
    import streamlit as st

    coll = mongo.get_db()[mongo.USE_CASES]
    base = {"kind": "basic", "title": "Case with bad data", "company": "Test Co.", "industry": "Automotive",
            "city": "Riyadh", "region": "Riyadh Region", "technologies": ["PLC"]}
    coll.insert_many([{**base, "_id": "test-no-location", "slug": "test-no-location"},
                      {**base, "_id": "test-swapped", "slug": "test-swapped",
                       "location": {"type": "Point", "coordinates": [24.7136, 46.6753]}}])
    st.cache_data.clear()
    figures.invalidate()  # written behind the app's back: the unfiltered view is a cached figure (#17)
    try:
        at = open_map()
        assert len(points(at)) == 17
        notice = " ".join(i.value for i in at.info)
        assert "2 of 19 matching cases are not on the map" in notice
        assert "1 missing coordinates" in notice and "1 outside Saudi Arabia" in notice
        table = table_rows(at)
        assert len(table) == 19 and int((~table["On map"]).sum()) == 2
        # The view stays on Saudi Arabia (the swapped point is not pulling it to Europe).
        at.selectbox(key="city").select("Riyadh").run()
        view = deck(at)["initialViewState"]
        assert 46 < view["longitude"] < 48 and 24 < view["latitude"] < 25.5
        at = open_map({"case": "test-no-location"})
        assert "no coordinates" in texts(at) and layer(at, "selected-case") is None
    finally:
        coll.delete_many({"_id": {"$in": ["test-no-location", "test-swapped"]}})
        st.cache_data.clear()
        figures.invalidate()


# ------------------------------------------------------------------ made for demos (#17)


def test_radius_search_draws_its_circle_and_fits_it(demo_map):
    at = open_map({"near": "Riyadh", "km": "120"})
    circle = layer(at, "near-circle")
    from p2p_store.community import use_cases

    lon, lat = use_cases.city_location(city="Riyadh")
    assert circle["data"] == [{"lon": lon, "lat": lat}]
    assert circle["getRadius"] == 120_000 and circle["radiusUnits"] == "meters"
    ids = [lay["id"] for lay in deck(at)["layers"]]
    assert ids.index("region-borders") < ids.index("near-circle") < ids.index("use-cases")  # under the points
    assert layer(open_map(), "near-circle") is None


def test_clusters_count_every_mapped_case_once(demo_map):
    at = open_map({"layer": "Clusters"})
    groups = layer(at, "use-case-clusters")["data"]
    singles = points(at)
    assert sum(g["count"] for g in groups) + len(singles) == 17
    assert all(g["count"] > 1 and g["label"] == str(g["count"]) for g in groups)
    counts = layer(at, "cluster-counts")["data"]
    assert [c["label"] for c in counts] == [g["label"] for g in groups]


def test_tooltips_open_away_from_the_edge_they_are_near(demo_map):
    at = open_map()
    view = deck(at)["initialViewState"]
    for p in points(at):
        assert p["tip_x"] == ("-100%" if p["lon"] > view["longitude"] else "0%")
        assert p["tip_y"] == ("-100%" if p["lat"] < view["latitude"] else "0%")
    tooltip = json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)["html"]
    assert "translate({tip_x},{tip_y})" in tooltip


def test_time_slider_narrows_map_and_table(demo_map):
    at = open_map()
    slider = next(s for s in at.slider if s.key.startswith("published_"))
    lo, hi = slider.value
    assert lo < hi
    middle = lo + (hi - lo) / 2
    slider.set_value((lo, middle)).run()
    assert not at.exception
    shown = points(at)
    assert 0 < len(shown) < 17
    assert all(p["published"] <= middle.isoformat() for p in shown)
    assert len(table_rows(at)) < 17


def test_the_served_outline_is_the_simplified_source_and_static_serving_is_on():
    """``static/region_outline.json`` and ``static/region_borders.json`` are what
    scripts/build_outlines.py makes from seed/geo (a drifted copy fails here), Saudi Arabia and its
    neighbours are in it, every border edge is a segment of it, and the app serves static files."""
    import tomllib

    from p2p_store.community.geometry import map_borders_json, map_outline_json

    root = Path(__file__).resolve().parent.parent
    served = (root / "static" / "region_outline.json").read_text(encoding="utf-8")
    source = (root / "seed" / "geo" / "region_outline.geojson").read_text(encoding="utf-8")
    assert served == map_outline_json(source), "run: python3 scripts/build_outlines.py -"
    borders = (root / "static" / "region_borders.json").read_text(encoding="utf-8")
    assert borders == map_borders_json(served), "run: python3 scripts/build_outlines.py -"
    segments = json.loads(borders)
    edges = {(tuple(a), tuple(b)) for f in json.loads(served)["features"] for poly in f["geometry"]["coordinates"]
             for ring in poly for a, b in itertools.pairwise(ring) if a != b}
    drawn = {(tuple(s["s"]), tuple(s["t"])) for s in segments}
    assert all(e in drawn or e[::-1] in drawn for e in edges)  # every edge drawn ...
    assert len(segments) == len(drawn) and not any((t, s) in drawn for s, t in drawn)  # ... once
    features = json.loads(served)["features"]
    assert [f["properties"]["name"] for f in features if f["properties"]["is_saudi"]] == ["Saudi Arabia"]
    assert len(features) > 10 and len(served) < 150_000
    config = tomllib.loads((root / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["enableStaticServing"] is True
