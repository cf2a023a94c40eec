"""Sign-in page (the only page registered while nobody is signed in)."""

import streamlit as st

from app_pages import shell
from app_pages.widgets import md
from p2p_store.accounts import bootstrap
from p2p_store.settings import get_settings
from seed.dataset import demo_accounts

CREATE_ADMIN = "python -m p2p_store create-admin --email you@company.com --name \"Your Name\""


def load_demo_data() -> None:
    """Development only, and only while no active admin exists: the way back in after a reset (#15.4)."""
    from seed import loader

    if get_settings().is_production or not bootstrap.no_active_admin():
        return
    with st.spinner("Loading the demo data into both stores…"):
        if shell.call(loader.reseed, scale=0, actor_email="sign-in page (no active admin)") is not None:
            shell.refresh_after_write()
            shell.notify("Demo data loaded: sign in with one of the demo accounts.")
            st.rerun()

left, right = st.columns([3, 2], gap="large")
with left:
    st.title("P2P Sandbox Explorer")
    st.markdown("Explore and administer the **P2P Sandbox** — the peer-to-peer community for industrial IoT: "
                "members, forum discussions and use cases across Saudi Arabia's industrial cities.")
    if reason := st.session_state.pop("signed_out_reason", None):
        st.info(reason, icon=":material/info:")
    if not shell.stores_ready("postgresql"):
        st.stop()
    no_admin = shell.call(bootstrap.no_active_admin)
    if no_admin:  # never locked out (#15.4): name the way back in
        if get_settings().is_production:
            st.warning("No active admin account exists. An operator can create one on the server:",
                       icon=":material/admin_panel_settings:")
            st.code(CREATE_ADMIN, language="bash")
            st.caption("It asks for the password (or reads it from stdin with --password-stdin) and is audited.")
        else:
            st.warning("No active admin account exists (the stores were reset or are empty).",
                       icon=":material/admin_panel_settings:")
            if st.button("Load the demo data", type="primary", icon=":material/database:", key="load_demo"):
                load_demo_data()
            st.caption(f"Or create an admin of your own: `{CREATE_ADMIN}`")
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
                   "accounts" + ("; load the demo data on the left first." if no_admin else
                                 "; Data admin → Reseed restores them."))
        for person in demo_accounts():
            with st.container(border=True):
                st.markdown(f"**{md(person['full_name'])}** · {md(person['role'])}  \n{md(person['company'])}")
                st.code(f"{person['email']}\n{person['password']}", language=None)
                if st.button(f"Sign in as {md(person['full_name'].split()[0])}", key=f"demo_{person['email']}",
                             icon=":material/bolt:"):
                    if shell.sign_in_as(person["email"], person["password"]):
                        st.rerun()
