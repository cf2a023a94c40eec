#!/usr/bin/env python3
"""Build seed/geo/region_outline.geojson: country outlines around Saudi Arabia.

Data source
-----------
Natural Earth "Admin 0 - Countries" (Natural Earth v4.1.0, public domain),
as redistributed in TopoJSON form by the npm package ``world-atlas``
version 2.0.2 (https://github.com/topojson/world-atlas). No network access
other than the npm registry is needed.

How to rerun
------------
    mkdir -p /tmp/atlas && cd /tmp/atlas
    npm pack world-atlas@2.0.2
    tar xzf world-atlas-2.0.2.tgz
    cd /work/main
    python3 scripts/build_outlines.py /tmp/atlas/package/countries-10m.json \\
        seed/geo/region_outline.geojson

It also writes static/region_outline.json, the simplified outline the map page loads by URL, and
static/region_borders.json, its edges as line segments (``python3 scripts/build_outlines.py -``
rewrites only those two from the existing GeoJSON).

The script uses only the Python standard library: it decodes the TopoJSON
itself (quantized, delta-encoded arcs; Polygon and MultiPolygon geometries),
keeps the countries listed in REGION, rounds coordinates to 3 decimals and
drops consecutive duplicate points. Each output feature has the properties
{"name": <country name as in Natural Earth>, "is_saudi": <bool>}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SAUDI = "Saudi Arabia"

# Country names exactly as they appear in world-atlas (Natural Earth NAME field).
REGION = [
    SAUDI,
    "Yemen", "Oman", "United Arab Emirates", "Qatar", "Bahrain", "Kuwait",
    "Iraq", "Jordan", "Egypt", "Sudan", "S. Sudan", "Eritrea", "Iran",
    "Israel", "Palestine", "Syria", "Lebanon", "Djibouti", "Ethiopia",
    "Somalia", "Somaliland", "Turkey", "Cyprus", "N. Cyprus",
]

DECIMALS = 3


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """Return every arc as absolute lon/lat points.

    Quantized topologies store each arc as integer deltas from the previous
    point; the transform (scale, translate) maps the running sum to degrees.
    """
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for dx, dy, *_ in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_coords(arc_indexes: list[int], arcs: list) -> list[list[float]]:
    """Stitch a ring from arc indexes; a negative index ~i means arc i reversed."""
    ring: list[tuple[float, float]] = []
    for index in arc_indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        if ring:
            ring.pop()  # the last point of one arc is the first of the next
        ring.extend(points)
    return clean_ring(ring)


def clean_ring(ring: list[tuple[float, float]]) -> list[list[float]]:
    """Round to DECIMALS, drop consecutive duplicates, keep the ring closed."""
    out: list[list[float]] = []
    for x, y in ring:
        point = [round(x, DECIMALS), round(y, DECIMALS)]
        if not out or out[-1] != point:
            out.append(point)
    if out and out[0] != out[-1]:
        out.append(list(out[0]))
    return out if len(out) >= 4 else []  # a valid ring needs >= 4 positions


def polygon_coords(rings: list[list[int]], arcs: list) -> list:
    """Decode one polygon; returns [] if its outer ring collapsed on rounding."""
    decoded = [ring_coords(r, arcs) for r in rings]
    if not decoded or not decoded[0]:
        return []
    return [decoded[0]] + [r for r in decoded[1:] if r]


def to_geojson_geometry(geometry: dict, arcs: list) -> dict | None:
    kind = geometry.get("type")
    if kind == "Polygon":
        polygons = [polygon_coords(geometry["arcs"], arcs)]
    elif kind == "MultiPolygon":
        polygons = [polygon_coords(p, arcs) for p in geometry["arcs"]]
    else:
        return None  # no Point/LineString geometries among country shapes
    polygons = [p for p in polygons if p]
    if not polygons:
        return None
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def build(topology: dict, names: list[str]) -> dict:
    arcs = decode_arcs(topology)
    wanted = set(names)
    features = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = geometry.get("properties", {}).get("name")
        if name not in wanted:
            continue
        geojson_geometry = to_geojson_geometry(geometry, arcs)
        if geojson_geometry is None:
            continue
        features.append({
            "type": "Feature",
            "properties": {"name": name, "is_saudi": name == SAUDI},
            "geometry": geojson_geometry,
        })
        wanted.discard(name)
    if wanted:
        print(f"warning: not found in input: {sorted(wanted)}", file=sys.stderr)
    # Saudi Arabia last so it is drawn on top of its neighbours.
    features.sort(key=lambda f: (f["properties"]["is_saudi"], f["properties"]["name"]))
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-*.json; '-' only rewrites static/ "
                        "region_outline.json from the existing output")
    parser.add_argument("output", type=Path, nargs="?",
                        default=Path("seed/geo/region_outline.geojson"))
    args = parser.parse_args()
    if str(args.topojson) == "-":
        write_map_outline(args.output)
        return

    topology = json.loads(args.topojson.read_text(encoding="utf-8"))
    collection = build(topology, REGION)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(collection, separators=(",", ":"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    size_kb = args.output.stat().st_size / 1024
    print(f"wrote {len(collection['features'])} features, {size_kb:.0f} KB -> {args.output}")
    write_map_outline(args.output)


def write_map_outline(source: Path, target: Path = Path("static/region_outline.json"),
                      borders: Path = Path("static/region_borders.json")) -> None:
    """The simplified outline and its border lines, which the map page loads by URL
    (tests/test_map_page.py checks both are current)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from p2p_store.community.geometry import map_borders_json, map_outline_json

    target.parent.mkdir(parents=True, exist_ok=True)
    outline = map_outline_json(source.read_text(encoding="utf-8"))
    target.write_text(outline, encoding="utf-8")
    print(f"wrote the map's simplified outline, {target.stat().st_size / 1024:.0f} KB -> {target}")
    borders.write_text(map_borders_json(outline), encoding="utf-8")
    print(f"wrote the map's border lines, {borders.stat().st_size / 1024:.0f} KB -> {borders}")


if __name__ == "__main__":
    main()
