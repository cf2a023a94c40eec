"""What a health report checks, and how (docs/architecture.md, "Health").

- PostgreSQL is probed on a dedicated connection outside the app's pool, in one round trip that
  returns the server version and the current Alembic revision: an exhausted pool must not make the
  server look down (the pool figures say so instead), and the pool's pre-ping would double the cost.
- MongoDB is pinged through the app's client (its pool figures come from the handle's pool
  listener), under ``pymongo.timeout`` so server selection cannot outwait the deadline.
- Consistency counts scan two projections (accounts, profiles); on the slow embedded server that is
  ~1 s per 50k profiles, so the counts are reused for ``CONSISTENCY_MAX_AGE_S`` seconds.
- A check never starts a store: it asks the store handles for a pool only when the store is
  configured or its embedded server runs (``StoreHandle.running_pool``), so ``health`` has no side
  effects.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pymongo
from sqlalchemy.engine import make_url

from p2p_store import outbox
from p2p_store.accounts import consistency
from p2p_store.health.threads import forget_flights
from p2p_store.settings import Settings, get_settings
from p2p_store.stores import generation, mongo, pg, schema
from p2p_store.stores.handle import StoreHandle

PENDING_LATE_S = 60.0  # seconds an event may wait for MongoDB before the report says degraded (#16)
CONSISTENCY_MAX_AGE_S = 10.0  # seconds a consistency count is reused (it scans profiles)
_consistency_lock = threading.Lock()
_consistency_cache: dict[int, tuple[float, dict[str, Any]]] = {}  # targets serial -> (monotonic, result)


def cached_consistency(serial: int) -> tuple[float, dict[str, Any]] | None:
    with _consistency_lock:
        return _consistency_cache.get(serial)


def forget_consistency() -> None:
    with _consistency_lock:
        _consistency_cache.clear()


@functools.cache
def head_revision() -> str | None:
    """The Alembic head of this code (read from the migration files once per process)."""
    return schema.head_revision()


def _libpq_url(sqlalchemy_url: Any) -> tuple[str, str | None]:
    """A SQLAlchemy URL as a libpq URI (psycopg), and its password (to mask it in error lines)."""
    url = make_url(str(sqlalchemy_url)) if isinstance(sqlalchemy_url, str) else sqlalchemy_url
    return url.set(drivername="postgresql").render_as_string(hide_password=False), url.password


class _PgProbe:
    """One dedicated PostgreSQL connection for health checks, reopened after any failure."""

    # One round trip: the version, and the Alembic revision (a missing table is handled below).
    _SQL = ("SELECT current_setting('server_version'), "
            "(SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version)")

    def __init__(self, url: Callable[[], str], connect_timeout_s: int) -> None:
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn: Any = None
        self.password: str | None = None

    def _connect(self) -> Any:
        uri, self.password = _libpq_url(self._url())
        timeout_ms = self._connect_timeout_s * 1000
        return psycopg.connect(
            uri, autocommit=True, connect_timeout=self._connect_timeout_s,
            application_name="p2p-explorer-health",
            # A peer that stops acknowledging (a real blackhole) breaks the connection instead of
            # leaving a check waiting forever; both are ignored on a unix socket.
            tcp_user_timeout=timeout_ms, keepalives=1, keepalives_idle=5, keepalives_interval=2,
            keepalives_count=2,
        )

    def probe(self) -> tuple[str, str | None, float]:
        """``(server_version, current_revision, seconds)``: the round trip is timed, not the (re)connect.

        Raises on any failure, after closing the connection (the next probe reconnects)."""
        with self._lock:
            reused = self._conn is not None and not self._conn.closed
            try:
                if not reused:
                    self._conn = self._connect()
                try:
                    version, current, took = self._query()
                except psycopg.OperationalError:
                    if not reused:
                        raise
                    # The kept connection died with a server restart: one fresh try, so a store
                    # that is back is reported back at once.
                    self.close_locked()
                    self._conn = self._connect()
                    version, current, took = self._query()
            except BaseException:
                self.close_locked()
                raise
        return str(version).split()[0], current, took

    def _query(self) -> tuple[str, str | None, float]:
        start = time.perf_counter()
        try:
            version, current = self._conn.execute(self._SQL).fetchone()
        except psycopg.errors.UndefinedTable:  # never migrated
            version, current = self._conn.execute("SHOW server_version").fetchone()[0], None
        return version, current, time.perf_counter() - start

    def close_locked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self._conn = None

    def close(self) -> None:
        # libpq connections are not thread-safe: close only when no probe is using it. A probe stuck
        # on a dead peer keeps it, and closes it itself when it fails.
        if self._lock.acquire(timeout=0.1):
            try:
                self.close_locked()
            finally:
                self._lock.release()


_serials = itertools.count(1)


class Targets:
    """The two stores one report checks, as store handles.

    ``Targets(settings)`` is the app's own stores (``pg.STORE`` / ``mongo.STORE``), used only when
    their pool exists or their store runs. :func:`targets_for` gives other handles with their own
    pools, closed with the targets.
    """

    def __init__(self, settings: Settings, *, postgres: StoreHandle[Any] | None = None,
                 mongodb: StoreHandle[Any] | None = None, owns: bool = False) -> None:
        self.settings = settings
        self.is_app = postgres is None and mongodb is None
        self.postgres = postgres or pg.STORE
        self.mongodb = mongodb or mongo.STORE
        self._owns = owns
        self._mongo_version: tuple[int, str] | None = None
        self.serial = next(_serials)  # keys its in-flight checks and cached counts (ids get reused)
        # Within the report's deadline; libpq treats anything under 2 s as 2 s.
        connect_timeout = min(settings.pg_connect_timeout_s, max(int(settings.health_timeout_s), 2))
        self.pg = _PgProbe(self.pg_url, connect_timeout)

    # -- PostgreSQL
    def pg_url(self) -> Any:
        """The SQLAlchemy URL of the handle's engine; StoreUnavailable when its embedded server is
        not running (the engine is created, not connected: the consistency service reads through
        it too, and finding the embedded server's URL is paid once, not once per check)."""
        return self.postgres.running_pool().url

    def pg_pool(self) -> dict[str, Any]:
        return self.postgres.pool_figures()

    # -- MongoDB
    def mongo_client(self) -> Any:
        return self.mongodb.running_pool()

    def mongo_pool(self) -> dict[str, Any]:
        return self.mongodb.pool_figures()

    def mongo_version(self, client: Any) -> str:
        """The server version, asked once per client (a failed check forgets it)."""
        if self._mongo_version is None or self._mongo_version[0] != id(client):
            self._mongo_version = (id(client), str(client.server_info().get("version", "?")))
        return self._mongo_version[1]

    def forget_mongo_version(self) -> None:
        self._mongo_version = None

    def close(self) -> None:
        self.pg.close()
        with _consistency_lock:
            _consistency_cache.pop(self.serial, None)
        forget_flights(self.serial)
        if self._owns:
            self.mongodb.reset()
            self.postgres.reset()


_app_lock = threading.Lock()
_app_targets: Targets | None = None


def app_targets(settings: Settings | None = None) -> Targets:
    """The app's own stores (one instance per process, renewed when the settings object changes)."""
    global _app_targets
    settings = settings or get_settings()
    with _app_lock:
        if _app_targets is None or _app_targets.settings is not settings:
            if _app_targets is not None:
                _app_targets.close()
            _app_targets = Targets(settings)
        return _app_targets


@contextmanager
def targets_for(settings: Settings) -> Iterator[Targets]:
    """Stores named by ``settings`` (e.g. ``load_settings(database_url=..., mongodb_url=...)``), with
    their own short-timeout handles, closed on exit. Unset URLs mean the embedded stores (started if
    needed, as the app does)."""
    timeout_s = settings.health_timeout_s
    quick = settings.model_copy(update={
        "pg_connect_timeout_s": max(int(timeout_s), 2),  # libpq: 2 s at least
        "mongo_server_selection_timeout_ms": max(int(timeout_s * 1000), 100),
    })
    postgres, mongodb = pg.PostgresStore(quick), mongo.MongoStore(quick)
    targets = Targets(quick, postgres=postgres, mongodb=mongodb, owns=True)
    try:
        postgres.pool()
        mongodb.pool()
        yield targets
    finally:
        targets.close()


# ------------------------------------------------------------------ the checks


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def check_postgresql(targets: Targets) -> dict[str, Any]:
    """Version, latency (one round trip) and migration on the probe connection; figures of the app's pool."""
    version, current, took = targets.pg.probe()
    return {"status": "healthy", "latency_ms": _ms(took), "server_version": version, "pool": targets.pg_pool(),
            "migration": {"current": current, "head": head_revision()}, "error": None}


KNOWN_DOWN_BUDGET_S = 1.0  # seconds to re-try a server the client's monitor already saw fail


def _mongo_budget_s(client: Any, timeout_s: float) -> float:
    """How long the ping may wait. Under the report's deadline, so pymongo's own reason ("Connection
    refused", "timed out") reaches the report; short when the client's monitor already saw every
    server fail. Server selection still asks the monitor for an immediate re-check, so a server that
    is back is found within that budget."""
    budget = timeout_s * 0.8
    servers = client.topology_description.server_descriptions().values()
    if servers and all(sd.error is not None for sd in servers):
        budget = min(budget, KNOWN_DOWN_BUDGET_S)
    return budget


def check_mongodb(targets: Targets) -> dict[str, Any]:
    """A ``ping`` (bounded by the report's deadline), the server version, the pool listener's figures."""
    client = targets.mongo_client()
    try:
        with pymongo.timeout(_mongo_budget_s(client, targets.settings.health_timeout_s)):
            version = targets.mongo_version(client)  # first: it also opens the connection
            start = time.perf_counter()
            client.admin.command("ping")
            latency = _ms(time.perf_counter() - start)
    except BaseException:
        targets.forget_mongo_version()
        raise
    return {"status": "healthy", "latency_ms": latency, "server_version": version,
            "pool": targets.mongo_pool(), "error": None}


def check_consistency(targets: Targets) -> dict[str, Any]:
    """Role drift and orphans from the consistency service (the app's own stores only)."""
    if not targets.is_app:
        # consistency.drift_counts reads the app's pools; other targets are not compared.
        return {"status": "degraded", "role_drift": None, "orphans": None,
                "error": "consistency is compared on the app's own stores only"}
    targets.pg_url()  # raises StoreUnavailable rather than let the service start a store
    targets.mongo_client()
    with pymongo.timeout(targets.settings.health_timeout_s):
        counts = consistency.drift_counts()
        generations = generation.state()
    found = {"postgresql": generations["postgresql"], "mongodb": generations["mongodb"],
             "mongodb_database": generations["database"], "match": generations["match"]}
    if not found["match"]:  # a reseed killed mid-swap (#19)
        return {"status": "degraded", **counts, "pending": outbox.pending_summary(), "generation": found,
                "error": "the stores hold different data generations (an interrupted reseed); "
                         "`python -m p2p_store up` finishes it, `python -m seed` reseeds"}
    pending = outbox.pending_summary()  # the event log is the outbox (#16)
    late = (pending["oldest_age_s"] or 0) > PENDING_LATE_S
    bad = counts["role_drift"] + counts["orphans"]
    return {"status": "degraded" if bad or late else "healthy", **counts, "pending": pending, "generation": found}


def consistency_job(targets: Targets) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        result = check_consistency(targets)
        with _consistency_lock:
            _consistency_cache[targets.serial] = (time.monotonic(), result)
        return result
    return run


