""""Open as notebook" (issue #18.3): one download button per view, called by one line from a page.

The notebook is built by ``p2p_store.notebook_export`` only when the button is clicked; it holds the
view's values (source, sort, filters, query) and never a setting or credential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from p2p_store import notebook_export

HELP = ("A Jupyter notebook whose first cell reproduces this view with p2p_store.frames (same filters, same "
        "limits, same masking), then shows and charts it. It holds no address or password: it reads the "
        "settings where it runs. See “Continue in a notebook” in the README.")


def _button(kind: str, key: str, /, **view: Any) -> None:
    def build() -> bytes:
        return notebook_export.notebook_bytes(kind, **view)

    st.download_button("Open as notebook", build, file_name=notebook_export.file_name(kind, **view),
                       mime=notebook_export.MEDIA_TYPE, icon=":material/code_blocks:", key=key, help=HELP,
                       on_click="ignore")


def explorer_view(store: str, name: str, sort: str | None, descending: bool,
                  filters: Sequence[tuple[str, str, str]], page_size: int, actor_id: str | None = None) -> None:
    """The explorer's Rows tab: this table or collection, sort, filters and page size (and who is looking,
    which an admin-only table needs)."""
    _button("explorer", "nb_explorer", store=store, name=name, sort=sort, descending=bool(descending),
            filters=[tuple(flt) for flt in filters], limit=int(page_size), actor_id=actor_id)


def console_query(kind: str, actor_id: str) -> None:
    """The console result on screen (``kind`` "sql" or "mongo"): the query as it is in the box."""
    state = st.session_state
    if kind == "sql":
        _button("sql", "nb_console_sql", sql=str(state.get("console_sql", "")), actor_id=str(actor_id))
    else:
        _button("mongo", "nb_console_mongo", collection=str(state.get("console_mongo_collection") or ""),
                mode=str(state.get("console_mongo_mode") or "filter"), text=str(state.get("console_mongo", "")),
                actor_id=str(actor_id))


FORUM_FILTERS = ("category", "tag", "author_id", "status", "solved", "search")


def forum_list(filters: Sequence[Any], sort: str, page_size: int) -> None:
    """The forum list: the page's filter tuple (category, tag, author, status, solved, search), sort and
    page size (the notebook's first frame is the list's first page)."""
    _button("forum", "nb_forum", **dict(zip(FORUM_FILTERS, filters, strict=True)), sort=sort, limit=int(page_size))


def map_view(filters: Mapping[str, Any], near: tuple[float, float, float] | None) -> None:
    """The use-case map: its filters (industry, region, city, technology, kind) and the near circle."""
    _button("map", "nb_map", **dict(filters), near=near)
