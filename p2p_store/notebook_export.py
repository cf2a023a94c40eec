""""Open as notebook" (issue #18.3): a view of the app as a runnable Jupyter notebook.

:func:`build` turns a view — an explorer table or collection with its sort and filters, a console
query, the forum list with its filters, the use-case map with its filters — into an ``.ipynb``
(``nbformat`` v4) of three code cells: the first reproduces exactly that view through
:mod:`p2p_store.frames` into ``df``, the second shows it, the third charts it (a pydeck map with the
offline outlines of ``seed/geo`` for the map).

Only the view's own values go into the file, written as Python literals (``repr``): never a URL, a
password, a token or a setting. The notebook reads the settings where it runs (``.env``,
``DATABASE_URL`` / ``MONGODB_URL``, or the embedded stores of ``P2P_DATA_DIR``), through the same
services and masking as the app.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import nbformat
from nbformat import v4

from p2p_store.data.masking import ADMIN_ONLY_TABLES

KINDS = ("explorer", "sql", "mongo", "forum", "map")
MEDIA_TYPE = "application/x-ipynb+json"

# The first lines of every notebook: find the repository (the notebook sits in it, or P2P_REPO
# names it), work from there so .env and .p2p-data are the app's, and import the read API.
BOOTSTRAP = '''\
import os
import sys
from pathlib import Path

# Work from the repository root (found from here, or named by P2P_REPO): the app's .env and .p2p-data.
_here = Path(os.environ.get("P2P_REPO") or Path.cwd()).resolve()
ROOT = next((p for p in (_here, *_here.parents) if (p / "p2p_store" / "frames.py").is_file()), None)
if ROOT is None:
    raise RuntimeError("Open this notebook inside the p2p-sandbox-explorer repository (e.g. notebooks/), "
                       "or set P2P_REPO to the repository's folder.")
os.chdir(ROOT)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import p2p_store.frames as f'''

_HEADER = '''\
# {title}
# Opened as a notebook from the P2P Sandbox Explorer on {when}. Nothing here holds an address or a
# password: the stores come from the settings where this runs (.env, DATABASE_URL / MONGODB_URL, or
# the embedded stores), read through the app's own services, limits and masking.
'''

_SHOW = "df"

_CHART_EXPLORER = '''\
import altair as alt

# Value counts of the first field the explorer would chart, under the same filters.
field = next((c for c in ("category", "role", "kind", "region", "industry", "status", "city", "author_id",
                          "depth", "action", "key") if c in df.columns), None)
if field:
    counts = f.value_counts(VIEW["store"], VIEW["name"], field, filters=VIEW["filters"])
else:  # nothing categorical: how many values each column holds
    field, counts = "column", df.notna().sum().rename_axis("value").reset_index(name="count")
alt.Chart(counts).mark_bar(cornerRadiusEnd=3).encode(
    x=alt.X("count:Q", title="Rows"), y=alt.Y("value:N", sort="-x", title=field), tooltip=["value", "count"])'''

_CHART_CONSOLE = '''\
import altair as alt

# As the console charts a result: the first column as labels, the first numeric column as values
# (or the number of rows per label when there is none).
label = df.columns[0]
numeric = [c for c in df.columns[1:] if df[c].dtype.kind in "iuf"]
if numeric:
    data, value = df[[label, numeric[0]]].rename(columns={label: "label"}), numeric[0]
else:
    data = df.groupby(df[label].astype(str)).size().reset_index(name="rows").rename(columns={label: "label"})
    value = "rows"
data = data.assign(label=data["label"].astype(str)).head(50)
alt.Chart(data).mark_bar(cornerRadiusEnd=3).encode(
    x=alt.X(f"{value}:Q", title=value), y=alt.Y("label:N", sort="-x", title=label), tooltip=["label", value])'''

_CHART_FORUM = '''\
import altair as alt

# Replies per post, coloured by category (the most answered first).
columns = ["title", "author", "category", "reply_count", "views", "upvotes"]  # no dates: plain JSON for the chart
alt.Chart(df[columns]).mark_bar(cornerRadiusEnd=3).encode(
    x=alt.X("reply_count:Q", title="Replies"), y=alt.Y("title:N", sort="-x", title=None),
    color="category:N", tooltip=columns)'''

_CHART_MAP = '''\
import json

import pydeck as pdk
from IPython.display import display
from pydeck.types import String

# Offline, like the app's map: country outlines from seed/geo (Natural Earth), no basemap, no token.
outline = json.loads((ROOT / "seed" / "geo" / "region_outline.geojson").read_text(encoding="utf-8"))
palette = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
           [227, 119, 194], [23, 190, 207], [188, 189, 34], [127, 127, 127], [57, 59, 121], [173, 73, 74]]
colours = {name: palette[i % len(palette)] for i, name in enumerate(sorted(df["industry"].unique()))}
points = df.dropna(subset=["lon", "lat"]).drop(columns=["technologies"])
points = points.assign(color=points["industry"].map(colours))
deck = pdk.Deck(
    layers=[
        pdk.Layer("GeoJsonLayer", outline, stroked=True, filled=True, line_width_min_pixels=1,
                  get_fill_color="properties.is_saudi ? [236, 220, 180, 200] : [214, 216, 220, 170]",
                  get_line_color=[110, 110, 110, 220]),
        pdk.Layer("ScatterplotLayer", points, get_position=["lon", "lat"], get_fill_color="color",
                  get_line_color=[255, 255, 255], stroked=True, radius_units=String("pixels"), get_radius=7,
                  line_width_units=String("pixels"), get_line_width=1, pickable=True),
    ],
    initial_view_state=pdk.ViewState(longitude=45.0, latitude=24.0, zoom=4.6),
    map_style=None,
    tooltip={"text": "{title}\\n{company}\\n{industry} · {city}"},
)
display(deck.to_html(offline=True, notebook_display=True, iframe_height=540))
print("\\n".join(f"{name}: {n}" for name, n in points["industry"].value_counts().sort_index().items()))'''


# ------------------------------------------------------------------ literals


def _check_value(value: Any) -> None:
    """Only plain values become code: text, numbers, booleans, None, and tuples/lists of them."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("A view value is not a finite number.")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item)
        return
    raise ValueError(f"A view value of type {type(value).__name__} cannot go into a notebook.")


