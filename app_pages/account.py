"""My account: one's own password, profile fields and sign-ins (end the other ones)."""

import streamlit as st

from app_pages import shell
from app_pages.widgets import md
from p2p_store.accounts import directory, lifecycle
from p2p_store.community import stats

me = shell.page_guard(stores=("postgresql",))

st.title("My account")
if me.must_change_password:
    st.warning("You signed in with a temporary password. Set your own password to continue.",
               icon=":material/key:")

with st.form("own_password"):
    st.subheader("Password")
    current = st.text_input("Current password", type="password", key="pw_current", max_chars=1024)
    new = st.text_input(f"New password (at least {lifecycle.MIN_PASSWORD} characters)", type="password",
                        key="pw_new", max_chars=1024)
    again = st.text_input("New password again", type="password", key="pw_again", max_chars=1024)
    change = st.form_submit_button("Change password", type="primary")
if change:
    if new != again:
        st.error("The two new passwords differ; nothing was changed.")
    elif shell.call(lifecycle.change_own_password, me=me, current_password=current, new_password=new):
        st.session_state["password_changed"] = True
        st.rerun()
if st.session_state.pop("password_changed", False):
    st.success("Password changed. Your other sign-ins have ended.", icon=":material/check_circle:")
if me.must_change_password:
    st.stop()

if shell.stores_ready("mongodb"):
    account = shell.call(directory.get_account, user_id=me.user_id)
    if account:
        with st.form("own_profile"):
            st.subheader("Profile")
            name = st.text_input("Name", account["full_name"], key="own_name", max_chars=120)
            company = st.text_input("Company", account["company"], key="own_company", max_chars=160)
            industries = ["", *directory.known_industries()]
            industry = st.selectbox("Industry", industries, key="own_industry",
                                    index=industries.index(account["industry"]) if account["industry"] in industries
                                    else 0)
            city = st.text_input("City", account["city"], key="own_city", max_chars=80,
                                 help="English or Arabic name (Riyadh, الرياض). A city not in the list keeps your region.")
            job = st.text_input("Job title", account["job_title"], key="own_job", max_chars=120)
            expertise = st.text_input("Expertise (comma separated)", account["expertise"], key="own_expertise",
                                      max_chars=700)
            save = st.form_submit_button("Save profile")
        if save:
            done = shell.call(lifecycle.update_account, actor_id=me.user_id, user_id=me.user_id,
                              expected_version=account["version"], full_name=name, email=account["email"],
                              company=company, industry=industry, city=city, job_title=job, expertise=expertise)
            if done:
                shell.refresh_after_write(stats.ACCOUNTS)
                st.success(f"Profile saved ({md(done['changes'])}).", icon=":material/check_circle:")

st.subheader("My sign-ins")
for row in shell.call(lifecycle.list_sessions, actor_id=me.user_id, mine_only=True, current_token=me.token) or []:
    cols = st.columns([3, 3, 2])
    cols[0].write(f"Since {row['since']:%Y-%m-%d %H:%M} · last seen {row['last_seen']:%H:%M}")
    cols[1].caption(("**This browser** · " if row["current"] else "") + md(row["browser"] or "unknown browser"))
    if not row["current"] and cols[2].button("End this sign-in", key=f"end_own_{row['session_id']}"):
        if shell.call(lifecycle.end_session, actor_id=me.user_id, session_id=row["session_id"]):
            st.rerun()
