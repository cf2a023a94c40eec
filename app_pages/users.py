"""Users & roles: accounts joined with profiles; admins change roles (one, or several at once),
repair role drift and read the audit. Members see the same table read-only."""

import pandas as pd
import streamlit as st

from app_pages import shell
from p2p_store import consistency, users
from p2p_store.models import ROLES

me = shell.page_guard(stores=("postgresql", "mongodb"))

st.title("Users & roles")
st.caption("Accounts live in PostgreSQL; industry, city and expertise come from each person's MongoDB profile.")


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def load_page(search, role, industry, active, sort, descending, page, page_size):
    return users.list_accounts(search=search, role=role, industry=industry, active=active, sort=sort,
                               descending=descending, page=page, page_size=page_size)


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def load_export(search, role, industry, active, sort, descending) -> bytes:
    rows = users.export_accounts(search=search, role=role, industry=industry, active=active, sort=sort,
                                 descending=descending)
    return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load_people():
    return users.people_choices()


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load_drift():
    return consistency.drift_report()


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def load_audit(person, admin):
    return users.list_role_changes(person=person, admin=admin)


SORT_LABELS = {"full_name": "Name", "email": "Email", "company": "Company", "role": "Role",
               "is_active": "Active", "last_login_at": "Last sign-in", "created_at": "Joined"}
ACTIVE = {"All": None, "Active": True, "Inactive": False}

# ------------------------------------------------------------------ filters + table
f1, f2, f3, f4 = st.columns([3, 1, 2, 1])
search = f1.text_input("Search name, email or company", key="users_search", max_chars=200,
                       placeholder="e.g. Hassan, gulfplastics, Electronics")
role = f2.selectbox("Role", ["All", *ROLES], key="users_role")
industry = f3.selectbox("Industry", ["All", *users.known_industries()], key="users_industry")
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
        table = pd.DataFrame(result.rows).drop(columns=["id", "version", "profile_role", "created_at"])
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "full_name": "Name", "email": "Email", "company": "Company", "role": "Role",
            "industry": "Industry", "city": "City", "expertise": "Expertise", "job_title": "Job title",
            "is_active": st.column_config.CheckboxColumn("Active"),
            "last_login_at": st.column_config.DatetimeColumn("Last sign-in", format="YYYY-MM-DD HH:mm"),
        })
        p1, p2, p3 = st.columns([2, 2, 3])
        p1.number_input(f"Page (of {result.pages})", min_value=1, max_value=result.pages, key="users_page")
        p2.caption(f"{result.total:,} account(s) · showing {len(result.rows)}")
        csv = shell.call(load_export, *filters)
        if csv is not None:
            p3.download_button("Download CSV of this view", csv, file_name="accounts.csv", mime="text/csv",
                               icon=":material/download:", key="users_csv")

# ------------------------------------------------------------------ admin: change roles
if me.is_admin:
    st.divider()
    st.subheader("Change a role")
    people = shell.call(load_people) or []
    by_id = {p["id"]: p for p in people}
    col_form, col_bulk = st.columns(2, gap="large")
    with col_form:
        person_id = st.selectbox("Person", [p["id"] for p in people], key="role_person", index=None,
                                 placeholder="Pick a person",
                                 format_func=lambda i: f"{by_id[i]['full_name']} · {by_id[i]['email']}")
        if person_id:
            person = by_id[person_id]
            with st.form("role_form"):
                st.markdown(f"Current role: **{person['role']}**")
                new_role = st.selectbox("New role", ROLES, index=ROLES.index(person["role"]), key="role_new")
                st.caption(f"On save: {person['role']} → {new_role}, in PostgreSQL and MongoDB together.")
                save = st.form_submit_button("Save role", type="primary", icon=":material/save:")
            if save:
                done = shell.call(users.change_role, actor_id=me.user_id, user_id=person_id, new_role=new_role,
                                  expected_version=person["version"])
                if done:
                    shell.refresh_after_write()
                    st.toast(f"{done['full_name']}: {done['old_role']} → {done['new_role']}", icon="✅")
                    st.session_state["role_result"] = (f"{done['full_name']} is now **{done['new_role']}** "
                                                       f"(was {done['old_role']}).")
                    st.rerun()
        if msg := st.session_state.pop("role_result", None):
            st.success(msg, icon=":material/check_circle:")

    with col_bulk:
        chosen = st.multiselect("Several people", [p["id"] for p in people], key="bulk_people",
                                format_func=lambda i: f"{by_id[i]['full_name']} ({by_id[i]['role']})")
        bulk_role = st.selectbox("Set their role to", ROLES, key="bulk_role")

        def _close_bulk() -> None:
            st.session_state.pop("bulk_pending", None)

        # The pending change lives in session state so the dialog survives reruns until confirmed or dismissed.
        @st.dialog("Confirm role change", on_dismiss=_close_bulk)
        def confirm_bulk(ids: list[str], role: str) -> None:
            changing = [by_id[i] for i in ids if by_id[i]["role"] != role]
            st.write(f"**{len(changing)}** of {len(ids)} selected people will change to **{role}**:")
            st.write(", ".join(f"{p['full_name']} ({p['role']} → {role})" for p in changing) or "nobody")
            if st.button("Confirm", type="primary", disabled=not changing, key="bulk_confirm"):
                outcomes = shell.call(users.change_roles, actor_id=me.user_id, people=changing, new_role=role)
                shell.refresh_after_write()
                st.session_state["bulk_outcomes"] = outcomes or []
                _close_bulk()
                st.rerun()

        if st.button("Set role…", disabled=not chosen, key="bulk_open"):
            st.session_state["bulk_pending"] = {"ids": chosen, "role": bulk_role}
        if pending := st.session_state.get("bulk_pending"):
            confirm_bulk(pending["ids"], pending["role"])
        for line in st.session_state.pop("bulk_outcomes", []):
            (st.success if line["ok"] else st.error)(line["message"])

# ------------------------------------------------------------------ drift
st.divider()
st.subheader("Role drift between the stores")
drift = shell.call(load_drift)
if drift is not None:
    if not drift:
        st.success("Every account's role is the same in PostgreSQL and MongoDB.", icon=":material/check_circle:")
    else:
        st.warning(f"{len(drift)} problem(s) found: PostgreSQL is the source of truth.", icon=":material/sync_problem:")
        st.dataframe(pd.DataFrame(drift), hide_index=True, width="stretch")
        if me.is_admin and st.button("Repair from PostgreSQL", key="repair_drift", icon=":material/build:"):
            fixed = shell.call(consistency.repair_drift, actor_id=me.user_id)
            if fixed is not None:
                shell.refresh_after_write()
                st.toast(f"Repaired {len(fixed)} row(s)", icon="🛠️")
                st.rerun()

# ------------------------------------------------------------------ audit
st.divider()
st.subheader("Role-change audit")
a1, a2 = st.columns(2)
who = a1.text_input("Person (email contains)", key="audit_person", max_chars=200)
by = a2.text_input("Admin (email contains)", key="audit_admin", max_chars=200)
audit = shell.call(load_audit, who, by)
if audit is not None:
    if audit:
        st.dataframe(pd.DataFrame(audit), hide_index=True, width="stretch", column_config={
            "when": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss")})
    else:
        st.caption("No role changes recorded for these filters.")