def _literal(value: Any) -> str:
    """``value`` as Python source (``repr`` of plain values; tuples of filters as lists of tuples)."""
    _check_value(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (list, tuple)) for v in value):
        return "[" + ", ".join(repr(tuple(v)) for v in value) + "]"
    return repr(value)


def _text_block(name: str, text: str) -> str:
    """A long text (a query) as a readable triple-quoted literal when that is exact, else ``repr``."""
    plain = all(ch == "\n" or ch.isprintable() for ch in text)
    if "\n" in text and plain and '"""' not in text and "\\" not in text and not text.endswith('"'):
        return f'{name} = """\\\n{text}"""'
    return f"{name} = {_literal(text)}"


def _call(fn: str, args: Mapping[str, Any]) -> str:
    inner = ", ".join(f"{k}={_literal(v)}" for k, v in args.items())
    return f"{fn}({inner})"


# ------------------------------------------------------------------ the cells per kind


def _view(kind: str, view: Mapping[str, Any]) -> tuple[str, str, str]:
    """(title, code that puts the view into ``df``, chart cell) for one kind of view."""
    if kind == "explorer":
        store, name = view["store"], view["name"]
        args = {"store": store, "name": name, "sort": view.get("sort"), "descending": bool(view.get("descending")),
                "filters": [tuple(flt) for flt in view.get("filters") or ()], "limit": int(view.get("limit", 50))}
        if view.get("actor_id") and name in ADMIN_ONLY_TABLES:  # sign-ins are for admins (#14)
            args["actor_id"] = str(view["actor_id"])
        what = "table" if store == "postgresql" else "collection"
        code = ("VIEW = dict(\n" + "".join(f"    {k}={_literal(v)},\n" for k, v in args.items()) + ")\n"
                "df = f.table(**VIEW)  # raise VIEW['limit'] (up to 5,000) for more than the first page")
        return f"Data explorer: {what} {name}", code, _CHART_EXPLORER
    if kind == "sql":
        code = (_text_block("QUERY", str(view["sql"])) + "\n"
                f"ACTOR_ID = {_literal(str(view['actor_id']))}  # the admin who ran it in the app: "
                "the console is for admins\n"
                "df = f.sql(QUERY, actor_id=ACTOR_ID)")
        return "Query console: SQL (PostgreSQL)", code, _CHART_CONSOLE
    if kind == "mongo":
        code = (_text_block("QUERY", str(view["text"])) + "\n"
                f"ACTOR_ID = {_literal(str(view['actor_id']))}  # the admin who ran it in the app: "
                "the console is for admins\n"
                f"df = f.mongo_query({_literal(view['collection'])}, QUERY, "
                f"mode={_literal(view.get('mode', 'filter'))}, actor_id=ACTOR_ID)")
        return f"Query console: MongoDB {view.get('mode', 'filter')} on {view['collection']}", code, _CHART_CONSOLE
    if kind == "forum":
        args = {k: view.get(k) for k in ("category", "tag", "author_id", "status", "solved")}
        args.update(search=view.get("search") or "", sort=view.get("sort", "activity"),
                    limit=int(view.get("limit", 20)))
        code = "df = " + _call("f.posts", args) + "  # the page's first page; raise limit for more"
        return "Forum posts", code, _CHART_FORUM
    if kind == "map":
        args = {k: view.get(k) for k in ("industry", "region", "city", "technology", "kind")}
        near = view.get("near")
        args["near"] = tuple(float(v) for v in near) if near is not None else None
        code = "df = " + _call("f.use_cases", args)
        return "Use-case map", code, _CHART_MAP
    raise ValueError(f"Unknown view kind {kind!r}; one of {', '.join(KINDS)}.")


