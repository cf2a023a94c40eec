"""Use cases (issue 3; the map of issue 6 is their main reader): filtered lists for the map and its
table, one case with its linked other version, filter values, counts per industry, and the split
between cases a map can draw and those it cannot.

Every filter is an indexed equality (``industry_title``, ``city``, ``region``, ``kind``,
``technologies``); "near" is answered by ``$geoNear`` on ``location_2dsphere``. Lists carry only
the fields the map and the table show, so 2,000+ cases stay light; the rich fields of a detailed
case are read one case at a time by :func:`get_use_case`.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from p2p_store import vocabulary
from p2p_store.accounts.directory import clean_text
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import mongo

KINDS = ("basic", "detailed")
MAX_LIMIT = 5_000  # cases in one list (scale 20 is about 2,000)
DEFAULT_LIMIT = MAX_LIMIT
MIN_RADIUS_KM, MAX_RADIUS_KM = 1, 2_000
EARTH_RADIUS_KM = 6_378.1  # the radius MongoDB's spherical geometry uses
MAX_TEXT = 100  # characters of a filter value
MAX_TIME_MS = 10_000  # every MongoDB read here is bounded by the server (#17)
# Saudi Arabia's bounding box (Natural Earth outline) with about half a degree of margin: a case
# outside it is bad data (swapped lat/lon, a typo) and would pull the map's fitted view off the country.
SAUDI_BOUNDS = (34.0, 15.8, 56.2, 32.7)  # (min lon, min lat, max lon, max lat), degrees

# What the map and the table need; never the detailed case's rich sections.
LIST_FIELDS = {"title": 1, "company": 1, "industry": 1, "city": 1, "region": 1, "kind": 1,
               "technologies": 1, "location": 1, "detailed_version_id": 1, "basic_version_id": 1,
               "created_at": 1}
_CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Near:
    """A circle on the earth: centre (degrees) and radius (km)."""

    lon: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class MapSplit:
    """Cases a map can draw, and those it must leave off (with the reason for each)."""

    mappable: list[dict[str, Any]]
    unmapped: list[dict[str, Any]]

    @property
    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.unmapped:
            counts[row["map_problem"]] = counts.get(row["map_problem"], 0) + 1
        return counts


# ------------------------------------------------------------------ vocabularies


@functools.cache
def known_cities() -> tuple[dict[str, Any], ...]:
    """The Saudi industrial cities of the data set: name, region, lon, lat (``seed/data/cities.json``)."""
    return tuple(dict(c) for c in vocabulary.cities())


@functools.cache
def known_industries() -> tuple[str, ...]:
    return vocabulary.industries()


def known_regions() -> tuple[str, ...]:
    return tuple(sorted({c["region"] for c in known_cities()}))


def city_location(*, city: str) -> tuple[float, float]:
    """``(lon, lat)`` of a known city, for a "near" search picked by city name."""
    for c in known_cities():
        if c["name"] == city:
            return float(c["lon"]), float(c["lat"])
    raise InvalidInput("Unknown city; pick one from the list.")


# ------------------------------------------------------------------ validation


def _pick(value: object, *, field: str, allowed: tuple[str, ...]) -> str | None:
    """A value picked from a list: None/"" for "any", otherwise exactly one of ``allowed``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text.")
    if value not in allowed:
        raise InvalidInput(f"Unknown {field.lower()}; pick one from the list.")
    return value


