"""Outline geometry for the use-case map: Douglas-Peucker simplification of GeoJSON polygons, so the
page ships ~110 kB of country outlines instead of ~360 kB (#13: geometry lives in the domain)."""

from __future__ import annotations

import itertools
import json
from typing import Any

OUTLINE_TOLERANCE = 0.01  # degrees (~1 km): below a pixel up to zoom 8; cuts the outline from 360 to ~110 kB


def map_outline_json(source: str) -> str:
    """The map's outline file (``static/region_outline.json``, served by Streamlit at
    ``app/static/region_outline.json``) from the source GeoJSON's text: simplified, compact (#17)."""
    return json.dumps(simplify_outlines(json.loads(source), OUTLINE_TOLERANCE), separators=(",", ":")) + "\n"


def map_borders_json(outline: str) -> str:
    """The map's border lines (``static/region_borders.json``) from the map's outline file's text: every
    ring's edges as ``{"s": [lon, lat], "t": [lon, lat]}`` segments. An edge two rings share exactly
    (the same two points, either way round) is kept once: about one edge in seven here. A shared border
    that the simplification cut differently on each side is drawn twice, the two lines at most
    ``OUTLINE_TOLERANCE`` apart (under a pixel at the map's zooms). Drawn by a LineLayer instead of the
    outline's own stroke: on a software GPU, compiling the path shader of a GeoJsonLayer's stroke made the map's first visit ~1.5 s slower (#17,
    docs/benchmarks.md)."""
    seen: set[tuple[tuple[float, float], tuple[float, float]]] = set()
    segments = []
    for feature in json.loads(outline)["features"]:
        for polygon in feature["geometry"]["coordinates"]:
            for ring in polygon:
                for a, b in itertools.pairwise(ring):
                    edge = (tuple(a), tuple(b))
                    if a == b or edge in seen or edge[::-1] in seen:
                        continue
                    seen.add(edge)
                    segments.append({"s": a, "t": b})
    return json.dumps(segments, separators=(",", ":")) + "\n"


def simplify_ring(ring: list[list[float]], tolerance: float) -> list[list[float]]:
    """Douglas-Peucker on one ring (iterative): drop points closer than ``tolerance`` to the chord."""
    if len(ring) < 4:
        return ring
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack, limit = [(0, len(ring) - 1)], tolerance * tolerance
    while stack:
        a, b = stack.pop()
        (ax, ay), (bx, by) = ring[a], ring[b]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        far, far_i = -1.0, -1
        for i in range(a + 1, b):
            px, py = ring[i]
            t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
            d = (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2
            if d > far:
                far, far_i = d, i
        if far > limit:
            keep[far_i] = True
            stack += [(a, far_i), (far_i, b)]
    return [p for p, k in zip(ring, keep, strict=True) if k]


def simplify_outlines(collection: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of (Multi)Polygons, every ring simplified (``tolerance`` in the
    coordinates' unit, degrees here); rings and features left with too few points are dropped, and
    every geometry becomes a MultiPolygon."""
    features = []
    for feature in collection["features"]:
        geom = feature["geometry"]
        polygons = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        kept = []
        for polygon in polygons:
            rings = [r for r in (simplify_ring(ring, tolerance) for ring in polygon) if len(r) >= 4]
            if rings:
                kept.append(rings)
        if kept:
            features.append({"type": "Feature", "properties": feature["properties"],
                             "geometry": {"type": "MultiPolygon", "coordinates": kept}})
    return {"type": "FeatureCollection", "features": features}
