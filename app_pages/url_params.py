"""Numbers from a link, checked before the widgets bound to them read them (#14).

A widget bound to the URL (``bind="query-params"``) parses its parameter itself, and some values
(``-1e309``, ``nan``, a huge integer) reach it as a float it cannot hold. ``numbers`` drops such a
parameter from the link before the widget runs, so the widget opens at its default, and says so."""

from __future__ import annotations

import math

import streamlit as st


def numbers(bounds: dict[str, tuple[float, float]]) -> list[str]:
    """Remove each of ``bounds``' query parameters that is not a finite number within its bounds;
    return their names (a warning on the page names them too)."""
    dropped = []
    for key, (low, high) in bounds.items():
        raw = st.query_params.get(key)
        if raw is None:
            continue
        try:
            value = float(raw[:40])
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not low <= value <= high:
            del st.query_params[key]
            st.session_state.pop(key, None)
            dropped.append(key)
    if dropped:
        st.warning(f"Ignored {', '.join(dropped)} from the link: not a number between the allowed bounds. "
                   "Showing the default instead.", icon=":material/link_off:")
    return dropped
