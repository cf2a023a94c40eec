"""Real stores for the tests: embedded ones in a temporary data dir, or DATABASE_URL / MONGODB_URL.

The session fixture owns the servers' life; per-test fixtures give each test clean data (as
pytest-postgresql / pytest-mongo do). Nothing here mocks a store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Settings are read once per process: point them at a throw-away data dir before anything imports them.
_OWN_DATA_DIR = "P2P_DATA_DIR" not in os.environ
if _OWN_DATA_DIR:
    os.environ["P2P_DATA_DIR"] = tempfile.mkdtemp(prefix="p2p-test-")
os.environ.pop("P2P_ENV", None)
# Short waits: a stopped store must make a test fail fast, not hang.
os.environ.setdefault("P2P_MONGO_SELECT_TIMEOUT_MS", "2000")
os.environ.setdefault("P2P_HEALTH_TIMEOUT_S", "2.5")

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    os.chdir(REPO_ROOT)  # AppTest.from_file and alembic.ini are relative to the repo root


@pytest.fixture(scope="session")
def settings():
    from p2p_store.settings import get_settings

    return get_settings()


@pytest.fixture(scope="session")
def stores(settings):
    """Both stores up, migrated, indexed. Stops the embedded servers at the end of the session."""
    from p2p_store.stores import local, mongo, pg, ready

    ready.ensure_ready()
    yield settings
    mongo.close_client()
    pg.dispose_engine()
    local.stop_local(settings)
    if _OWN_DATA_DIR:
        shutil.rmtree(settings.data_dir, ignore_errors=True)


@pytest.fixture
def empty_stores(stores):
    """Both stores with schema but no data."""
    from seed.loader import reset

    reset()
    _clear_app_caches()
    yield stores


@pytest.fixture
def demo(stores):
    """Both stores holding exactly the demo set."""
    from sqlalchemy import text

    from p2p_store.stores import pg
    from seed.loader import reseed

    result = reseed(scale=0)
    with pg.get_engine().begin() as conn:  # reseed keeps sign-ins of demo people; tests start signed out
        conn.execute(text("DELETE FROM user_sessions"))
    _clear_app_caches()
    return result


def _clear_app_caches() -> None:
    from p2p_store.community import stats

    stats.FIGURES.clear()  # the figure cache lives in the process, beside Streamlit's (#17)
    try:
        import streamlit as st

        st.cache_data.clear()
    except Exception:  # noqa: BLE001 - streamlit absent or not initialised: nothing cached
        pass


@pytest.fixture(autouse=True)
def _no_projector_timer():
    """An AppTest run starts the app's outbox timer thread in this process (app_pages/shell.py); a test
    that asserts what is pending must not race it, so every test starts without it. Tests of the
    timer start their own (tests/faults/test_outbox_faults.py)."""
    from p2p_store import outbox

    outbox.stop_background()
    yield
