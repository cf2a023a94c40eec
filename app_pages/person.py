"""A person's page (#15.2, Django admin's change form): ``/users?person=<id>``, a deep link.

Profile from both stores, role, active state, password reset, delete, sign-ins by device and history.

The page keeps the version of the account it shows (``SNAPSHOT``) until this admin writes or asks for
the current version: a click always reaches the control it was made on (a control keyed on a version
read afresh in the click's own run would lose the click), a change by someone else meanwhile is a
conflict, never silently overwritten, and every input's key carries that version, so after a write
the widgets start from the values now stored, with nothing left over from the previous action (#15.3).
A one-click action (deactivate, reactivate, a temporary password) is keyed by the person and what it
does, not by the version: a click made on it while the run after a write is still redrawing the page
reaches the redrawn button (keyed by the version, that click was lost and the person had to click
again, #17), and a button whose action no longer applies ("Deactivate" once inactive) is not drawn,
so the click does nothing.
"""

from __future__ import annotations

import itertools

import streamlit as st

from app_pages import shell
from app_pages.person_history import person_history
from app_pages.widgets import md
from p2p_store.accounts import auth, directory, lifecycle, people
from p2p_store.community import stats
from p2p_store.errors import Conflict
from p2p_store.vocabulary import ROLES

SNAPSHOT = "person_shown"  # {person id: the account as shown}
CONFLICT_KEY = "person_conflict"
RESULT_KEY = "person_result"  # a one-time password to show once after a reset
SIGN_INS_PER_PAGE = 10


def bidi(text: object) -> str:
    """Person-typed text for Markdown (headings, chips, toasts, labels): escaped first (``widgets.md``,
    #14.5), then isolated in its own direction (Unicode FSI … PDI, the plain-text ``dir="auto"``), so an
    Arabic name beside Latin text keeps its own order (#15.6). The isolates are not Markdown syntax."""
    return f"\u2068{md(text)}\u2069" if text else ""


def back_to_list() -> None:
    st.query_params.pop("person", None)
    forget_shown()


def open_person(person_id: str) -> None:
    """Button callback on the list: open this person's page, read afresh."""
    forget_shown()
    st.query_params["person"] = person_id


def forget_shown() -> None:
    """The next run reads the account afresh (after a write, or "Load the current version")."""
    st.session_state.pop(SNAPSHOT, None)
    st.session_state.pop(CONFLICT_KEY, None)


def act(fn, /, **kwargs):
    """Run one action; a conflict (someone changed this account meanwhile) is kept for the banner that
    offers "Load the current version"; any other refusal is a message (shell.call)."""
    conflicts: list[str] = []

    def run():
        try:
            return fn(**kwargs)
        except Conflict as exc:
            conflicts.append(str(exc))
            return None

    done = shell.call(run)
    if conflicts:
        st.session_state[CONFLICT_KEY] = conflicts[0]
        st.rerun()
    return done


def after_write(message: str, icon: str = ":material/check_circle:") -> None:
    forget_shown()
    shell.refresh_after_write(stats.ACCOUNTS)  # the list, the chips and the counts read again
    shell.notify(message, icon)
    st.rerun()


def _conflict_banner() -> None:
    if message := st.session_state.get(CONFLICT_KEY):
        st.warning(md(message), icon=":material/sync_problem:")  # may quote stored values
        if st.button("Load the current version", key="load_current", icon=":material/refresh:"):
            forget_shown()
            shell.refresh_after_write(stats.ACCOUNTS)
            st.rerun()  # still signed in: the session lives in the cookie and this tab's state


def _profile(person: dict) -> None:
    c1, c2, c3 = st.columns(3)
    c1.markdown(f"**Email**  \n{md(person['email'])}")
    c1.markdown(f"**Company**  \n{bidi(person['company']) or '—'}")
    c2.markdown(f"**Industry**  \n{md(person['industry']) or '—'}")
    c2.markdown(f"**City**  \n{bidi(person['city']) or '—'}")
    c3.markdown(f"**Job title**  \n{bidi(person['job_title']) or '—'}")
    c3.markdown(f"**Expertise**  \n{bidi(person['expertise']) or '—'}")
    joined = f"{person['created_at']:%Y-%m-%d}" if person.get("created_at") else "—"
    last = f"{person['last_login_at']:%Y-%m-%d %H:%M} UTC" if person.get("last_login_at") else "never"
    st.caption(f"Joined {joined} · last sign-in {last} · account in PostgreSQL, profile in MongoDB")
    if person.get("profile_role") and person["profile_role"] != person["role"]:
        st.warning(f"The MongoDB profile says {md(person['profile_role'])}; PostgreSQL (the source of truth) says "
                   f"{md(person['role'])}. Repair it under Role drift on the list.", icon=":material/sync_problem:")


