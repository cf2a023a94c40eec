"""Data admin (admins only): reseed and reset both stores with progress and a safety catch, a dry
run, the migration status, and the system configuration with audit.

A reseed or reset runs in its own thread (``seed.jobs.SeedJob``) and the page polls its progress: a
rerun of this page (a click, the dialog closed, another page opened) must not stop it halfway.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd
import streamlit as st

from app_pages import shell
from app_pages.widgets import code, md
from p2p_store import health
from p2p_store.data import config, explorer
from p2p_store.settings import get_settings
from p2p_store.stores import schema
from seed import loader
from seed.jobs import SeedJob

me = shell.page_guard(roles=("admin",), stores=("postgresql", "mongodb"))
production = get_settings().is_production
PRODUCTION_REASON = ("Disabled in production (P2P_ENV=production): reseed and reset would replace real data. "
                     "The service refuses them too.")
SCALES = {0: "Demo only", 1: "Scale 1", 5: "Scale 5", 20: "Scale 20"}
MAX_RANDOM_SEED = 2**31 - 1
COLLECTIONS = {  # count key -> (store, label), in the order the page lists them
    "users": ("postgresql", "Accounts"),
    "profiles": ("mongodb", "Profiles"),
    "use_cases": ("mongodb", "Use cases"),
    "forum_posts": ("mongodb", "Forum posts"),
    "forum_replies": ("mongodb", "Forum replies"),
}
JOB_KEY = "data_admin_job"
ASK_KEY = "data_admin_reseed_ask"


@st.cache_data(ttl=5, max_entries=1, show_spinner=False)
def load_counts() -> dict[str, int]:
    return loader.current_counts(fresh=False)  # the sizes from the figure cache (#17)


@st.cache_data(ttl=30, max_entries=1, show_spinner=False)
def load_last_seed() -> dict[str, Any] | None:
    return loader.last_seed()


@st.cache_data(ttl=3600, max_entries=16, show_spinner="Working out what a reseed would write…")
def load_plan(scale: int, random_seed: int) -> dict[str, int]:
    # What a reseed writes depends only on (scale, random seed): generating it takes seconds at scale 20.
    return loader.plan(scale=scale, random_seed=random_seed)["would_write"]


@st.cache_data(ttl=30, max_entries=1, show_spinner=False)
def load_migration() -> dict[str, Any]:
    return schema.migration_status()


@st.cache_data(ttl=30, max_entries=1, show_spinner=False)
def load_configs() -> list[dict[str, Any]]:
    return config.list_configs()


@st.cache_data(ttl=30, max_entries=1, show_spinner=False)
def load_config_changes() -> list[dict[str, Any]]:
    return config.list_config_changes(limit=20)


def upgrade_schema() -> bool:
    schema.upgrade_to_head()
    return True


def comparison(before: dict[str, int], after: dict[str, int] | None) -> pd.DataFrame:
    """One row per table/collection: store, now, after (when known)."""
    rows = []
    for key, (store, label) in COLLECTIONS.items():
        row = {"Store": shell.STORE_LABEL[store], "Data": label, "Now": before.get(key, 0)}
        if after is not None:
            row["After"] = after.get(key, 0)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ a reseed or reset in its own thread


def ask_reseed(scale: int, random_seed: int) -> None:
    """Button callback: open the confirmation dialog for these choices."""
    st.session_state[ASK_KEY] = (scale, random_seed)


def start_job(kind: str, **kwargs: Any) -> None:
    """Button callback: start a reseed or reset for the signed-in admin (the loader re-checks the role)."""
    st.session_state.pop(ASK_KEY, None)
    st.session_state[JOB_KEY] = SeedJob(kind, actor_id=me.user_id, actor_email=me.email, **kwargs)


def _bar_state(job: SeedJob, event: loader.Progress | None) -> tuple[float, str]:
    if event is None:
        return (1.0, "done") if job.done and job.error is None else (0.0, "waiting")
    if event.total == 0:
        return (1.0, "emptied") if job.kind == "reset" else (0.0, "emptied")
    return min(event.done / event.total, 1.0), f"{event.done:,} of {event.total:,}"


def show_job(job: SeedJob) -> None:
    """The job's progress, one bar per store and collection, until it ends; then counts and duration."""
    # Blue/green (seed/loader.py, #19): the MongoDB database not live, one PostgreSQL transaction, the pointer.
    label = ("Reseeding: building the new data beside the live data (MongoDB's other database), then "
             "replacing PostgreSQL in one transaction and switching both over at once…" if job.kind == "reseed"
             else "Emptying both stores…")
    with st.status(label, expanded=True) as status:
        bars = {}
        for key, (store, label) in COLLECTIONS.items():
            bars[(store, key)] = (st.progress(0.0, text=f"{shell.STORE_LABEL[store]} · {label}: waiting"),
                                  f"{shell.STORE_LABEL[store]} · {label}")
        while True:
            finished = job.done  # read before the snapshot, so the last events are drawn
            snapshot = dict(job.progress)
            for key, (bar, label) in bars.items():
                value, text = _bar_state(job, snapshot.get(key))
                bar.progress(value, text=f"{label}: {text}")
            if finished:
                break
            time.sleep(0.2)  # seconds between redraws
        if job.error:
            status.update(label=f"{job.kind.capitalize()} did not run", state="error", expanded=True)
            st.error(md(job.error), icon=":material/error:")
        else:
            result = job.result or {}
            took = result.get("duration_s", 0)
            if job.kind == "reseed":
                status.update(label=f"Reseeded in {took:.1f} s (scale {result.get('scale')}, "
                                    f"random seed {result.get('random_seed')})", state="complete", expanded=True)
                counts = result.get("counts", {})
                st.dataframe(comparison(counts, None).rename(columns={"Now": "Written"}), hide_index=True)
                mongo_rate = (result.get("mongodb") or {}).get("documents_per_s")
                st.caption(f"PostgreSQL {result['postgresql']['seconds']:.2f} s · MongoDB "
                           f"{result['mongodb']['seconds']:.2f} s ({mongo_rate or '–'} documents/s) · "
                           "you stay signed in.")
            else:
                status.update(label=f"Both stores emptied in {took:.1f} s", state="complete", expanded=True)
    if job.error is None and not job.caches_cleared:
        job.caches_cleared = True
        shell.refresh_after_write()  # every page shows the new data at once
        health.clear_cache()  # consistency counts describe the old data
        explorer.forget_samples()  # so do the explorer's cached Mongo samples
        if job.kind == "reseed":
            st.rerun()  # redraw the counts above with the new data
    if job.kind == "reset" and job.error is None:
        st.info("Both stores are empty and your account with them: the next click signs you out. Run "
                "`python -m seed` (or `python -m p2p_store up` then `python -m seed`) to load the demo set.",
                icon=":material/info:")
    elif st.button("Clear this result", key=f"job_dismiss_{job.kind}", type="tertiary"):
        st.session_state.pop(JOB_KEY, None)
        st.rerun()


