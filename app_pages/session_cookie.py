"""The sign-in cookie: a session survives a reload and a new tab (#15.1).

What Streamlit 1.67 offers, and why this mechanism:

- ``st.context.cookies`` reads the cookies of the request that opened the page's WebSocket; it is
  read-only, and Python has no API to set a cookie during a script run.
- ``st.login`` sets its own signed HttpOnly cookie, but only after an OpenID Connect provider's
  redirect; the app must work offline with local accounts, so it does not apply.
- An HttpOnly cookie can only come from an HTTP response. In 1.67 the only supported way to add an
  HTTP route is ASGI mode (``st.App(routes=…)`` started instead of ``streamlit run app.py``), which
  would change the command-line contract of DESIGN.md; left as the upgrade path (README, "Sessions").

So the cookie is written by a tiny script (``st.html(unsafe_allow_javascript=True)``) whose only
dynamic part is the token we generated (checked against the URL-safe alphabet before it is placed).
It is not HttpOnly; it is ``SameSite=Strict`` (never sent by another site's page), ``Secure`` when the
page is served over HTTPS, ``Path=/``, and lives no longer than the absolute session limit. What makes
that acceptable: the cookie holds only a random 256-bit token whose SHA-256 is stored, so the database
never holds a usable token; the server decides everything on every run (idle and absolute expiry,
revocation by sign-out, deactivation, password change and "end session"); and no person's text reaches
the page as script (one escaping path, #14.5), which is what an attacker would need to read it.
"""

from __future__ import annotations

import re

import streamlit as st

from p2p_store.settings import get_settings

COOKIE = "p2p_session"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,200}$")
_SPENT_KEY = "_cookie_spent"  # a cookie value this browser session already found invalid
_CLEAR_KEY = "_cookie_clear"  # the cookie must be removed from the browser


def from_browser() -> str | None:
    """The token in the cookie the browser sent when this page opened, unless already found invalid."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare mode): no cookie
        return None
    if not isinstance(value, str) or not _TOKEN_RE.match(value) or value == st.session_state.get(_SPENT_KEY):
        return None
    return value


def forget(value: str | None) -> None:
    """This token is invalid (expired, revoked, signed out): never try it again in this browser
    session, and remove it from the browser's cookie if the cookie still holds it (another tab may
    have signed in again meanwhile; its newer cookie stays)."""
    if value and _TOKEN_RE.match(value):
        st.session_state[_SPENT_KEY] = value
        st.session_state[_CLEAR_KEY] = value


def _script(body: str) -> str:
    return f"<script>(function(){{{body}}})();</script>"


def sync(token: str | None, where=None) -> None:
    """Put the signed-in token into the browser's cookie (every run while signed in: idempotent), or
    remove the cookie after a sign-out or an invalid cookie."""
    target = where if where is not None else st
    if token and _TOKEN_RE.match(token):
        max_age = int(get_settings().session_ttl_hours * 3600)
        target.html(_script(
            f"var s=location.protocol==='https:'?'; Secure':'';"
            f"document.cookie='{COOKIE}={token}; Path=/; Max-Age={max_age}; SameSite=Strict'+s;"),
            unsafe_allow_javascript=True, width="content")
        st.session_state.pop(_CLEAR_KEY, None)
    elif (spent := st.session_state.pop(_CLEAR_KEY, None)) and _TOKEN_RE.match(spent):
        target.html(_script(
            f"if(document.cookie.split('; ').indexOf('{COOKIE}={spent}')>=0)"
            f"document.cookie='{COOKIE}=; Path=/; Max-Age=0; SameSite=Strict';"),
            unsafe_allow_javascript=True, width="content")
