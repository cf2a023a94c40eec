"""A person's timeline from the event log (#16.2): each change with a readable diff (old → new per
field). Called by the person / Users pages and by the audit explorer: ``person_history(person_id)``."""

from __future__ import annotations

import streamlit as st

from app_pages import shell
from app_pages.widgets import md
from p2p_store import audit


@st.cache_data(ttl=10, max_entries=32, show_spinner=False)
def load_history(person_id: str) -> list[dict]:
    return audit.person_history(person_id)


def shown(value: object) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "∅"
    return str(value)


def person_history(person_id: str) -> None:
    """Render the timeline of one person (an account id or email), newest first."""
    events = shell.call(load_history, person_id)
    if not events:
        st.caption("No recorded changes for this person.")
        return
    for e in events:
        outcome = " · :orange-badge[pending in MongoDB]" if e["mongodb"] == "pending" else ""
        reverts = f" · reverts #{e['reverts']}" if e["reverts"] else ""
        with st.container(border=True):
            st.markdown(f"**{md(e['label'].capitalize())}** · {e['at']:%Y-%m-%d %H:%M:%S} · by "
                        f"{md(e['actor'])} · #{e['id']}{reverts}{outcome}")
            if e["diff"]:
                st.table([{"field": d["field"], "old": shown(d["old"]), "new": shown(d["new"])} for d in e["diff"]])
            if e["note"] and not e["diff"]:
                st.caption(md(e["note"]))  # may quote stored values