# ------------------------------------------------------------------ page

st.title("Data admin")
st.caption("Reseed or empty both stores, check migrations, edit the system configuration. Admins only.")
if production:
    st.warning(PRODUCTION_REASON, icon=":material/lock:")

counts = shell.call(load_counts)
if counts is not None:
    cols = st.columns(len(COLLECTIONS))
    for col, (key, (store, label)) in zip(cols, COLLECTIONS.items(), strict=True):
        col.metric(label, f"{counts.get(key, 0):,}", help=f"In {shell.STORE_LABEL[store]}")
last = shell.call(load_last_seed)
if last:
    st.caption(f"Last reseed: scale {last.get('scale')}, random seed {last.get('random_seed')}, by "
               f"{md(last.get('by'))} at {last.get('finished_at')} in {last.get('duration_s')} s.")

# ------------------------------------------------------------------ reseed
st.divider()
st.subheader("Reseed")
st.markdown("Replace the data of **both stores** with the demo set (3 accounts, 17 use cases, 4 forum posts "
            "with their replies) plus, at a scale above 0, a synthetic set made from the random seed "
            "(the same seed gives the same data). Schema, indexes and system configuration stay.")
job: SeedJob | None = st.session_state.get(JOB_KEY)
busy = job is not None and not job.done
c1, c2, c3 = st.columns([2, 1, 2], vertical_alignment="bottom")
scale = c1.segmented_control("Scale", list(SCALES), format_func=SCALES.get, default=0, required=True,
                             key="seed_scale", help="Scale N adds about N×100 people, N×50 posts, N×500 "
                             "replies and N×100 use cases.")
random_seed = int(c2.number_input("Random seed", min_value=0, max_value=MAX_RANDOM_SEED, value=42, step=1,
                                  key="seed_random", help="Seed of the synthetic generator."))
with c3:
    b1, b2 = st.columns(2)
    dry_run = b1.button("Dry run", key="seed_dry_run", icon=":material/preview:",
                        help="Show what a reseed would write, without writing.")
    b2.button("Reseed…", key="seed_open", type="primary", icon=":material/restart_alt:",
              disabled=production or busy, help=PRODUCTION_REASON if production else None,
              on_click=ask_reseed, args=(scale, random_seed))
if dry_run:
    after = shell.call(load_plan, scale, random_seed)
    if after is not None and counts is not None:
        st.markdown(f"**Dry run** — a reseed at {SCALES[scale].lower()} with random seed {random_seed} would "
                    "write (nothing was written):")
        st.dataframe(comparison(counts, after), hide_index=True)


@st.dialog("Replace the data of both stores?", width="large",
           on_dismiss=lambda: st.session_state.pop(ASK_KEY, None))
