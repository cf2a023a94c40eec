"""Overview: headline figures and the charts people look at first."""

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import shell
from app_pages.widgets import md
from p2p_store.community import stats

me = shell.page_guard(stores=("postgresql", "mongodb"))


st.title("Overview")
# Accounts are counted live; the rest comes from the figure cache (p2p_store.community.stats, #17):
# a background refresh keeps it within a minute, and any change you make refreshes it at once.
data = shell.call(stats.overview)
if data is None:
    st.stop()
st.caption(f"Welcome back, {md(me.full_name.split()[0])}. Figures as of {data['as_of']:%H:%M:%S} UTC"
           + (" (refreshing…)" if data["refreshing"] else "") + "; they refresh every minute and after any change "
           "you make.")
fig = data["figures"]
roles = fig["accounts_by_role"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Accounts", f"{fig['accounts']:,}", help="Admins / members / users")
c1.caption(f"{roles['admin']} admin · {roles['member']} member · {roles['user']} user")
c2.metric("Forum posts", f"{fig['posts']:,}")
c3.metric("Replies", f"{fig['replies']:,}")
c4.metric("Use cases", f"{fig['use_cases']:,}")
c4.caption(f"{fig['use_cases_basic']} basic · {fig['use_cases_detailed']} detailed")


def count_bars(title: str, rows: list[dict], label: str, count: str, count_title: str, empty: str,
               color: str = "#0f766e") -> None:
    """A horizontal bar chart of counts, largest first (whole-number axis, full labels)."""
    st.subheader(title)
    if not rows:
        st.info(empty)
        return
    chart = alt.Chart(pd.DataFrame(rows)).mark_bar(cornerRadiusEnd=3, color=color).encode(
        x=alt.X(f"{count}:Q", title=count_title, axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
        tooltip=[label, count])
    st.altair_chart(chart, width="stretch")


left, right = st.columns(2)
with left:
    count_bars("Posts per category", data["categories"], "category", "posts", "Posts",
               "No forum posts yet. An admin can reseed from Data admin.", color="#1f77b4")
with right:
    count_bars("Use cases per industry", data["industries"], "industry", "use_cases", "Use cases",
               "No use cases yet.", color="#2a9d8f")

st.subheader("Forum activity over time")
if data["activity"]:
    chart = alt.Chart(pd.DataFrame(data["activity"])).mark_line(point=True).encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("count:Q", title="Created per month", scale=alt.Scale(zero=True), axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("kind:N", title=None), tooltip=["month", "kind", "count"])
    st.altair_chart(chart, width="stretch")
else:
    st.info("No activity yet.")