def _number(value: object, *, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{field} must be a number.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{field} must be a finite number.")
    return number


def validate_near(near: object) -> Near | None:
    """``(lon, lat, radius_km)`` checked: numbers, lon in [-180, 180], lat in [-90, 90], radius 1..2000 km."""
    if near is None:
        return None
    if isinstance(near, Near):
        near = (near.lon, near.lat, near.radius_km)
    if not isinstance(near, (tuple, list)) or len(near) != 3:
        raise InvalidInput("A near search needs a longitude, a latitude and a radius in km.")
    lon = _number(near[0], field="Longitude")
    lat = _number(near[1], field="Latitude")
    radius = _number(near[2], field="Radius")
    if not -180 <= lon <= 180:
        raise InvalidInput("Longitude must be between -180 and 180 degrees.")
    if not -90 <= lat <= 90:
        raise InvalidInput("Latitude must be between -90 and 90 degrees.")
    if not MIN_RADIUS_KM <= radius <= MAX_RADIUS_KM:
        raise InvalidInput(f"Radius must be between {MIN_RADIUS_KM} and {MAX_RADIUS_KM:,} km.")
    return Near(lon, lat, radius)


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInput("Limit must be a whole number.")
    return min(max(limit, 1), MAX_LIMIT)


def _filter(industry: object, region: object, city: object, technology: object, kind: object) -> dict[str, Any]:
    query: dict[str, Any] = {}
    picked = {
        "industry": _pick(industry, field="Industry", allowed=known_industries()),
        "region": _pick(region, field="Region", allowed=known_regions()),
        "city": _pick(city, field="City", allowed=tuple(c["name"] for c in known_cities())),
        "kind": _pick(kind, field="Kind", allowed=KINDS),
    }
    query.update({k: v for k, v in picked.items() if v is not None})
    # Technologies are an open vocabulary: any clean text, matched by equality on the multikey
    # index (never a regex, never an operator), so an unknown one is simply an empty result.
    tech = clean_text(technology, field="Technology", max_len=MAX_TEXT)
    if tech:
        query["technologies"] = tech
    return query


# ------------------------------------------------------------------ rows


def _coordinates(location: object) -> tuple[float | None, float | None]:
    """``(lon, lat)`` of a GeoJSON Point, or ``(None, None)`` when missing or malformed."""
    if not isinstance(location, dict):
        return None, None
    coords = location.get("coordinates")
    if not isinstance(coords, (list, tuple)) or len(coords) != 2:
        return None, None
    lon, lat = coords
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (lon, lat)):
        return None, None
    return float(lon), float(lat)


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    lon, lat = _coordinates(doc.get("location"))
    techs = doc.get("technologies")
    row = {"id": str(doc["_id"]), "title": doc.get("title", ""), "company": doc.get("company", ""),
           "industry": doc.get("industry", ""), "city": doc.get("city", ""), "region": doc.get("region", ""),
           "kind": doc.get("kind", ""),  # strings: the collection's $jsonSchema validator says so
           "technologies": techs if isinstance(techs, list) else [],
           "lon": lon, "lat": lat,
           "detailed_version_id": doc.get("detailed_version_id"), "basic_version_id": doc.get("basic_version_id"),
           "created_at": doc.get("created_at") if isinstance(doc.get("created_at"), datetime) else None}
    if "distance_m" in doc:
        row["distance_km"] = round(float(doc["distance_m"]) / 1000, 1)
    return row


# ------------------------------------------------------------------ queries


