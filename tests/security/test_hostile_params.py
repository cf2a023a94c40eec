"""Attack class: a crafted link (#14). Every page, opened by an admin with hostile query parameters
(every parameter a page binds, plus unknown ones): a message or the default view, never an
exception, a stack trace, a server path or a credential; both stores unchanged. In production no
stack trace reaches the page at all, and an unexpected error is logged with the id the page shows."""

from __future__ import annotations

import logging
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT
from tests.security.conftest import ADMIN, fingerprint

PARAMS = ["post", "q", "category", "tag", "author", "status", "solved", "sort", "per_page", "industry", "region",
          "city", "tech", "kind", "near", "km", "lon", "lat", "layer", "case", "page", "store", "source", "tab",
          "user", "role", "search", "unknown"]
HOSTILE = ["1e309", "-1e309", "nan", "NaN", "inf", "-0", "99999999999999999999999999999", "-9223372036854775809",
           '{"$ne": 1}', "'; DROP TABLE users; --", "x" * 5000, "../../etc/passwd", "%00", "\x00",
           "<img src=https://evil.example/x>", "![x](https://evil.example/x)", "🙂" * 50, "", " ", "[]",
           "00000000-0000-0000-0000-000000000000"]
# Every page app.py navigates to (read from its text: importing app.py would run it).
PAGE_SCRIPTS = sorted(set(re.findall(r'"(app_pages/[a-z_]+\.py)"', (REPO_ROOT / "app.py").read_text()))
                      - {"app_pages/sign_in.py"})
ROUNDS = 6  # each round gives every parameter a different hostile value; all values are used


@pytest.fixture(scope="module")
def admin_token(demo_signed_in):
    from p2p_store.accounts import auth
    from seed.dataset import demo_accounts

    admin = next(a for a in demo_accounts() if a["email"] == ADMIN)
    signed = auth.sign_in(email=ADMIN, password=admin["password"])
    yield signed.token
    auth.sign_out(token=signed.token)


def open_page(script: str, token: str, params: dict[str, str]) -> AppTest:
    from streamlit import config

    config.set_option("client.showErrorDetails", "full")  # as app.py sets it in development
    at = AppTest.from_file(str(REPO_ROOT / script), default_timeout=60)
    at.session_state["auth_token"] = token
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    return at


@pytest.mark.parametrize("script", PAGE_SCRIPTS)
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_every_page_survives_hostile_parameters(admin_token, script, round_):
    import streamlit as st

    st.cache_data.clear()
    before = fingerprint()
    params = {name: HOSTILE[(round_ * len(PARAMS) + i) % len(HOSTILE)] for i, name in enumerate(PARAMS)}
    at = open_page(script, admin_token, params)
    assert not at.exception, (script, params, at.exception)
    shown = " ".join(str(e.value) for e in [*at.error, *at.warning, *at.markdown, *at.caption, *at.info])
    for leak in ("Traceback", "$argon2", "mongodb://", "postgresql://", "/work/", "site-packages", 'File "'):
        assert leak not in shown, (script, leak)
    assert fingerprint() == before


def test_production_shows_an_error_id_and_no_stack_trace(admin_token, monkeypatch, caplog, tmp_path):
    """An unexpected error on a page in production: the page shows an id, the log has the id and the
    traceback, and Streamlit's own error details are off."""
    import streamlit as st

    from p2p_store.settings import get_settings

    monkeypatch.setattr(type(get_settings()), "is_production", property(lambda self: True))
    broken = tmp_path / "broken_page.py"
    broken.write_text("raise RuntimeError('secret path /srv/app/p2p_store/x.py')\n")
    script = tmp_path / "host.py"
    script.write_text(
        "import streamlit as st\n"
        "from app_pages import crash_guard\n"
        "crash_guard.apply_error_details()\n"
        f"page = st.navigation([st.Page({str(broken)!r}, title='Broken', default=True)])\n"
        "crash_guard.run_page(page)\n")
    caplog.set_level(logging.ERROR, logger="p2p_explorer.unexpected")
    at = AppTest.from_file(str(script), default_timeout=30)
    at.run()
    assert not at.exception
    [error] = at.error
    error_id = error.value.split("**")[1]
    assert len(error_id) == 8 and "/srv/app" not in error.value
    assert error_id in caplog.text and "RuntimeError" in caplog.text
    try:
        assert st.get_option("client.showErrorDetails") == "none"
    finally:
        from streamlit import config

        config.set_option("client.showErrorDetails", "full")


@pytest.mark.parametrize("params", [{"km": "1e309"}, {"km": "-1e309"}, {"km": "nan"}, {"km": "99999999999999999999"},
                                    {"near": "point", "lon": "nan", "lat": "-1e309"},
                                    {"near": "point", "lon": "181", "lat": "inf"}])
def test_map_link_with_numbers_out_of_range_gets_a_message_and_the_default(admin_token, params):
    before = fingerprint()
    at = open_page("app_pages/map.py", admin_token, params)
    assert not at.exception, at.exception
    assert any("Ignored" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.number_input(key="km").value == 100
    for key in ("km", "lon", "lat"):
        assert key not in at.query_params or at.query_params[key] in ("100",)
    assert fingerprint() == before
