"""Health: the one health report (the dict ``python -m p2p_store health --json`` prints) as a live panel.

It refreshes itself every few seconds (a fragment, so only the panel reruns) and never waits on a
store that is down: ``health.latest_report`` answers from the latest finished report when a new one
takes longer than half a second, and the next refresh shows the new one.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import shell
from app_pages.widgets import md
from p2p_store import health

me = shell.page_guard()  # every signed-in role; no store required: this page reports them

REFRESH_S = 3  # seconds between automatic refreshes: a store that went down shows within ~2 of them
HISTORY_KEY = "health_history"
HISTORY_REPORTS = 200  # reports kept for the latency chart (10 minutes at REFRESH_S)
STATUS_ICON = {"healthy": ":material/check_circle:", "degraded": ":material/warning:",
               "unhealthy": ":material/error:"}
STATUS_COLOR = {"healthy": "green", "degraded": "orange", "unhealthy": "red"}
STATUS_CELL = {  # the Status cell of the table: text colour, background (works without emoji fonts)
    "healthy": "color: #1b5e20; background-color: #e8f5e9",
    "degraded": "color: #8a4b00; background-color: #fff3e0",
    "unhealthy": "color: #b71c1c; background-color: #ffebee",
}
SUMMARY = {
    "healthy": "Every check passed.",
    "degraded": "The app still serves, but something needs attention (see the rows below).",
    "unhealthy": "Both stores are down: the app cannot serve data.",
}
COMPONENT_LABEL = {"postgresql": "PostgreSQL", "mongodb": "MongoDB", "consistency": "Consistency"}


def pool_text(name: str, pool: dict[str, Any] | None) -> str:
    if not pool:
        return "–"
    if name == "postgresql":
        return (f"{pool['checked_out']} of {pool['size']} checked out · overflow {pool['overflow']} "
                f"of {pool['max_overflow']}")
    in_use = pool.get("in_use")
    return f"{'?' if in_use is None else in_use} in use · max {pool['max_size']} · min {pool['min_size']}"


def migration_text(migration: dict[str, Any] | None) -> str:
    if not migration:
        return "–"
    current, head = migration.get("current") or "none", migration.get("head") or "none"
    return f"{current} (at head)" if current == head else f"{current} → head {head} (behind)"


def component_rows(report: dict[str, Any]) -> pd.DataFrame:
    """A row per component of the report, in words."""
    rows = []
    for name, check in report["checks"].items():
        status = check["status"]
        if name == "consistency":
            drift, orphans = check.get("role_drift"), check.get("orphans")
            detail = "unknown" if drift is None else f"role drift {drift} · orphans {orphans}"
            if generation := check.get("generation"):  # which data set is live, and where (#19)
                detail += (f" · data {generation.get('postgresql') or 'never seeded'} in "
                           f"{generation.get('mongodb_database')}" if generation.get("match") else
                           " · the stores hold different data generations")
            rows.append({"Component": COMPONENT_LABEL[name], "Status": status,
                         "Latency (ms)": None, "Version": "", "Pool": "", "Migration": "",
                         "Consistency": detail, "Error": check.get("error") or ""})
            continue
        rows.append({"Component": COMPONENT_LABEL.get(name, name), "Status": status,
                     "Latency (ms)": check.get("latency_ms"), "Version": check.get("server_version") or "–",
                     "Pool": pool_text(name, check.get("pool")),
                     "Migration": migration_text(check.get("migration")) if name == "postgresql" else "",
                     "Consistency": "", "Error": check.get("error") or ""})
    return pd.DataFrame(rows)


def remember(report: dict[str, Any]) -> deque:
    """Add the report's latencies to this session's bounded history (once per report)."""
    history: deque = st.session_state.setdefault(HISTORY_KEY, deque(maxlen=HISTORY_REPORTS))
    key = (report["timestamp"], report["uptime_s"])
    if not history or history[-1]["key"] != key:
        history.append({"key": key, "time": datetime.fromisoformat(report["timestamp"].replace("Z", "+00:00")),
                        "PostgreSQL": report["checks"]["postgresql"].get("latency_ms"),
                        "MongoDB": report["checks"]["mongodb"].get("latency_ms")})
    return history


def latency_chart(history: deque) -> alt.Chart:
    frame = pd.DataFrame([{"time": h["time"], "store": store, "latency_ms": h[store]}
                          for h in history for store in ("PostgreSQL", "MongoDB")])
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M:%S")),
        y=alt.Y("latency_ms:Q", title="Latency (ms)"),
        color=alt.Color("store:N", title=None),
        tooltip=[alt.Tooltip("time:T", format="%H:%M:%S"), "store", "latency_ms"])


st.title("Health")
st.caption("Both stores, their pools, the schema revision and the agreement between the stores — the same "
           "report as `python -m p2p_store health --json`. A point missing from the chart is a check that failed.")
paused = st.toggle("Pause auto-refresh", key="health_paused", help=f"Refreshes every {REFRESH_S} s otherwise.")


@st.fragment(run_every=None if paused else REFRESH_S)
def health_panel() -> None:
    report = health.latest_report(max_age_s=2.0, wait_s=0.5)
    status = report["status"]
    top_left, top_right = st.columns([3, 2], vertical_alignment="center")
    with top_left:
        st.markdown(f"## :{STATUS_COLOR[status]}[{STATUS_ICON[status]} {status.capitalize()}]")
        st.caption(SUMMARY[status])
    top_right.caption(f"Checked {report['timestamp']} · p2p-explorer {report['version']} · "
                      f"up {report['uptime_s']:.0f} s" + (" · paused" if paused else f" · every {REFRESH_S} s"))

    table = component_rows(report).style.map(lambda value: STATUS_CELL.get(value, ""), subset=["Status"])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Status": st.column_config.TextColumn(width=100),
        "Latency (ms)": st.column_config.NumberColumn(format="%.2f"),
        "Error": st.column_config.TextColumn(width="large")})
    for name, check in report["checks"].items():
        if check.get("error") and check["status"] == "unhealthy":
            st.error(f"**{COMPONENT_LABEL[name]}**: {md(check['error'])}", icon=":material/cloud_off:")

    consistency = report["checks"]["consistency"]
    if (consistency.get("role_drift") or 0) + (consistency.get("orphans") or 0) > 0:
        st.warning("The stores disagree about some people (PostgreSQL is the source of truth).",
                   icon=":material/sync_problem:")
        st.page_link("app_pages/users.py", label="Open the drift panel in Users & roles", icon=":material/group:")

    history = remember(report)
    st.subheader("Latency of recent checks")
    if len(history) > 1:
        st.altair_chart(latency_chart(history), width="stretch")
    else:
        st.caption("The chart fills in as the checks repeat.")

    with st.expander("Report as JSON", icon=":material/data_object:"):
        st.json(report)


health_panel()