def confirm_reseed(scale: int, random_seed: int) -> None:
    if ASK_KEY not in st.session_state:  # "Replace the data" was clicked: its callback started the job
        st.rerun()  # the whole page, so the progress shows and the dialog closes
    st.markdown(f"A reseed at **{SCALES[scale].lower()}** with random seed **{random_seed}** replaces:")
    st.markdown("- **PostgreSQL**: every account and the role-change audit (sign-ins of people who are in the "
                "new set are kept, so you stay signed in);\n"
                "- **MongoDB**: every profile, use case, forum post and reply.\n\n"
                "Schema, indexes, validators and system configuration stay. The new data is built beside the "
                "live data and swapped in only when complete: every page shows the current data until then, "
                "and a failure before the PostgreSQL commit leaves it untouched.")
    before = shell.call(loader.current_counts)  # fresh, not cached: this is what gets replaced
    after = shell.call(load_plan, scale, random_seed)
    if before is None or after is None:
        return
    st.dataframe(comparison(before, after), hide_index=True)
    d1, d2 = st.columns(2)
    d1.button("Replace the data", key="seed_confirm", type="primary", icon=":material/restart_alt:",
              disabled=production, on_click=start_job, args=("reseed",),
              kwargs={"scale": scale, "random_seed": random_seed})
    if d2.button("Cancel", key="seed_cancel"):
        st.session_state.pop(ASK_KEY, None)
        st.rerun()


if job is not None and job.kind == "reseed":
    show_job(job)
if ask := st.session_state.get(ASK_KEY):
    if busy:
        st.session_state.pop(ASK_KEY, None)
    else:
        confirm_reseed(*ask)

# ------------------------------------------------------------------ reset
st.divider()
st.subheader("Reset")
st.markdown("Empty **both stores**: every account (yours too — you will be signed out), profile, use case, "
            "post and reply. Schema, indexes and system configuration stay; reseed to get the demo set back.")
st.warning("**Reset signs everyone out, you included, and leaves no account.** The way back in: the sign-in "
           "page offers **Load the demo data** (development), or run `python -m p2p_store create-admin "
           "--email you@company.com` on the server (any environment).", icon=":material/logout:")
r1, r2 = st.columns([2, 1], vertical_alignment="bottom")
typed = r1.text_input("Type RESET to confirm", key="reset_typed", max_chars=10, disabled=production,
                      placeholder="RESET", help=PRODUCTION_REASON if production else None)
reset_clicked = r2.button("Empty both stores", key="reset_go", icon=":material/delete_forever:",
                          disabled=production or busy or typed != "RESET",
                          help=PRODUCTION_REASON if production else "Type RESET first.")
if reset_clicked and typed == "RESET" and not busy:
    start_job("reset")
    job = st.session_state[JOB_KEY]
if job is not None and job.kind == "reset":
    show_job(job)

# ------------------------------------------------------------------ migrations
st.divider()
st.subheader("Migrations")
migration = shell.call(load_migration)
if migration is not None:
    m1, m2, m3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    m1.metric("Current revision", migration["current"] or "none")
    m2.metric("Head", migration["head"] or "none")
    if migration["current"] == migration["head"]:
        m3.success("The PostgreSQL schema is at head.", icon=":material/check_circle:")
    else:
        m3.warning("The PostgreSQL schema is behind the code.", icon=":material/update:")
        if st.button("Upgrade to head", key="migrate_up", type="primary", icon=":material/upgrade:"):
            with st.spinner("Applying migrations…"):
                upgraded = shell.call(upgrade_schema)
            if upgraded:
                shell.refresh_after_write()
                health.clear_cache()
                st.rerun()

# ------------------------------------------------------------------ system configuration
st.divider()
st.subheader("System configuration")
configs = shell.call(load_configs)
if configs is not None:
    if not configs:
        st.caption("No configuration rows yet (a reseed writes `last_seed`).")
    else:
        st.dataframe(pd.DataFrame([{
            "Key": c["key"], "Value": json.dumps(c["value"], default=str)[:160], "Description": c["description"],
            "Updated": c["updated_at"], "By": c["updated_by"]} for c in configs]), hide_index=True,
            column_config={"Updated": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})
        st.caption(f"Edit a value as a JSON object (at most {config.MAX_VALUE_CHARS:,} characters). Each edit is "
                   "recorded in the audit with your email.")
        for row in configs:
            key = row["key"]
            with st.expander(f"Edit {code(key)}", icon=":material/edit:"):
                text = st.text_area("Value (JSON object)", json.dumps(row["value"], indent=2, default=str),
                                    key=f"cfg_text_{key}", height=220, max_chars=config.MAX_VALUE_CHARS)
                if st.button("Save", key=f"cfg_save_{key}", icon=":material/save:"):
                    saved = shell.call(config.update_config, actor_id=me.user_id, key=key, value_text=text,
                                       expected_updated_at=row["updated_at"])
                    if saved is not None:
                        shell.refresh_after_write()
                        st.session_state.pop(f"cfg_text_{key}", None)  # re-read from the saved row
                        st.session_state["cfg_saved"] = f"Saved {code(key)}."
                        st.rerun()
    if saved_msg := st.session_state.pop("cfg_saved", None):
        st.success(saved_msg, icon=":material/check_circle:")
    changes = shell.call(load_config_changes)
    if changes:
        st.caption("Recent configuration edits")
        st.dataframe(pd.DataFrame(changes), hide_index=True, column_config={
            "when": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
            "admin": "Admin", "key": "Key"})
