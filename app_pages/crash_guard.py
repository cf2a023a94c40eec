"""The last line for an error nobody expected (#14): the page says something went wrong and gives an
error id; the log has the id and the traceback; no stack trace or server path reaches the browser.

``apply_error_details`` sets ``client.showErrorDetails`` from ``P2P_ENV`` at start ("none" in
production, "full" in development); .streamlit/config.toml defaults to "none", so a start that
never gets here shows nothing either."""

from __future__ import annotations

import logging
import secrets

import streamlit as st

from p2p_store.settings import get_settings

log = logging.getLogger("p2p_explorer.unexpected")


def apply_error_details() -> None:
    st.set_option("client.showErrorDetails", "none" if get_settings().is_production else "full")


def run_page(page: st.navigation) -> None:  # type: ignore[valid-type]
    """``page.run()``, with an unexpected exception logged under an id the page shows. In development
    the exception then goes on to Streamlit (full details on the page, ``AppTest.exception`` in tests)."""
    try:
        page.run()
    except Exception:
        error_id = secrets.token_hex(4)
        log.exception("unexpected error %s on page %s", error_id, getattr(page, "url_path", "?"))
        st.error(f"Something went wrong on this page and it was logged as error **{error_id}**. "
                 "Try again, or tell an administrator this id.", icon=":material/error:")
        if not get_settings().is_production:
            raise
