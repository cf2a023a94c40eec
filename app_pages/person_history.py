"""A person's history on their page (#15.2). ONE call, ``person_history(person_id)``; today it shows the
audit rows about that person; the event log of #16 replaces this body."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import shell
from p2p_store.accounts import people


def person_history(person_id: str) -> None:
    me = shell.current_user()  # read fresh: the events branch may show more to some roles
    if me is None:
        return
    rows = shell.call(people.history_of, actor_id=me.user_id, user_id=person_id)
    if rows is None:
        return
    if not rows:
        st.caption("Nothing recorded about this person yet.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "when": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "by": "Done by", "whom": "About", "action": "Action", "old_role": "Role before", "new_role": "Role after",
        "note": st.column_config.TextColumn("Details", width="large")})
