"""The PostgreSQL handle: the URL in use, one engine per process, sessions, ping, pool figures.

``STORE`` is the app's handle; the functions below are its public face (``get_engine()``,
``new_session()``, ``session_scope()``...), which services, the CLI and the tests call. The app
wraps readiness in ``st.cache_resource`` (docs/architecture.md, "Stores").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from p2p_store.settings import Settings
from p2p_store.stores import local
from p2p_store.stores.handle import StoreHandle


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


class PostgresStore(StoreHandle[Engine]):
    name, label = "postgresql", "PostgreSQL"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self._sessions: sessionmaker[Session] | None = None

    def url(self, settings: Settings | None = None) -> str:
        return local.postgres_url(settings or self.settings)

    def external_url(self) -> str | None:
        return self.settings.database_url

    def embedded_running(self) -> bool:
        return local.local_postgres_running(local.data_dir(self.settings))

    def _open(self, settings: Settings) -> Engine:
        engine = make_engine(self.url(settings), settings)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        return engine

    def _close(self, pool: Engine) -> None:
        pool.dispose()

    def reset(self) -> None:
        super().reset()
        self._sessions = None

    def session(self) -> Session:
        self.pool()
        sessions = self._sessions
        assert sessions is not None
        return sessions()

    def ping(self) -> str:
        """``SHOW server_version`` round trip; returns the server version (e.g. ``18.1``)."""
        return ping(self.pool())

    def pool_figures(self) -> dict[str, Any]:
        engine = self.current()
        if engine is not None:
            return pool_status(engine)
        return {"size": self.settings.pg_pool_size, "checked_out": 0, "overflow": 0,
                "max_overflow": self.settings.pg_max_overflow}


STORE = PostgresStore()


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine (created on first use; starts the embedded server if no URL is set)."""
    return STORE.pool(settings)


def current_engine() -> Engine | None:
    """The engine if one was created in this process (never creates one, never starts a store)."""
    return STORE.current()


def dispose_engine() -> None:
    """Close every pooled connection and forget the engine (tests, a changed URL)."""
    STORE.reset()


def new_session() -> Session:
    return STORE.session()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with new_session() as session, session.begin():
        yield session


def ping(engine: Engine | None = None) -> str:
    """``SHOW server_version`` round trip; returns the server version (e.g. ``18.1``)."""
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
