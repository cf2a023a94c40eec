"""Overview: headline figures and the charts people look at first."""

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import shell
from p2p_store import stats, use_cases

me = shell.page_guard(stores=("postgresql", "mongodb"))


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def load_overview() -> dict:
    return {"figures": stats.headline_figures(), "categories": stats.posts_per_category(),
            "industries": use_cases.counts_by_industry(), "activity": stats.activity_by_month()}


st.title("Overview")
st.caption(f"Welcome back, {me.full_name.split()[0]}. Figures refresh every minute and after any change you make.")
data = shell.call(load_overview)
if data is None:
    st.stop()
fig = data["figures"]
roles = fig["accounts_by_role"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Accounts", f"{fig['accounts']:,}", help="Admins / members / users")
c1.caption(f"{roles['admin']} admin · {roles['member']} member · {roles['user']} user")
c2.metric("Forum posts", f"{fig['posts']:,}")
c3.metric("Replies", f"{fig['replies']:,}")
c4.metric("Use cases", f"{fig['use_cases']:,}")
c4.caption(f"{fig['use_cases_basic']} basic · {fig['use_cases_detailed']} detailed")

left, right = st.columns(2)
with left:
    st.subheader("Posts per category")
    if data["categories"]:
        chart = alt.Chart(pd.DataFrame(data["categories"])).mark_bar(cornerRadiusEnd=3).encode(
            x=alt.X("posts:Q", title="Posts", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("category:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
            tooltip=["category", "posts"])
        st.altair_chart(chart, width="stretch")
    else:
        st.info("No forum posts yet. An admin can reseed from Data admin.")
with right:
    st.subheader("Use cases per industry")
    if data["industries"]:
        chart = alt.Chart(pd.DataFrame(data["industries"])).mark_bar(cornerRadiusEnd=3, color="#2a9d8f").encode(
            x=alt.X("use_cases:Q", title="Use cases", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("industry:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
            tooltip=["industry", "use_cases"])
        st.altair_chart(chart, width="stretch")
    else:
        st.info("No use cases yet.")

st.subheader("Forum activity over time")
if data["activity"]:
    chart = alt.Chart(pd.DataFrame(data["activity"])).mark_line(point=True).encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("count:Q", title="Created per month", scale=alt.Scale(zero=True), axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("kind:N", title=None), tooltip=["month", "kind", "count"])
    st.altair_chart(chart, width="stretch")
else:
    st.info("No activity yet.")
