"""Entry script: sign-in gate, ``st.navigation`` built from the pages the signed-in role may see, run.

Page modules live in ``app_pages/`` (not ``pages/``: that name switches Streamlit into its legacy
multipage mode, which would run a page directly and skip this gate).
"""

import streamlit as st

from app_pages import crash_guard, session_cookie, shell
from p2p_store.stores import mongo

st.set_page_config(page_title="P2P Sandbox Explorer", page_icon=":material/factory:", layout="wide")
crash_guard.apply_error_details()

# (script, title, icon, url path, roles that may see it)
PAGES = [
    ("app_pages/overview.py", "Overview", ":material/dashboard:", "overview", ("admin", "member", "user")),
    ("app_pages/forum.py", "Forum", ":material/forum:", "forum", ("admin", "member", "user")),
    ("app_pages/map.py", "Use-case map", ":material/map:", "map", ("admin", "member", "user")),
    ("app_pages/users.py", "Users & roles", ":material/group:", "users", ("admin", "member", "user")),
    ("app_pages/explorer.py", "Data explorer", ":material/database:", "explorer", ("admin", "member", "user")),
    ("app_pages/health.py", "Health", ":material/monitor_heart:", "health", ("admin", "member", "user")),
    ("app_pages/data_admin.py", "Data admin", ":material/admin_panel_settings:", "data-admin", ("admin",)),
    ("app_pages/audit.py", "Audit log", ":material/history:", "audit", ("admin",)),
]

ACCOUNT_PAGE = ("app_pages/account.py", "My account", ":material/person:", "account")

me = shell.resolve_for_this_run()
if me is None:
    # Every page path leads to the sign-in page, so a deep link (/forum?post=…) survives signing in.
    sign_in = "app_pages/sign_in.py"
    page = st.navigation(
        [st.Page(sign_in, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)]
        + [st.Page(sign_in, title="Sign in", icon=":material/login:", url_path=path) for _, _, _, path, _ in PAGES],
        position="hidden")
    session_cookie.sync(None)  # removes a cookie found invalid (tampered, expired, revoked) or signed out
elif me.must_change_password:  # a temporary password: nothing else until the person sets their own
    script, title, icon, path = ACCOUNT_PAGE
    page = st.navigation([st.Page(script, title="Set your password", icon=icon, url_path=path, default=True)])
    shell.sidebar(me)
    session_cookie.sync(me.token, where=st.sidebar)
else:
    # Pages the role may not see stay registered but hidden, so a shared admin link lands on that page
    # and its guard says "This page is for admins" instead of a silent jump to Overview (#15.5).
    page = st.navigation([
        st.Page(script, title=title, icon=icon, url_path=path, default=(i == 0),
                visibility="visible" if me.role in roles else "hidden")
        for i, (script, title, icon, path, roles) in enumerate(PAGES)
    ] + [st.Page(ACCOUNT_PAGE[0], title=ACCOUNT_PAGE[1], icon=ACCOUNT_PAGE[2], url_path=ACCOUNT_PAGE[3])])
    shell.sidebar(me)
    session_cookie.sync(me.token, where=st.sidebar)
shell.show_notices()
with mongo.one_generation():  # the run reads one MongoDB generation, even if a reseed swaps meanwhile (#19)
    crash_guard.run_page(page)  # errors logged with an id, no stack trace (#14)