def _edit_form(me: auth.SignedIn, person: dict, v: str) -> None:
    industries = ["", *directory.known_industries()]
    with st.form(f"edit_{v}"):
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", person["full_name"], max_chars=120, key=f"p_name_{v}")
        email = c2.text_input("Email", person["email"], max_chars=254, key=f"p_email_{v}")
        company = c1.text_input("Company", person["company"], max_chars=160, key=f"p_company_{v}")
        industry = c2.selectbox("Industry", industries, key=f"p_industry_{v}",
                                index=industries.index(person["industry"]) if person["industry"] in industries else 0)
        city = c1.text_input("City", person["city"], max_chars=80, key=f"p_city_{v}")
        job = c2.text_input("Job title", person["job_title"], max_chars=120, key=f"p_job_{v}")
        expertise = st.text_input("Expertise (comma separated)", person["expertise"], max_chars=700,
                                  key=f"p_expertise_{v}")
        save = st.form_submit_button("Save changes", type="primary", icon=":material/save:")
    if save:
        done = act(lifecycle.update_account, actor_id=me.user_id, user_id=person["id"],
                   expected_version=person["version"], full_name=name, email=email, company=company,
                   industry=industry, city=city, job_title=job, expertise=expertise)
        if done:
            after_write(f"Saved {bidi(name)}: {md(done['changes'])}")


def _role_and_state(me: auth.SignedIn, person: dict, v: str) -> None:
    left, right = st.columns(2, gap="large")
    with left, st.form(f"role_{v}"):
        st.markdown("**Role**")
        new_role = st.selectbox("New role", ROLES, index=ROLES.index(person["role"]), key=f"p_role_{v}")
        st.caption("Changes in PostgreSQL and MongoDB together, as one unit.")
        save = st.form_submit_button("Save role", icon=":material/badge:")
    if save:
        done = act(directory.change_role, actor_id=me.user_id, user_id=person["id"], new_role=new_role,
                   expected_version=person["version"])
        if done:
            after_write(f"{bidi(done['full_name'])}: {md(done['old_role'])} → {md(done['new_role'])}")
    with right:
        st.markdown("**Access**")
        if person["is_active"]:
            st.caption("Deactivating ends their open sign-ins at once; they cannot sign in until reactivated.")
        else:
            st.caption("Inactive: cannot sign in. Reactivating lets them sign in again.")
        verb = "Deactivate" if person["is_active"] else "Reactivate"
        if st.button(f"{verb} {bidi(person['full_name'])}", key=f"p_{verb.lower()}_{person['id']}",
                     icon=":material/person_off:" if person["is_active"] else ":material/person_check:"):
            done = act(lifecycle.set_active, actor_id=me.user_id, user_id=person["id"],
                       active=not person["is_active"], expected_version=person["version"])
            if done:
                state = "active" if done["is_active"] else "inactive"
                after_write(f"{bidi(person['full_name'])} is now {state}"
                            + (f" ({done['sessions_ended']} sign-in(s) ended)" if not done["is_active"] else ""))
        if st.button("Issue a temporary password", key=f"p_reset_{person['id']}", icon=":material/key:"):
            done = act(lifecycle.reset_password, actor_id=me.user_id, user_id=person["id"])
            if done:
                st.session_state[RESULT_KEY] = done
                after_write(f"{bidi(done['full_name'])}: temporary password issued", ":material/key:")
        if (done := st.session_state.get(RESULT_KEY)) and done["id"] == person["id"]:
            st.success(f"{done['sessions_ended']} sign-in(s) ended. One-time password (shown only now; they "
                       "set their own at first sign-in):", icon=":material/key:")
            st.code(done["temporary_password"], language=None)
            if st.button("Hide the password", key="p_reset_hide", type="tertiary"):
                st.session_state.pop(RESULT_KEY, None)
                st.rerun()