def build(kind: str, /, *, now: datetime | None = None, **view: Any) -> nbformat.NotebookNode:
    """The notebook for one view. ``kind`` and its view values:

    - ``"explorer"``: store, name, sort, descending, filters (``(field, op, value)`` triples), limit,
      actor_id (kept only for an admin-only table, ``masking.ADMIN_ONLY_TABLES``)
    - ``"sql"``: sql, actor_id · ``"mongo"``: collection, mode, text, actor_id
    - ``"forum"``: category, tag, author_id, status, solved, search, sort, limit
    - ``"map"``: industry, region, city, technology, kind, near (``(lon, lat, radius_km)`` or None)

    >>> nb = build("forum", category="AI", sort="views", limit=20)
    >>> nbformat.writes(nb)  # the .ipynb text
    """
    title, code, chart = _view(kind, view)
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    first = _HEADER.format(title=title, when=when) + BOOTSTRAP + "\n\n" + code
    nb = v4.new_notebook(cells=[v4.new_code_cell(first), v4.new_code_cell(_SHOW), v4.new_code_cell(chart)])
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def notebook_bytes(kind: str, /, **view: Any) -> bytes:
    """The ``.ipynb`` file of :func:`build` as bytes, for a download."""
    return nbformat.writes(build(kind, **view)).encode("utf-8")


def file_name(kind: str, /, **view: Any) -> str:
    """A file name that says what the notebook holds, e.g. ``p2p-explorer-forum_posts.ipynb``."""
    label = {"explorer": view.get("name"), "mongo": view.get("collection"), "map": view.get("industry")}.get(kind)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(label or "")).strip("-").lower()[:40]
    return f"p2p-{kind}{'-' + slug if slug else ''}.ipynb"
