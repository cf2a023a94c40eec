"""What every page shares: the cached store factories, the signed-in person, access checks,
error banners, and the sidebar. Pages stay thin: widgets here, logic in ``p2p_store``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import pymongo.errors
import sqlalchemy.exc
import streamlit as st

from app_pages.widgets import STORE_LABEL, md
from p2p_store import health, outbox
from p2p_store.accounts import auth
from p2p_store.community import stats
from p2p_store.errors import DomainError, one_line_error
from p2p_store.settings import SettingsError, get_settings
from p2p_store.stores import ready
from seed import loader

log = logging.getLogger("p2p_explorer.app")
T = TypeVar("T")

TOKEN_KEY = "auth_token"


# ------------------------------------------------------------------ stores (one pool per process)


@st.cache_resource(show_spinner="Connecting to PostgreSQL…")
def postgres_ready() -> str:
    """Reachable and migrated to head (``ready.ensure_store_ready``). Cached only on success, so a
    store that comes up later is picked up on the next rerun without restarting the app; a failure
    resets the handle, so the next try re-resolves the URL (and restarts the embedded server)."""
    return ready.ensure_store_ready("postgresql")


@st.cache_resource(show_spinner="Connecting to MongoDB…")
def mongodb_ready() -> str:
    """Reachable, collections, validators and indexes ensured (the embedded server may come back
    on another port: a failure resets the handle); then the changes left pending in MongoDB are
    applied, and a projector timer thread starts, once per process (#16)."""
    version = ready.ensure_store_ready("mongodb")
    try:
        outbox.apply_pending()
    except Exception as exc:  # noqa: BLE001 - PostgreSQL down: the timer retries
        log.warning("pending events not applied yet: %s", one_line_error(exc))
    outbox.start_background()
    return version


@st.cache_resource(show_spinner="First start: loading the demo data…")
def demo_data_on_first_start() -> bool:
    """Development only: empty stores get the demo set once (see seed.loader.seed_if_empty)."""
    if loader.seed_if_empty() is None:
        return False
    mongodb_ready()
    return True


_READY = {"postgresql": postgres_ready, "mongodb": mongodb_ready}


def stores_ready(*names: str, banner: bool = True) -> bool:
    """True when every named store answers; otherwise one clear banner (no traceback) and False."""
    ok = True
    for name in names:
        try:
            _READY[name]()
        except SettingsError as exc:
            st.error(f"Configuration problem: {exc}", icon=":material/settings:")
            ok = False
        except Exception as exc:  # noqa: BLE001 - a store that is down is a banner, not a crash
            log.warning("%s unavailable: %s", name, one_line_error(exc))
            if banner:
                st.error(f"**{STORE_LABEL[name]} is unavailable** — this page needs it. The rest of the app keeps "
                         f"working; this page recovers by itself when the store is back. "
                         f"({md(one_line_error(exc))})", icon=":material/cloud_off:")
            ok = False
    return ok


def _store_of(exc: BaseException) -> str:
    if isinstance(exc, pymongo.errors.PyMongoError):
        return "MongoDB"
    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError | psycopg.Error):
        return "PostgreSQL"
    return "A store"


