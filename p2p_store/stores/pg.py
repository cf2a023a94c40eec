"""The PostgreSQL pool: one engine per process, sessions, pool figures.

The app wraps :func:`get_engine` in ``st.cache_resource``; the CLI and the tests call it directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from p2p_store.settings import Settings, get_settings
from p2p_store.stores import local

_lock = threading.Lock()
_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def make_engine(url: str, settings: Settings) -> Engine:
    """An engine with the seed story's pool (20 + 40 overflow, pre-ping, hourly recycle)."""
    return create_engine(
        url,
        pool_size=settings.pg_pool_size,
        max_overflow=settings.pg_max_overflow,
        pool_pre_ping=True,
        pool_recycle=settings.pg_pool_recycle_s,
        pool_timeout=10,  # seconds waiting for a free connection
        connect_args={
            "connect_timeout": settings.pg_connect_timeout_s,
            "application_name": "p2p-explorer",
            "options": f"-c statement_timeout={settings.pg_statement_timeout_ms}",
        },
    )


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine (created on first use; starts the embedded server if no URL is set)."""
    global _engine, _session_factory
    if _engine is None:
        with _lock:
            if _engine is None:
                settings = settings or get_settings()
                engine = make_engine(local.postgres_url(settings), settings)
                _session_factory = sessionmaker(engine, expire_on_commit=False)
                _engine = engine
    return _engine


def current_engine() -> Engine | None:
    """The engine if one was created in this process (never creates one, never starts a store)."""
    return _engine


def dispose_engine() -> None:
    """Close every pooled connection and forget the engine (tests, a changed URL)."""
    global _engine, _session_factory
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _session_factory = None


def new_session() -> Session:
    get_engine()
    assert _session_factory is not None
    return _session_factory()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with new_session() as session, session.begin():
        yield session


def ping(engine: Engine | None = None) -> str:
    """``SELECT version()`` round trip; returns the server version (e.g. ``18.1``)."""
    engine = engine or get_engine()
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]


def pool_status(engine: Engine | None = None) -> dict[str, Any]:
    """The pool's figures in the health report's shape."""
    engine = engine or get_engine()
    pool = engine.pool
    return {
        "size": pool.size(),  # type: ignore[attr-defined]
        "checked_out": pool.checkedout(),  # type: ignore[attr-defined]
        "overflow": max(pool.overflow(), 0),  # type: ignore[attr-defined]
        "max_overflow": engine.pool._max_overflow,  # type: ignore[attr-defined]
    }
