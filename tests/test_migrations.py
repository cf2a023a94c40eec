"""Alembic from the shell, as a developer runs it: upgrade, check, downgrade, upgrade again.

Works on a fresh throw-away database created on the session's PostgreSQL server (embedded, or the
one ``DATABASE_URL`` names) and dropped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, pool, text

from p2p_store.stores import pg

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLES = {"users", "user_sessions", "system_configs", "events"}


@pytest.fixture
def fresh_database_url(stores, settings):
    """A database owned by the app's login, created by the server's superuser (the app's own login
    may not create databases, #14); migrations then run as the app's login, as in production."""
    from p2p_store.stores import local

    app_url = pg.get_engine().url
    admin = create_engine(local.postgres_superuser_url(settings), poolclass=pool.NullPool)
    name = f"p2p_migtest_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        owner = conn.execute(text("SELECT quote_ident(:u)"), {"u": app_url.username}).scalar_one()
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {owner}'))
    try:
        yield app_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _alembic(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=database_url)
    proc = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"alembic {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc


def _tables(database_url: str) -> set[str]:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _current(database_url: str) -> str | None:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if "alembic_version" not in inspect(conn).get_table_names():
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_upgrade(fresh_database_url):
    from p2p_store.stores.schema import head_revision

    url = fresh_database_url
    assert _tables(url) == set()

    _alembic(url, "upgrade", "head")
    assert TABLES <= _tables(url)
    assert _current(url) == head_revision()

    check = _alembic(url, "check")  # models and migrations agree: no drift
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    _alembic(url, "downgrade", "base")
    assert _tables(url) <= {"alembic_version"}  # every table of the schema is gone
    assert _current(url) is None

    _alembic(url, "upgrade", "head")
    assert TABLES <= _tables(url)
    assert _current(url) == head_revision()