def _delete(me: auth.SignedIn, person: dict, v: str) -> None:
    with st.expander("Delete this account"):
        st.warning(f"Deleting removes the account, its sign-ins and its profile. Their forum posts stay, shown "
                   f"as by “former member”. Type **{md(person['email'])}** to confirm.")
        typed = st.text_input("Email to confirm", key=f"p_delete_typed_{v}", max_chars=254)
        if st.button("Delete account", type="primary", key=f"p_delete_{v}", icon=":material/delete:"):
            done = act(lifecycle.delete_account, actor_id=me.user_id, user_id=person["id"], confirm=typed)
            if done:
                back_to_list()
                after_write(f"Deleted {bidi(done['full_name'])}", ":material/delete:")


def _sign_ins(me: auth.SignedIn, person: dict) -> None:
    current = auth._token_hash(me.token)
    rows = shell.call(people.person_sessions, actor_id=me.user_id, user_id=person["id"], current_token_hash=current)
    if rows is None:
        return
    if not rows:
        st.caption("No open sign-ins.")
        return
    groups = [(device, list(items)) for device, items in
              itertools.groupby(sorted(rows, key=lambda r: (r["device"], r["user_agent"])), key=lambda r: r["device"])]
    pages = max((len(groups) + SIGN_INS_PER_PAGE - 1) // SIGN_INS_PER_PAGE, 1)
    page = st.number_input(f"Devices page (of {pages})", 1, pages, key=f"p_signins_page_{person['id']}") \
        if pages > 1 else 1
    st.caption(f"{len(rows)} open sign-in{'s' if len(rows) != 1 else ''} on {len(groups)} "
               f"device{'s' if len(groups) != 1 else ''}")
    for device, items in groups[(page - 1) * SIGN_INS_PER_PAGE: page * SIGN_INS_PER_PAGE]:
        with st.container(border=True):
            st.markdown(f"**{md(device)}** · {len(items)} sign-in{'s' if len(items) != 1 else ''}",
                        help=md(items[0]["user_agent"] or "no user agent sent"))  # the full user agent on hover (Markdown)
            for row in items:
                c1, c2 = st.columns([4, 1])
                c1.caption(f"since {row['since']:%Y-%m-%d %H:%M} · last seen {row['last_seen']:%Y-%m-%d %H:%M} · "
                           f"ends {row['expires']:%Y-%m-%d %H:%M} UTC" + (" · **this browser**" if row["current"] else ""))
                if not row["current"] and c2.button("End this sign-in", key=f"p_end_{row['session_id']}"):
                    if act(lifecycle.end_session, actor_id=me.user_id, session_id=row["session_id"]):
                        after_write("Sign-in ended", ":material/logout:")


def show(me: auth.SignedIn, person_id: str) -> None:
    """The whole person's page; admins act, everyone else reads the profile."""
    st.button("← All people", on_click=back_to_list, key="person_back", type="tertiary")
    shown = st.session_state.get(SNAPSHOT) or {}
    person = shown.get(person_id)
    if person is None:
        person = shell.call(directory.get_account, user_id=person_id)  # never from st.cache_data
        if person is not None:
            st.session_state[SNAPSHOT] = {person_id: person}
    if person is None:
        st.info("This person does not exist (any more). Go back to the list.", icon=":material/person_search:")
        return
    v = f"{person['id']}_{person['version']}"
    st.header(bidi(person["full_name"]), anchor=False)
    st.badge(person["role"], color="violet" if person["role"] == "admin" else "blue", icon=":material/badge:")
    if not person["is_active"]:
        st.badge("inactive", color="gray", icon=":material/person_off:")
    _conflict_banner()
    _profile(person)
    if me.is_admin:
        st.subheader("Edit", anchor=False)
        _edit_form(me, person, v)
        st.subheader("Role and access", anchor=False)
        _role_and_state(me, person, v)
        _delete(me, person, v)
    if me.is_admin or me.user_id == person["id"]:
        st.subheader("Sign-ins", anchor=False)
        _sign_ins(me, person)
    if me.is_admin:
        st.subheader("History", anchor=False)
        person_history(person["id"])