def list_use_cases(*, industry: str | None = None, region: str | None = None, city: str | None = None,
                   technology: str | None = None, kind: str | None = None,
                   near: tuple[float, float, float] | None = None,
                   limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Use cases matching every given filter, as light rows for the map and the table.

    ``industry``, ``region``, ``city`` and ``kind`` must be known values (None or "" for any);
    ``technology`` is matched exactly; ``near`` is ``(lon, lat, radius_km)`` and orders the rows by
    distance (each row then has ``distance_km``); otherwise rows are ordered by industry and title.
    Each row: id, title, company, industry, city, region, kind, technologies, lon, lat (None when the
    stored point is missing or malformed), detailed_version_id, basic_version_id, created_at (None
    when missing).
    Raises InvalidInput for an unknown value, a non-text value or a bad circle.
    """
    query = _filter(industry, region, city, technology, kind)
    circle = validate_near(near)
    n = _limit(limit)
    coll = mongo.get_db()[mongo.USE_CASES]
    if circle is None:
        cursor = coll.find(query, LIST_FIELDS).sort([("industry", 1), ("title", 1)]).limit(n).max_time_ms(MAX_TIME_MS)
        return [_row(d) for d in cursor]
    # $geoNear is $near as a pipeline stage: the 2dsphere index answers it, nearest first, with the
    # distance (metres, spherical) in the row; the other filters ride along as its query.
    pipeline = [
        {"$geoNear": {"near": {"type": "Point", "coordinates": [circle.lon, circle.lat]}, "key": "location",
                      "distanceField": "distance_m", "maxDistance": circle.radius_km * 1000,
                      "spherical": True, "query": query}},
        {"$limit": n},
        {"$project": {**LIST_FIELDS, "distance_m": 1}},
    ]
    return [_row(d) for d in coll.aggregate(pipeline, maxTimeMS=MAX_TIME_MS)]


def _case_id(case_id: object) -> str:
    if not isinstance(case_id, str) or not _CASE_ID.fullmatch(case_id):
        raise NotFound("No such use case.")
    return case_id


def get_use_case(*, case_id: str) -> dict[str, Any]:
    """One use case with every stored field (``_id`` as ``id``; ``lon``/``lat`` beside ``location``;
    ``submitted_by_name`` from the submitter's profile, None when there is none).

    Raises NotFound for an unknown or malformed id."""
    doc = mongo.get_db()[mongo.USE_CASES].find_one({"_id": _case_id(case_id)}, max_time_ms=MAX_TIME_MS)
    if doc is None:
        raise NotFound("No such use case.")
    case = {"id": str(doc.pop("_id")), **doc}
    case["lon"], case["lat"] = _coordinates(doc.get("location"))
    author = doc.get("submitted_by")
    profile = (mongo.get_db()[mongo.PROFILES].find_one({"_id": author}, {"full_name": 1, "company": 1},
                                                        max_time_ms=MAX_TIME_MS)
               if isinstance(author, str) else None)
    case["submitted_by_name"] = profile.get("full_name") if profile else None
    return case


def linked_version(*, case: dict[str, Any]) -> dict[str, Any] | None:
    """The other version of a case (the detailed one of a basic case, or the basic one of a detailed
    case) as ``{id, title, kind, company}``; None when there is none or the link is broken."""
    other_id = case.get("detailed_version_id") if case.get("kind") == "basic" else case.get("basic_version_id")
    if not other_id or not isinstance(other_id, str):
        return None
    doc = mongo.get_db()[mongo.USE_CASES].find_one({"_id": other_id}, {"title": 1, "kind": 1, "company": 1},
                                                    max_time_ms=MAX_TIME_MS)
    if doc is None:
        return None
    return {"id": str(doc["_id"]), "title": doc.get("title", ""), "kind": doc.get("kind", ""),
            "company": doc.get("company", "")}


def facet_values() -> dict[str, list[str]]:
    """The values present in the data for each filter (industries, regions, cities, technologies),
    sorted, from one aggregation (it reads every case: the page caches it)."""
    rows = list(mongo.get_db()[mongo.USE_CASES].aggregate([
        {"$project": {"industry": 1, "region": 1, "city": 1, "technologies": 1}},
        {"$facet": {
            "industries": [{"$group": {"_id": "$industry"}}],
            "regions": [{"$group": {"_id": "$region"}}],
            "cities": [{"$group": {"_id": "$city"}}],
            "technologies": [{"$unwind": "$technologies"}, {"$group": {"_id": "$technologies"}}],
        }},
    ], maxTimeMS=MAX_TIME_MS))
    facets = rows[0] if rows else {}
    return {name: sorted(str(r["_id"]) for r in facets.get(name, []) if isinstance(r.get("_id"), str) and r["_id"])
            for name in ("industries", "regions", "cities", "technologies")}


def facets_from_rows(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The same answer as :func:`facet_values`, from an unfiltered, uncapped :func:`list_use_cases`
    result the caller already holds (saves a second full read on a cold page)."""
    values: dict[str, set[str]] = {"industries": set(), "regions": set(), "cities": set(), "technologies": set()}
    for row in rows:
        for name, field in (("industries", "industry"), ("regions", "region"), ("cities", "city")):
            if row.get(field):
                values[name].add(row[field])
        values["technologies"].update(t for t in row.get("technologies", []) if t)
    return {name: sorted(found) for name, found in values.items()}


def counts_by_industry(*, kind: str | None = None) -> list[dict[str, Any]]:
    """``[{industry, use_cases}]``, most first (optionally only basic or only detailed cases)."""
    kind = _pick(kind, field="Kind", allowed=KINDS)
    pipeline: list[dict[str, Any]] = [{"$match": {"kind": kind}}] if kind else []
    pipeline += [{"$group": {"_id": "$industry", "use_cases": {"$sum": 1}}}, {"$sort": {"use_cases": -1, "_id": 1}}]
    return [{"industry": r["_id"], "use_cases": r["use_cases"]}
            for r in mongo.get_db()[mongo.USE_CASES].aggregate(pipeline, maxTimeMS=MAX_TIME_MS)]


# ------------------------------------------------------------------ map helpers


def split_mappable(rows: list[dict[str, Any]], *,
                   bounds: tuple[float, float, float, float] = SAUDI_BOUNDS) -> MapSplit:
    """Rows a map can draw (finite lon/lat inside ``bounds``) and the rest, each of the rest with a
    ``map_problem`` of "missing coordinates", "invalid coordinates" or "outside Saudi Arabia"."""
    min_lon, min_lat, max_lon, max_lat = bounds
    mappable, unmapped = [], []
    for row in rows:
        lon, lat = row.get("lon"), row.get("lat")
        if lon is None or lat is None:
            problem = "missing coordinates"
        elif (isinstance(lon, bool) or isinstance(lat, bool) or not isinstance(lon, (int, float))
              or not isinstance(lat, (int, float)) or not (math.isfinite(lon) and math.isfinite(lat))
              or not -180 <= lon <= 180 or not -90 <= lat <= 90):
            problem = "invalid coordinates"
        elif not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            problem = "outside Saudi Arabia"
        else:
            mappable.append(row)
            continue
        unmapped.append({**row, "map_problem": problem})
    return MapSplit(mappable, unmapped)


def grid_clusters(points: list[dict[str, Any]], *, cell_deg: float) -> list[dict[str, Any]]:
    """Points grouped on a ``cell_deg`` grid (the map's clusters at low zoom, #17): per occupied cell
    the mean position, the count, the most common industry and the city most cases are in. Each
    point needs ``lon``, ``lat``, ``industry`` and ``city``. Largest clusters first."""
    if cell_deg <= 0 or not math.isfinite(cell_deg):
        raise InvalidInput("The cluster cell must be a positive number of degrees.")
    cells: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for p in points:
        cells.setdefault((math.floor(p["lon"] / cell_deg), math.floor(p["lat"] / cell_deg)), []).append(p)
    out = []
    for members in cells.values():
        industries: dict[str, int] = {}
        cities: dict[str, int] = {}
        for p in members:
            industries[p["industry"]] = industries.get(p["industry"], 0) + 1
            cities[p["city"]] = cities.get(p["city"], 0) + 1
        out.append({"lon": round(sum(p["lon"] for p in members) / len(members), 5),
                    "lat": round(sum(p["lat"] for p in members) / len(members), 5),
                    "count": len(members), "industry": max(industries, key=lambda k: (industries[k], k)),
                    "city": max(cities, key=lambda k: (cities[k], k))})
    return sorted(out, key=lambda c: (-c["count"], c["lon"], c["lat"]))
