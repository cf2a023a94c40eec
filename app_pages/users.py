"""Users & roles: the list of accounts (Django admin's change list) and, with ``?person=<id>``, one
person's page (app_pages/person.py, #15.2). Admins select rows to open a person or change several
roles at once, create accounts, repair role drift and read the audit. Members read."""

import pandas as pd
import streamlit as st

from app_pages import person as person_page
from app_pages import shell
from app_pages.person import bidi
from app_pages.widgets import md
from p2p_store.accounts import consistency, directory, lifecycle
from p2p_store.community import stats
from p2p_store.errors import one_line_error
from p2p_store.stores.models import ROLES

me = shell.page_guard(stores=("postgresql", "mongodb"))

if person_param := st.query_params.get("person"):  # a person's page: a deep link (#15.2)
    person_page.show(me, person_param)
    st.stop()
person_page.forget_shown()  # back on the list: a person opened later is read afresh

st.title("Users & roles")
st.caption("Accounts live in PostgreSQL; industry, city and expertise come from each person's MongoDB profile.")


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def load_page(search, role, industry, active, sort, descending, page, page_size):
    return directory.list_accounts(search=search, role=role, industry=industry, active=active, sort=sort,
                               descending=descending, page=page, page_size=page_size)


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def load_export(search, role, industry, active, sort, descending) -> bytes:
    rows = directory.export_accounts(search=search, role=role, industry=industry, active=active, sort=sort,
                                 descending=descending)
    return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_audit(person, admin):
    return directory.list_role_changes(person=person, admin=admin)


SORT_LABELS = {"full_name": "Name", "email": "Email", "company": "Company", "role": "Role",
               "is_active": "Active", "last_login_at": "Last sign-in", "created_at": "Joined"}
ACTIVE = {"All": None, "Active": True, "Inactive": False}

# ------------------------------------------------------------------ filters + table
f1, f2, f3, f4 = st.columns([3, 1, 2, 1])
search = f1.text_input("Search name, email or company", key="users_search", max_chars=200,
                       placeholder="e.g. Hassan, gulfplastics, Electronics")
role = f2.selectbox("Role", ["All", *ROLES], key="users_role")
industry = f3.selectbox("Industry", ["All", *directory.known_industries()], key="users_industry")
active_label = f4.selectbox("Status", list(ACTIVE), key="users_active")
s1, s2, s3, _ = st.columns([2, 1, 1, 3])
sort = s1.selectbox("Sort by", list(SORT_LABELS), format_func=SORT_LABELS.get, key="users_sort")
descending = s2.toggle("Descending", key="users_desc")
page_size = s3.selectbox("Per page", [25, 50, 100], key="users_page_size")
filters = (search, None if role == "All" else role, None if industry == "All" else industry,
           ACTIVE[active_label], sort, descending)
if st.session_state.get("users_filters") != filters:  # new filters start at page 1
    st.session_state["users_filters"] = filters
    st.session_state["users_page"] = 1

page_no = st.session_state.get("users_page", 1)
result = shell.call(load_page, *filters, page_no, page_size)
if result is not None:
    if result.total == 0:
        st.info("No accounts match these filters.")
    else:
        rows = result.rows
        table = pd.DataFrame(rows).drop(columns=["id", "version", "profile_role", "created_at"])
        for column in ("full_name", "company", "city", "job_title", "expertise"):  # plain-text dir="auto" (#15.6)
            table[column] = table[column].map(lambda x: f"\u2068{x}\u2069" if x else x)
        picked = st.dataframe(table, hide_index=True, width="stretch", key="users_table", on_select="rerun",
                              selection_mode="multi-row", column_config={
            # fixed widths: a mixed-direction company stays inside its cell (#15.6)
            "full_name": st.column_config.TextColumn("Name", width=170),
            "email": st.column_config.TextColumn("Email", width=270),
            "company": st.column_config.TextColumn("Company", width=330), "role": "Role",
            "industry": "Industry", "city": "City", "expertise": "Expertise", "job_title": "Job title",
            "is_active": st.column_config.CheckboxColumn("Active"),
            "last_login_at": st.column_config.DatetimeColumn("Last sign-in (UTC)", format="YYYY-MM-DD HH:mm"),
        })
        selected = [rows[i] for i in picked.selection.rows if i < len(rows)]
        st.session_state["users_selected"] = selected
        if len(selected) == 1:
            st.button(f"Open {bidi(selected[0]['full_name'])}'s page", key="open_person", icon=":material/person:",
                      type="primary", on_click=person_page.open_person, args=(selected[0]["id"],))
        elif not selected:
            st.caption("Select a row to open that person's page" + (", or several rows to change their roles."
                                                                   if me.is_admin else "."))
        p1, p2, p3 = st.columns([2, 2, 3])
        p1.number_input(f"Page (of {result.pages})", min_value=1, max_value=result.pages, key="users_page")
        p2.caption(f"{result.total:,} account{'s' if result.total != 1 else ''} · showing {len(result.rows)}")
        def export_csv(filters=filters) -> bytes:
            """Built only when the button is clicked (a whole filtered view can be thousands of rows)."""
            try:
                return load_export(*filters)
            except Exception as exc:  # noqa: BLE001 - the download carries the one-line reason instead
                return f"export failed: {one_line_error(exc)}\n".encode()

        p3.download_button("Download CSV of this view", export_csv, file_name="accounts.csv", mime="text/csv",
                           icon=":material/download:", key="users_csv")

