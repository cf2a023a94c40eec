"""Audit explorer (admins, #16.4): the event log filtered by actor, person, action, MongoDB outcome
and time range (bound to the URL, so a view can be shared), paged on an index (keyset on id),
exported as exactly the filtered rows (CSV, formula-safe, and JSON), with undo of an event and a
person's timeline."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from app_pages import shell
from app_pages.person_history import person_history, shown
from app_pages.widgets import md
from p2p_store import audit, undo

me = shell.page_guard(roles=("admin",), stores=("postgresql",))

st.title("Audit log")
st.caption("Every change, with its values before and after and its outcome in each store. "
           "The log is append-only; a reseed or a reset adds its own event and keeps the rest.")

PAGES_KEY, VIEW_KEY = "audit_pages", "audit_view"
ANY = "any"


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def load_actors() -> list[str]:
    return audit.actor_emails()


@st.cache_data(ttl=5, max_entries=64, show_spinner=False)
def load_page(flt: audit.EventFilter, before_id: int | None, limit: int) -> list[dict]:
    return audit.list_events(flt, before_id=before_id, limit=limit)


def _start(day: object) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None  # type: ignore[arg-type]


with st.sidebar:
    st.subheader("Filter the log", divider="gray")
    # Options are the stored values (no format_func), so a shared URL reads ?action=change_role&outcome=pending.
    actor = st.selectbox("Actor", [ANY, *(shell.call(load_actors) or [])], key="actor", bind="query-params")
    person = st.text_input("Person (email or id) or config key", key="person", bind="query-params", max_chars=254)
    action = st.selectbox("Action", [ANY, *audit.ACTION_LABELS], key="action", bind="query-params")
    outcome = st.selectbox("MongoDB outcome", [ANY, *audit.OUTCOMES], key="outcome", bind="query-params")
    since = st.date_input("From (UTC)", value=None, key="from", bind="query-params")
    until = st.date_input("To (UTC, inclusive)", value=None, key="to", bind="query-params")
    page_size = st.selectbox("Events per page", [25, 50, 100], index=1, key="per_page", bind="query-params")

flt = audit.EventFilter(actor="" if actor == ANY else actor, person=person.strip(),
                        action="" if action == ANY else action, outcome="" if outcome == ANY else outcome,
                        since=_start(since),
                        until=_start(until) + timedelta(days=1) if until else None)
if st.session_state.get(VIEW_KEY) != (flt, page_size):
    st.session_state[VIEW_KEY] = (flt, page_size)
    st.session_state[PAGES_KEY] = [None]
cursors: list[int | None] = st.session_state[PAGES_KEY]

rows = shell.call(load_page, flt, cursors[-1], page_size)
if rows is None:
    st.stop()

table = [{"#": r["id"], "when": r["at"], "actor": r["actor"], "action": audit.ACTION_LABELS.get(r["action"], r["action"]),
          "object": r["object_email"] or r["object_id"], "changes": audit.readable(r["before"], r["after"]) or r["note"],
          "PostgreSQL": r["postgresql"],
          "MongoDB": "pending in MongoDB" if r["mongodb"] == "pending" else r["mongodb"],
          "reverts": r["reverts"], "request": r["request_id"][:8]} for r in rows]
st.dataframe(table, hide_index=True, width="stretch", key="audit_table",
             column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})

p1, p2, p3, p4, p5 = st.columns([1, 1, 2, 2, 2])
if p1.button("Newer", icon=":material/chevron_left:", disabled=len(cursors) == 1, key="audit_newer"):
    cursors.pop()
    st.rerun()
if p2.button("Older", icon=":material/chevron_right:", disabled=len(rows) < page_size, key="audit_older"):
    cursors.append(rows[-1]["id"])
    st.rerun()
p3.caption(f"Page {len(cursors)} · {len(rows)} event(s)")
p4.download_button("CSV of the filtered rows", lambda: audit.to_csv(audit.export_events(flt)),
                   file_name="events.csv", mime="text/csv", icon=":material/download:", key="audit_csv")
p5.download_button("JSON of the filtered rows", lambda: audit.to_json(audit.export_events(flt)),
                   file_name="events.json", mime="application/json", icon=":material/download:", key="audit_json")

# ------------------------------------------------------------------ undo

revertible = [r for r in rows if r["action"] in undo.REVERTIBLE]
st.subheader("Undo a change", divider="gray")
if not revertible:
    st.caption("No revertible event on this page (role changes, profile edits, (de)activations, config edits).")
else:
    labels = {r["id"]: f"#{r['id']} · {audit.ACTION_LABELS[r['action']]} · {r['object_email'] or r['object_id']} · "
                       f"{audit.readable(r['before'], r['after'])}" for r in revertible}
    chosen = st.selectbox("Event to revert", list(labels), format_func=labels.get, key="audit_revert_pick")
    plan = shell.call(undo.preview_revert, actor_id=me.user_id, event_id=chosen)
    if plan and plan["blocked"]:
        st.warning(md(plan["blocked"]), icon=":material/block:")  # may quote stored values
    elif plan:
        st.markdown("A revert will change:")
        st.table([{"field": c["field"], "now": shown(c["now"]), "after the revert": shown(c["after_revert"])}
                  for c in plan["changes"]])
        if st.button("Revert this change", type="primary", icon=":material/undo:", key="audit_revert"):
            done = shell.call(undo.revert_event, actor_id=me.user_id, event_id=chosen)
            if done is not None:
                pending = done.get("mongo_outcome") == "pending"
                shell.notify(f"Reverted event #{chosen}" + (" (pending in MongoDB)" if pending else "."))
                shell.refresh_after_write()
                st.rerun()

# ------------------------------------------------------------------ a person's timeline

if person.strip():
    st.subheader(f"History of {md(person)}", divider="gray")  # typed (and in the URL)
    person_history(person.strip())
