"""Sign-in page (the only page registered while nobody is signed in)."""

import streamlit as st

from app_pages import shell
from app_pages.widgets import md
from p2p_store.settings import get_settings
from seed.dataset import demo_accounts

left, right = st.columns([3, 2], gap="large")
with left:
    st.title("P2P Sandbox Explorer")
    st.markdown("Explore and administer the **P2P Sandbox** — the peer-to-peer community for industrial IoT: "
                "members, forum discussions and use cases across Saudi Arabia's industrial cities.")
    if reason := st.session_state.pop("signed_out_reason", None):
        st.info(reason, icon=":material/info:")
    if not shell.stores_ready("postgresql"):
        st.stop()
    with st.form("sign_in", border=True):
        email = st.text_input("Email", key="sign_in_email", max_chars=254, autocomplete="email")
        password = st.text_input("Password", type="password", key="sign_in_password", max_chars=1024)
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted and shell.sign_in_as(email, password):
        st.rerun()

with right:
    if not get_settings().is_production:
        st.subheader("Demo accounts")
        st.caption("Development only (P2P_ENV unset): one click signs in. These are the seeded demo "
                   "accounts; reseed to restore them.")
        for person in demo_accounts():
            with st.container(border=True):
                st.markdown(f"**{md(person['full_name'])}** · {md(person['role'])}  \n{md(person['company'])}")
                st.code(f"{person['email']}\n{person['password']}", language=None)
                if st.button(f"Sign in as {md(person['full_name'].split()[0])}", key=f"demo_{person['email']}",
                             icon=":material/bolt:"):
                    if shell.sign_in_as(person["email"], person["password"]):
                        st.rerun()