def call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
    """Run a service call; a domain error or a store failure becomes a message on the page (None)."""
    try:
        return fn(*args, **kwargs)
    except DomainError as exc:  # its sentence may quote what was typed or stored: escaped
        st.error(md(str(exc)), icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - never a traceback on the page
        log.exception("service call failed")
        st.error(f"**{_store_of(exc)} did not answer** — {md(one_line_error(exc))}. Nothing was changed. This "
                 "page recovers by itself when the store is back; try again in a moment.", icon=":material/cloud_off:")
        for clear in _READY.values():  # the next run checks the stores again (and re-resolves the pools)
            clear.clear()
        # One banner, not one per call: every later call on this page would wait for the same dead store.
        st.stop()
    return None


def refresh_after_write(touched: frozenset[str] = stats.EVERYTHING) -> None:
    """After any write the person made: every cached read is stale, and the figures that read what the
    write ``touched`` (``stats.ACCOUNTS`` for a change to accounts; everything by default): the next
    read of one refreshes it and waits for it (#17)."""
    st.cache_data.clear()
    stats.invalidate(touched)


def notify(message: str, icon: str = ":material/check_circle:") -> None:
    """A toast that survives the ``st.rerun()`` which usually follows a write (a toast sent right
    before a rerun is lost); shown by :func:`show_notices` at the start of the next run."""
    st.session_state.setdefault("_notices", []).append((message, icon))


def show_notices() -> None:
    for message, icon in st.session_state.pop("_notices", []):
        st.toast(message, icon=icon)


# ------------------------------------------------------------------ who is signed in


_RESOLVED_KEY = "_me_this_run"


def current_user() -> auth.SignedIn | None:
    """The signed-in person, re-read from PostgreSQL on every run (an ended session signs out at once).

    ``app.py`` resolves it first in each run and leaves it for the page's guard, which takes it
    (once), so a run reads the session row once, not twice."""
    if _RESOLVED_KEY in st.session_state:
        return st.session_state.pop(_RESOLVED_KEY)
    return _resolve_user()


def resolve_for_this_run() -> auth.SignedIn | None:
    """For ``app.py``: resolve the person and keep the answer for the page guard of the same run."""
    me = _resolve_user()
    st.session_state[_RESOLVED_KEY] = me
    return me


def _resolve_user() -> auth.SignedIn | None:
    from app_pages import session_cookie  # the sign-in cookie (#15.1)

    token = st.session_state.get(TOKEN_KEY)
    from_cookie = None
    if not token:
        token = from_cookie = session_cookie.from_browser()
    if not token:
        try:
            postgres_ready()
            demo_data_on_first_start()  # cached per process; touches MongoDB only if it must seed
        except Exception as exc:  # noqa: BLE001 - the sign-in page shows the store banner
            log.warning("first-start check skipped: %s", one_line_error(exc))
        return None
    try:
        postgres_ready()
        me = auth.resolve_session(token=token)
    except Exception as exc:  # noqa: BLE001
        log.warning("session check failed: %s", one_line_error(exc))
        return None
    if me is None:
        st.session_state.pop(TOKEN_KEY, None)
        session_cookie.forget(token)
        if not from_cookie:  # a reload with a stale cookie is just the sign-in page
            st.session_state["signed_out_reason"] = "Your sign-in ended (expired or signed out elsewhere)."
    elif from_cookie:
        st.session_state[TOKEN_KEY] = token
    return me


def sign_in_as(email: str, password: str) -> bool:
    from app_pages import session_cookie

    user_agent = st.context.headers.get("User-Agent", "") if st.context.headers else ""
    me = call(auth.sign_in, email=email, password=password, user_agent=user_agent,
              replace_token=session_cookie.from_browser())  # one browser keeps one session row (#15.1)
    if me is None:
        return False
    st.session_state[TOKEN_KEY] = me.token
    st.session_state.pop("signed_out_reason", None)
    return True


def sign_out() -> None:
    from app_pages import session_cookie

    token = st.session_state.pop(TOKEN_KEY, None)
    try:
        auth.sign_out(token=token)
    except Exception as exc:  # noqa: BLE001 - signing out locally still works when PG is down
        log.warning("sign-out could not reach PostgreSQL: %s", one_line_error(exc))
    st.session_state.clear()
    session_cookie.forget(token)


def page_guard(*, roles: tuple[str, ...] = ("admin", "member", "user"), stores: tuple[str, ...] = ()) -> auth.SignedIn:
    """First line of every page: the signed-in person with an allowed role, and the stores it needs.

    A deep link or a stale tab of a page the role may not see stops here with a message."""
    me = current_user()
    if me is None:
        st.warning("Please sign in to see this page.", icon=":material/lock:")
        st.stop()
    if me.role not in roles:
        st.error("This page is for admins only.", icon=":material/block:")
        st.stop()
    if stores and not stores_ready(*stores):
        st.stop()
    return me


# ------------------------------------------------------------------ sidebar


def health_report() -> dict[str, Any]:
    """The last finished report (at most 10 s old); never blocks a page for long while a store is down."""
    return health.latest_report(max_age_s=10, wait_s=0.3)


def health_line(report: dict[str, Any]) -> str:
    icon = {"healthy": ":green[●]", "degraded": ":orange[●]", "unhealthy": ":red[●]"}[report["status"]]
    parts = []
    for name in ("postgresql", "mongodb"):
        check = report["checks"][name]
        parts.append(f"{STORE_LABEL[name]} {'up' if check['status'] == 'healthy' else 'down'}")
    if pending := (report["checks"].get("consistency", {}).get("pending") or {}).get("count"):
        parts.append(f"{pending} change(s) pending in MongoDB")  # the outbox, #16
    return f"{icon} {report['status'].capitalize()} · " + " · ".join(parts)


def sidebar(me: auth.SignedIn) -> None:
    with st.sidebar:
        st.markdown(f"**{md(me.full_name)}**  \n{md(me.email)}")
        st.badge(md(me.role), color="violet" if me.is_admin else "blue", icon=":material/badge:")
        st.caption(health_line(health_report()))
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            sign_out()
            st.rerun()
        if not get_settings().is_production:
            st.caption("Development mode (P2P_ENV unset)")
