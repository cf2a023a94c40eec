"""Use-case services against the real stores holding the demo set: filters, radius search, linked
versions, filter values, counts, hostile input, and the split of cases a map cannot draw."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p_store.community import use_cases
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import mongo
from seed.dataset import doc_id

SEED_CASES = json.loads((Path(__file__).resolve().parent.parent / "seed" / "data" / "use_cases.json")
                        .read_text(encoding="utf-8"))
ALL_SEED = [("basic", c) for c in SEED_CASES["basic"]] + [("detailed", c) for c in SEED_CASES["detailed"]]
CITIES = {c["name"]: (c["lon"], c["lat"]) for c in use_cases.known_cities()}


@pytest.fixture(scope="module")
def demo_set(stores):
    """The demo set, seeded once for this module: these tests only read (the two that change data
    put it back), and a reseed per test would cost about a second each."""
    from seed.loader import reseed

    reseed(scale=0)
    return stores


def seed_id(slug: str) -> str:
    return doc_id("use_case", slug)


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance on MongoDB's sphere (radius 6378.1 km)."""
    (lon1, lat1), (lon2, lat2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * use_cases.EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def expected_ids(pred) -> set[str]:
    return {seed_id(c["slug"]) for kind, c in ALL_SEED if pred(kind, c)}


def ids(rows) -> set[str]:
    return {r["id"] for r in rows}


# ------------------------------------------------------------------ filters


def test_unfiltered_lists_every_demo_case_light(demo_set):
    rows = use_cases.list_use_cases()
    assert ids(rows) == expected_ids(lambda k, c: True)
    assert len(rows) == 17
    # Only what the map and the table need: the detailed case's rich sections stay in the store.
    assert all("executive_summary" not in r and "roi" not in r and "description" not in r for r in rows)
    assert [(r["industry"], r["title"]) for r in rows] == sorted((r["industry"], r["title"]) for r in rows)


@pytest.mark.parametrize("field, value, seed_field", [
    ("industry", "Food & Beverage", "industry"),
    ("industry", "Petrochemicals", "industry"),
    ("region", "Eastern Province", "region"),
    ("city", "Riyadh", "city"),
])
def test_equality_filters(demo_set, field, value, seed_field):
    rows = use_cases.list_use_cases(**{field: value})
    assert rows and ids(rows) == expected_ids(lambda k, c: c[seed_field] == value)
    assert all(r[seed_field] == value for r in rows)


def test_kind_and_technology_filters(demo_set):
    detailed = use_cases.list_use_cases(kind="detailed")
    assert ids(detailed) == expected_ids(lambda k, c: k == "detailed") and len(detailed) == 2
    assert len(use_cases.list_use_cases(kind="basic")) == 15
    opc = use_cases.list_use_cases(technology="OPC UA")
    assert ids(opc) == expected_ids(lambda k, c: "OPC UA" in c["technologies"])
    # Exact match only: a prefix or a regex is just text that no case has.
    assert use_cases.list_use_cases(technology="OPC") == []
    assert use_cases.list_use_cases(technology="OPC.*") == []


def test_filters_combine(demo_set):
    rows = use_cases.list_use_cases(industry="Electronics Manufacturing", city="Riyadh", kind="detailed")
    assert ids(rows) == {seed_id("ai-optical-inspection-smt-lines-case-study")}
    assert use_cases.list_use_cases(region="Eastern Province", city="Jeddah") == []


def test_limit_bounds_the_list(demo_set):
    assert len(use_cases.list_use_cases(limit=5)) == 5
    assert len(use_cases.list_use_cases(limit=10**9)) == 17  # capped at MAX_LIMIT, not an error


# ------------------------------------------------------------------ radius search


@pytest.mark.parametrize("city, radius_km, expected_cities", [
    ("Riyadh", 50, {"Riyadh"}),
    ("Riyadh", 120, {"Riyadh", "Al Kharj"}),
    ("Jeddah", 60, {"Jeddah"}),
    ("Jeddah", 200, {"Jeddah", "Rabigh"}),
    ("Dammam", 40, {"Dammam", "Dhahran"}),
    ("Dammam", 100, {"Dammam", "Dhahran", "Jubail"}),
])
def test_radius_search_around_cities(demo_set, city, radius_km, expected_cities):
    centre = CITIES[city]
    rows = use_cases.list_use_cases(near=(*centre, radius_km))
    assert {r["city"] for r in rows} == expected_cities
    # The same answer as a great-circle computation over the seed data.
    assert ids(rows) == expected_ids(lambda k, c: km_between(centre, tuple(c["location"]["coordinates"])) <= radius_km)
    distances = [r["distance_km"] for r in rows]
    assert distances == sorted(distances) and all(d <= radius_km for d in distances)


def test_radius_search_with_filters(demo_set):
    riyadh = CITIES["Riyadh"]
    rows = use_cases.list_use_cases(near=(*riyadh, 120), kind="detailed")
    assert ids(rows) == {seed_id("ai-optical-inspection-smt-lines-case-study")}
    rows = use_cases.list_use_cases(near=(*CITIES["Dammam"], 100), industry="Petrochemicals")
    assert {r["city"] for r in rows} == {"Jubail"}
    assert use_cases.list_use_cases(near=(*use_cases.city_location(city="Abha"), 50)) == []  # no case there
    assert len(use_cases.list_use_cases(near=(45.0, 24.0, 2000))) == 17


# ------------------------------------------------------------------ one case, linked versions


@pytest.mark.parametrize("detailed", SEED_CASES["detailed"], ids=lambda c: c["slug"])
def test_linked_versions_both_ways(demo_set, detailed):
    basic_id, detailed_id = seed_id(detailed["basic_slug"]), seed_id(detailed["slug"])
    basic_case = use_cases.get_use_case(case_id=basic_id)
    detailed_case = use_cases.get_use_case(case_id=detailed_id)
    assert use_cases.linked_version(case=basic_case)["id"] == detailed_id
    assert use_cases.linked_version(case=basic_case)["kind"] == "detailed"
    assert use_cases.linked_version(case=detailed_case)["id"] == basic_id
    assert use_cases.linked_version(case=detailed_case)["kind"] == "basic"
    # The detailed case carries every rich section; the row has lon/lat and the submitter's name.
    for section in ("executive_summary", "business_challenge", "solution", "implementation_phases", "roi",
                    "technical_architecture", "lessons_learned"):
        assert detailed_case[section]
    assert (detailed_case["lon"], detailed_case["lat"]) == tuple(detailed["location"]["coordinates"])
    assert detailed_case["submitted_by_name"]


def test_unlinked_and_broken_links(demo_set):
    plain_basic = use_cases.get_use_case(case_id=seed_id("rfid-yard-management-jazan"))
    assert use_cases.linked_version(case=plain_basic) is None
    broken = {**plain_basic, "detailed_version_id": "no-such-case"}
    assert use_cases.linked_version(case=broken) is None


@pytest.mark.parametrize("case_id", ["no-such-case", "", "x" * 65, "../etc", "a b", None, 42, {"$ne": 1},
                                     ["x"], "{\"$ne\": 1}", "' OR 1=1 --"])
def test_unknown_or_malformed_case_ids_are_not_found(demo_set, case_id):
    with pytest.raises(NotFound):
        use_cases.get_use_case(case_id=case_id)


# ------------------------------------------------------------------ filter values and counts


def test_facet_values_are_what_the_data_holds(demo_set):
    facets = use_cases.facet_values()
    assert facets["industries"] == sorted({c["industry"] for _, c in ALL_SEED})
    assert facets["regions"] == sorted({c["region"] for _, c in ALL_SEED})
    assert facets["cities"] == sorted({c["city"] for _, c in ALL_SEED})
    assert facets["technologies"] == sorted({t for _, c in ALL_SEED for t in c["technologies"]})
    # The page reads them from the unfiltered list it already holds: the same answer.
    assert use_cases.facets_from_rows(use_cases.list_use_cases()) == facets


def test_counts_by_industry(demo_set):
    counts = use_cases.counts_by_industry()
    assert sum(r["use_cases"] for r in counts) == 17
    by_name = {r["industry"]: r["use_cases"] for r in counts}
    assert by_name["Food & Beverage"] == 3
    assert [r["use_cases"] for r in counts] == sorted((r["use_cases"] for r in counts), reverse=True)
    assert sum(r["use_cases"] for r in use_cases.counts_by_industry(kind="detailed")) == 2
    with pytest.raises(InvalidInput):
        use_cases.counts_by_industry(kind={"$ne": "x"})


def test_facets_and_counts_on_empty_stores(demo_set):
    from seed.loader import reseed, reset

    reset()
    try:
        assert use_cases.facet_values() == {"industries": [], "regions": [], "cities": [], "technologies": []}
        assert use_cases.counts_by_industry() == []
        assert use_cases.list_use_cases() == []
    finally:
        reseed(scale=0)  # back to the demo set for the rest of the module


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("kwargs", [
    {"industry": "Nope"}, {"industry": {"$ne": 1}}, {"industry": ["Automotive"]}, {"industry": 3},
    {"region": "Riyadh"}, {"region": {"$gt": ""}}, {"city": "Atlantis"}, {"city": {"$regex": ".*"}},
    {"kind": "all"}, {"kind": {"$in": ["basic"]}}, {"technology": {"$regex": ".*"}}, {"technology": 7},
    {"technology": "x" * 101},
    {"near": (46.7, 24.7)}, {"near": "46.7,24.7,10"}, {"near": ("46.7", 24.7, 10)}, {"near": (46.7, 24.7, True)},
    {"near": (float("nan"), 24.7, 10)}, {"near": (46.7, float("inf"), 10)}, {"near": (181, 24.7, 10)},
    {"near": (46.7, -90.5, 10)}, {"near": (46.7, 24.7, 0)}, {"near": (46.7, 24.7, 2001)},
    {"near": {"$near": [46.7, 24.7]}}, {"limit": "5"}, {"limit": True}, {"limit": 2.5},
])
def test_hostile_filters_are_refused(demo_set, kwargs):
    with pytest.raises(InvalidInput):
        use_cases.list_use_cases(**kwargs)


_values = st.one_of(st.none(), st.text(max_size=300), st.integers(), st.floats(), st.booleans(),
                    st.lists(st.text(max_size=5), max_size=3),
                    st.dictionaries(st.sampled_from(["$ne", "$gt", "$regex", "$where", "$expr"]),
                                    st.text(max_size=5), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(industry=_values, region=_values, city=_values, technology=_values, kind=_values,
       near=st.one_of(st.none(), st.tuples(st.floats(), st.floats(), st.floats()), _values))
def test_fuzzed_filters_give_a_typed_error_or_a_correct_list(demo_set, industry, region, city, technology, kind, near):
    coll = mongo.get_db()[mongo.USE_CASES]
    before = coll.estimated_document_count()
    try:
        rows = use_cases.list_use_cases(industry=industry, region=region, city=city, technology=technology,
                                        kind=kind, near=near)
    except InvalidInput as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        # Only accepted values got through; whatever matched really matches them.
        for field, value in (("industry", industry), ("region", region), ("city", city), ("kind", kind)):
            if value:
                assert all(r[field] == value for r in rows)
        if isinstance(technology, str) and technology.strip():
            assert all(technology.strip() in r["technologies"] for r in rows)
    assert coll.estimated_document_count() == before  # never a write


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case_id=_values)
def test_fuzzed_case_ids_are_not_found(demo_set, case_id):
    with pytest.raises(NotFound):
        use_cases.get_use_case(case_id=case_id)


# ------------------------------------------------------------------ cases a map cannot draw


def test_split_mappable_sorts_out_bad_coordinates():
    good = {"id": "good", "lon": 46.7, "lat": 24.7}
    rows = [good,
            {"id": "missing", "lon": None, "lat": None},
            {"id": "half", "lon": 46.7, "lat": None},
            {"id": "nan", "lon": float("nan"), "lat": 24.7},
            {"id": "range", "lon": 200.0, "lat": 95.0},
            {"id": "text", "lon": "46.7", "lat": "24.7"},
            {"id": "bool", "lon": True, "lat": 24.7},
            {"id": "swapped", "lon": 24.7, "lat": 46.7},
            {"id": "null-island", "lon": 0.0, "lat": 0.0}]
    split = use_cases.split_mappable(rows)
    assert [r["id"] for r in split.mappable] == ["good"]
    problems = {r["id"]: r["map_problem"] for r in split.unmapped}
    assert problems == {"missing": "missing coordinates", "half": "missing coordinates",
                        "nan": "invalid coordinates", "range": "invalid coordinates", "text": "invalid coordinates",
                        "bool": "invalid coordinates", "swapped": "outside Saudi Arabia",
                        "null-island": "outside Saudi Arabia"}
    assert split.reasons == {"missing coordinates": 2, "invalid coordinates": 4, "outside Saudi Arabia": 2}


def test_stored_cases_with_bad_coordinates_are_listed_but_not_mappable(demo_set):
    coll = mongo.get_db()[mongo.USE_CASES]
    base = {"kind": "basic", "title": "Bad data", "company": "Test Co.", "industry": "Automotive",
            "city": "Riyadh", "region": "Riyadh Region", "technologies": ["PLC"]}
    coll.insert_many([
        {**base, "_id": "test-no-location", "slug": "test-no-location"},
        {**base, "_id": "test-swapped", "slug": "test-swapped",
         "location": {"type": "Point", "coordinates": [24.7136, 46.6753]}},  # lat/lon swapped: Romania
    ])
    try:
        _check_bad_coordinates()
    finally:
        coll.delete_many({"_id": {"$in": ["test-no-location", "test-swapped"]}})


def _check_bad_coordinates() -> None:
    rows = use_cases.list_use_cases(city="Riyadh")
    assert {"test-no-location", "test-swapped"} <= ids(rows)
    split = use_cases.split_mappable(rows)
    assert {r["id"] for r in split.unmapped} == {"test-no-location", "test-swapped"}
    assert split.reasons == {"missing coordinates": 1, "outside Saudi Arabia": 1}
    assert len(split.mappable) == 3
    # The 2dsphere search simply does not see a case without a point.
    near = use_cases.list_use_cases(near=(*CITIES["Riyadh"], 50))
    assert "test-no-location" not in ids(near) and "test-swapped" not in ids(near)
    assert use_cases.get_use_case(case_id="test-no-location")["lon"] is None


def test_city_location():
    assert use_cases.city_location(city="Jeddah") == CITIES["Jeddah"]
    with pytest.raises(InvalidInput):
        use_cases.city_location(city="Atlantis")


def test_grid_clusters_group_by_cell_and_keep_every_point():
    pts = [{"lon": 46.1, "lat": 24.1, "industry": "A", "city": "Riyadh"},
           {"lon": 46.3, "lat": 24.4, "industry": "B", "city": "Riyadh"},
           {"lon": 46.4, "lat": 24.2, "industry": "B", "city": "Al Kharj"},
           {"lon": 50.1, "lat": 26.4, "industry": "C", "city": "Dammam"}]
    groups = use_cases.grid_clusters(pts, cell_deg=1.0)
    assert [g["count"] for g in groups] == [3, 1]
    assert groups[0]["industry"] == "B" and groups[0]["city"] == "Riyadh"
    assert groups[0]["lon"] == pytest.approx((46.1 + 46.3 + 46.4) / 3, abs=1e-4)
    assert sum(g["count"] for g in use_cases.grid_clusters(pts, cell_deg=0.1)) == 4
    assert len(use_cases.grid_clusters(pts, cell_deg=0.1)) == 4
    with pytest.raises(InvalidInput):
        use_cases.grid_clusters(pts, cell_deg=0)