# ------------------------------------------------------------------ admin: several roles at once
if me.is_admin:
    selected = st.session_state.get("users_selected", [])
    if selected:
        b1, b2, _ = st.columns([1, 1, 2], vertical_alignment="bottom")
        bulk_role = b1.selectbox("Set their role to", ROLES, key="bulk_role")

        def _close_bulk() -> None:
            st.session_state.pop("bulk_pending", None)

        # The pending change lives in session state so the dialog survives reruns until confirmed or dismissed.
        @st.dialog("Confirm role change", on_dismiss=_close_bulk)
        def confirm_bulk(chosen: list[dict], role: str) -> None:
            changing = [p for p in chosen if p["role"] != role]
            st.write(f"**{len(changing)}** of {len(chosen)} selected people will change to **{md(role)}**:")
            st.write(", ".join(f"{bidi(p['full_name'])} ({md(p['role'])} → {md(role)})" for p in changing) or "nobody")
            if st.button(f"Change {len(changing)} role{'s' if len(changing) != 1 else ''}", type="primary",
                         disabled=not changing, key="bulk_confirm"):
                outcomes = shell.call(directory.change_roles, actor_id=me.user_id, people=changing, new_role=role)
                shell.refresh_after_write(stats.ACCOUNTS)
                st.session_state["bulk_outcomes"] = outcomes or []
                _close_bulk()
                st.rerun()

        if b2.button(f"Set role for {len(selected)} selected…", key="bulk_open", icon=":material/badge:"):
            st.session_state["bulk_pending"] = {"people": selected, "role": bulk_role}
        if pending := st.session_state.get("bulk_pending"):
            confirm_bulk(pending["people"], pending["role"])
    for line in st.session_state.pop("bulk_outcomes", []):
        (st.success if line["ok"] else st.error)(md(line["message"]))  # names the person

# ------------------------------------------------------------------ admin: create an account
if me.is_admin:
    industries = ["", *directory.known_industries()]
    with st.expander("Create an account", icon=":material/person_add:"):
        with st.form("create_account", clear_on_submit=False):
            c1, c2 = st.columns(2)
            name = c1.text_input("Name", key="new_name", max_chars=120)
            email = c2.text_input("Email", key="new_email", max_chars=254)
            company = c1.text_input("Company", key="new_company", max_chars=160)
            role_new = c2.selectbox("Role", ROLES, index=ROLES.index("user"), key="new_role")
            industry = c1.selectbox("Industry", industries, key="new_industry")
            city = c2.selectbox("City", ["", *lifecycle.known_cities()], key="new_city", accept_new_options=True)
            job = c1.text_input("Job title", key="new_job", max_chars=120)
            expertise = c2.text_input("Expertise (comma separated)", key="new_expertise", max_chars=700)
            create = st.form_submit_button("Create account", type="primary", icon=":material/person_add:")
        if create:
            made = shell.call(lifecycle.create_account, actor_id=me.user_id, full_name=name, email=email,
                              company=company, role=role_new, industry=industry, city=city or "", job_title=job,
                              expertise=expertise)
            if made:
                shell.refresh_after_write(stats.ACCOUNTS)
                st.success(f"Created {bidi(made['full_name'])} ({md(made['role'])}). One-time password — shown only now; "
                           f"they set their own at first sign-in:", icon=":material/check_circle:")
                st.code(made["temporary_password"], language=None)
                st.button(f"Open {bidi(made['full_name'])}'s page", key="open_created",
                          on_click=person_page.open_person, args=(made["id"],))

# ------------------------------------------------------------------ drift
st.divider()
st.subheader("Role drift between the stores")
cached_drift = shell.call(consistency.cached_drift_report)  # a pass over both stores: the figure cache (#17)
drift = None if cached_drift is None else cached_drift.value
if cached_drift is not None:
    st.caption(f"Checked at {cached_drift.as_of:%H:%M:%S} UTC"
               + (" (checking again…)" if cached_drift.refreshing else "")
               + "; checked again every minute and after any change you make.")
    if not drift:
        st.success("Every account's role is the same in PostgreSQL and MongoDB.", icon=":material/check_circle:")
    else:
        st.warning(f"{len(drift)} problem(s) found: PostgreSQL is the source of truth.", icon=":material/sync_problem:")
        st.dataframe(pd.DataFrame(drift), hide_index=True, width="stretch")
        if me.is_admin and st.button("Repair from PostgreSQL", key="repair_drift", icon=":material/build:"):
            fixed = shell.call(consistency.repair_drift, actor_id=me.user_id)
            if fixed is not None:
                shell.refresh_after_write(stats.ACCOUNTS)
                shell.notify(f"Repaired {len(fixed)} row(s)", icon=":material/build:")
                st.rerun()

# ------------------------------------------------------------------ audit
st.divider()
st.subheader("Account audit")
a1, a2 = st.columns(2)
who = a1.text_input("Person (email contains)", key="audit_person", max_chars=200)
by = a2.text_input("Admin (email contains)", key="audit_admin", max_chars=200)
audit = shell.call(load_audit, who, by)
if audit is not None:
    if audit:
        st.dataframe(pd.DataFrame(audit), hide_index=True, width="stretch", column_config={
            "when": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "admin": "Done by", "person": "Person", "action": "Action", "old_role": "Role before",
            "new_role": "Role after", "postgresql": "PostgreSQL", "mongodb": "MongoDB",
            "note": st.column_config.TextColumn("Details", width="large")})
    else:
        st.caption("No account changes recorded for these filters.")
