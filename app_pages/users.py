"""Users & roles: accounts joined with profiles; admins change roles (one, or several at once),
repair role drift and read the audit. Members see the same table read-only."""

import pandas as pd
import streamlit as st

from app_pages import shell
from p2p_store import health
from p2p_store.accounts import consistency, directory, lifecycle
from p2p_store.stores.models import ROLES

me = shell.page_guard(stores=("postgresql", "mongodb"))

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


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load_people():
    return directory.people_choices()


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load_drift():
    return consistency.drift_report()


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
        def export_csv(filters=filters) -> bytes:
            """Built only when the button is clicked (a whole filtered view can be thousands of rows)."""
            try:
                return load_export(*filters)
            except Exception as exc:  # noqa: BLE001 - the download carries the one-line reason instead
                return f"export failed: {health.one_line_error(exc)}\n".encode()

        p3.download_button("Download CSV of this view", export_csv, file_name="accounts.csv", mime="text/csv",
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
                st.caption("On save the role changes in PostgreSQL and MongoDB together, as one unit.")
                save = st.form_submit_button("Save role", type="primary", icon=":material/save:")
            if save:
                done = shell.call(directory.change_role, actor_id=me.user_id, user_id=person_id, new_role=new_role,
                                  expected_version=person["version"])
                if done:
                    shell.refresh_after_write()
                    st.session_state["role_result"] = done
                    st.rerun()
        if done := st.session_state.pop("role_result", None):
            st.toast(f"{done['full_name']}: {done['old_role']} → {done['new_role']}", icon=":material/check_circle:")
            st.success(f"{done['full_name']} is now **{done['new_role']}** (was {done['old_role']})."
                       + (" Pending in MongoDB: applied when it answers (#16)." if done.get("mongo_outcome") == "pending"
                          else ""), icon=":material/check_circle:")

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
                outcomes = shell.call(directory.change_roles, actor_id=me.user_id, people=changing, new_role=role)
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

# ------------------------------------------------------------------ admin: the whole life of an account
if me.is_admin:
    st.divider()
    st.subheader("Manage accounts")
    people = shell.call(load_people) or []
    by_id = {p["id"]: p for p in people}
    industries = ["", *directory.known_industries()]

    def pick_account(key: str) -> str | None:
        return st.selectbox("Account", list(by_id), index=None, key=key, placeholder="Pick a person",
                            format_func=lambda i: f"{by_id[i]['full_name']} · {by_id[i]['email']}"
                            + ("" if by_id[i]["is_active"] else " (inactive)"))

    t_create, t_edit, t_active, t_delete, t_password, t_sessions = st.tabs(
        ["Create", "Edit", "Deactivate / reactivate", "Delete", "Reset password", "Sign-ins"])

    with t_create:
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
                shell.refresh_after_write()
                st.success(f"Created {made['full_name']} ({made['role']}). One-time password — shown only now; "
                           f"they set their own at first sign-in:", icon=":material/check_circle:")
                st.code(made["temporary_password"], language=None)

    with t_edit:
        target = pick_account("edit_person")
        account = shell.call(directory.get_account, user_id=target) if target else None
        if account:
            with st.form("edit_account"):
                c1, c2 = st.columns(2)
                e_name = c1.text_input("Name", account["full_name"], key="edit_name", max_chars=120)
                e_email = c2.text_input("Email", account["email"], key="edit_email", max_chars=254)
                e_company = c1.text_input("Company", account["company"], key="edit_company", max_chars=160)
                e_industry = c2.selectbox("Industry", industries, key="edit_industry",
                                          index=industries.index(account["industry"])
                                          if account["industry"] in industries else 0)
                e_city = c1.text_input("City", account["city"], key="edit_city", max_chars=80)
                e_job = c2.text_input("Job title", account["job_title"], key="edit_job", max_chars=120)
                e_expertise = st.text_input("Expertise (comma separated)", account["expertise"], key="edit_expertise",
                                            max_chars=700)
                save_edit = st.form_submit_button("Save changes", type="primary")
            if save_edit:
                done = shell.call(lifecycle.update_account, actor_id=me.user_id, user_id=target,
                                  expected_version=account["version"], full_name=e_name, email=e_email,
                                  company=e_company, industry=e_industry, city=e_city, job_title=e_job,
                                  expertise=e_expertise)
                if done:
                    shell.refresh_after_write()
                    st.success(f"Saved: {done['changes']}", icon=":material/check_circle:")

    with t_active:
        target = pick_account("active_person")
        if target:
            person = by_id[target]
            verb = "Deactivate" if person["is_active"] else "Reactivate"
            st.caption("A deactivated person cannot sign in and their open sign-ins end at once."
                       if person["is_active"] else "Reactivating lets them sign in again.")
            if st.button(f"{verb} {person['full_name']}", key="toggle_active"):
                done = shell.call(lifecycle.set_active, actor_id=me.user_id, user_id=target,
                                  active=not person["is_active"], expected_version=person["version"])
                if done:
                    shell.refresh_after_write()
                    shell.notify(f"{person['full_name']} is now {'active' if done['is_active'] else 'inactive'}")
                    st.rerun()

    with t_delete:
        target = pick_account("delete_person")
        if target:
            st.warning(f"Deleting removes the account, its sign-ins and its profile. Their forum posts stay, "
                       f"shown as by “former member”. Type **{by_id[target]['email']}** to confirm.")
            typed = st.text_input("Email to confirm", key="delete_confirm", max_chars=254)
            if st.button("Delete account", type="primary", key="delete_account", icon=":material/delete:"):
                done = shell.call(lifecycle.delete_account, actor_id=me.user_id, user_id=target, confirm=typed)
                if done:
                    shell.refresh_after_write()
                    shell.notify(f"Deleted {done['full_name']}", icon=":material/delete:")
                    st.rerun()

    with t_password:
        target = pick_account("reset_person")
        if target and st.button("Issue a temporary password", key="reset_password"):
            done = shell.call(lifecycle.reset_password, actor_id=me.user_id, user_id=target)
            if done:
                st.success(f"{done['full_name']}: {done['sessions_ended']} sign-in(s) ended. One-time password "
                           "(shown only now):", icon=":material/key:")
                st.code(done["temporary_password"], language=None)

    with t_sessions:
        for row in shell.call(lifecycle.list_sessions, actor_id=me.user_id, current_token=me.token) or []:
            c1, c2, c3 = st.columns([3, 3, 2])
            c1.write(f"**{row['name']}** · {row['email']}")
            c2.caption(f"since {row['since']:%Y-%m-%d %H:%M} · last seen {row['last_seen']:%Y-%m-%d %H:%M}"
                       + (" · this browser" if row["current"] else ""))
            if not row["current"] and c3.button("End this sign-in", key=f"end_{row['session_id']}"):
                if shell.call(lifecycle.end_session, actor_id=me.user_id, session_id=row["session_id"]):
                    st.rerun()

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
            "when": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss")})
    else:
        st.caption("No account changes recorded for these filters.")
