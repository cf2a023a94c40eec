"""The one health report (DESIGN.md "Health report"): the CLI, the sidebar and the health page render this dict.

How it stays fast and bounded:

- The three checks (PostgreSQL, MongoDB, consistency) run in parallel, each in its own thread with
  its own short timeout; the report waits for all of them until one deadline
  (``Settings.health_timeout_s``) and reports a check that did not answer by then as unhealthy. So the
  report answers within that deadline plus a few milliseconds even when a store is down, blackholed
  (accepts the connection, never answers) or slow.
- A check that is still waiting is not started again: the next report waits on the same attempt
  ("single flight"), so a blackholed store costs at most one stuck thread per check, however many
  tabs refresh the health page.
- Check threads are daemon threads, reused: a stuck check never delays the exit of the CLI, and a
  healthy report costs about one round trip per store, not a thread start.
- PostgreSQL is probed on a dedicated connection outside the app's pool, in one round trip that
  returns the server version and the current Alembic revision: an exhausted pool must not make the
  server look down (the pool figures say so instead), and the pool's pre-ping would double the cost.
- MongoDB is pinged through the app's client (its pool figures come from the pool listener in
  ``p2p_store.stores.mongo``), under ``pymongo.timeout`` so server selection cannot outwait the deadline.
- Consistency counts scan two projections (accounts, profiles); on the slow embedded server that is
  ~1 s per 50k profiles, so the counts are reused for ``CONSISTENCY_MAX_AGE_S`` seconds.
- A check never starts a store: when the embedded server of this data dir is not running it is
  reported down ("python -m p2p_store up" starts it), so ``health`` has no side effects.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import itertools
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from p2p_store import __version__
from p2p_store.settings import Settings, get_settings, mask_secrets

_STARTED = time.monotonic()
EXIT_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}
CONSISTENCY_MAX_AGE_S = 10.0  # seconds a consistency count is reused (it scans profiles)
UP_HINT = "python -m p2p_store up"


class StoreNotRunning(RuntimeError):
    """The embedded server of this data dir is not running (a health check does not start it)."""


# ------------------------------------------------------------------ errors as one line

_NOISE = (
    re.compile(r"\s*\(configured timeouts:[^)]*\)"),  # pymongo appends its timeout settings
    re.compile(r",\s*(Timeout|full error|Topology Description):.*$"),
    re.compile(r"\s*\(Background on this error at:[^)]*\)"),  # SQLAlchemy's link
    re.compile(r"^\((psycopg|sqlalchemy)[\w.]*\)\s*"),  # SQLAlchemy's "(psycopg.OperationalError) " prefix
)


def one_line_error(exc: BaseException, *secrets: str | None) -> str:
    """An exception as one readable line: no traceback, no credentials (URLs masked, ``secrets`` too)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for pattern in _NOISE:
        text = pattern.sub("", text)
    text = text.strip() or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return mask_secrets(f"{type(exc).__name__}: {text}", *secrets)


# ------------------------------------------------------------------ threads for checks


class _CheckThreads:
    """Reused daemon threads; a new one is started only when every thread is busy (e.g. stuck on a
    blackholed store), so a stuck check never makes another wait. Starting a thread costs ~0.1 ms,
    about a third of a healthy check."""

    def __init__(self, keep_idle: int = 8) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []
        self._keep_idle = keep_idle

    def submit(self, fn: Callable[[], Any]) -> cf.Future:
        future: cf.Future = cf.Future()
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(inbox,), daemon=True, name="health-check").start()
        inbox.put((fn, future))
        return future

    def _work(self, inbox: queue.SimpleQueue) -> None:
        while True:
            fn, future = inbox.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting report
                    future.set_exception(exc)
            del fn, future
            with self._lock:
                if len(self._idle) >= self._keep_idle:
                    return
                self._idle.append(inbox)


_threads = _CheckThreads()
_flights_lock = threading.Lock()
_flights: dict[tuple[int, str], cf.Future] = {}  # (targets serial, check) -> attempt


def _single_flight(key: tuple[int, str], fn: Callable[[], Any]) -> cf.Future:
    """The running attempt for ``key`` if there is one, else a new one."""
    with _flights_lock:
        running = _flights.get(key)
        if running is not None and not running.done():
            return running
        future = _threads.submit(fn)
        _flights[key] = future
        return future


# ------------------------------------------------------------------ what a report checks


@functools.cache
def _load_check_modules() -> None:
    """Import what the checks use before a report's deadline starts: imports are local work (~0.5 s
    cold, more on a busy machine), not a store's answer, and threads importing at once serialise on
    the import lock. Once per process."""
    import psycopg  # noqa: F401
    import pymongo  # noqa: F401

    from p2p_store.accounts import consistency
    from p2p_store.stores import mongo, pg  # noqa: F401

    _head_revision()


@functools.cache
def _head_revision() -> str | None:
    """The Alembic head of this code (read from the migration files once per process)."""
    from p2p_store.stores import schema

    return schema.head_revision()


def _libpq_url(sqlalchemy_url: Any) -> tuple[str, str | None]:
    """A SQLAlchemy URL as a libpq URI (psycopg), and its password (to mask it in error lines)."""
    from sqlalchemy.engine import make_url

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
        import psycopg

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
        import psycopg

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
        import psycopg

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
    """The two stores one report checks.

    ``Targets(settings)`` is the app's own stores: the process-wide engine and client of
    ``p2p_store.stores.pg`` / ``p2p_store.stores.mongo``, used only when they exist or their store runs. With
    ``engine`` / ``client`` given (see :func:`targets_for`) the report checks those instead.
    """

    def __init__(self, settings: Settings, *, engine: Any = None, client: Any = None,
                 pool_counter: Any = None, owns: bool = False) -> None:
        self.settings = settings
        self.is_app = engine is None and client is None
        self._engine = engine
        self._client = client
        self._pool_counter = pool_counter
        self._owns = owns
        self._mongo_version: tuple[int, str] | None = None
        self.serial = next(_serials)  # keys its in-flight checks and cached counts (ids get reused)
        # Within the report's deadline; libpq treats anything under 2 s as 2 s.
        connect_timeout = min(settings.pg_connect_timeout_s, max(int(settings.health_timeout_s), 2))
        self.pg = _PgProbe(self._pg_url, connect_timeout)

    # -- PostgreSQL
    def _pg_url(self) -> Any:
        """The PostgreSQL URL (str or SQLAlchemy URL) to probe; raises StoreNotRunning."""
        if self._engine is not None:
            return self._engine.url
        from p2p_store.stores import local, pg

        engine = pg.current_engine()  # the app's engine if it was created (creating it may start the server)
        if engine is None and (self.settings.database_url
                               or local.local_postgres_running(local.data_dir(self.settings))):
            # Create it (no connection yet): the consistency service reads through it too, and
            # finding the embedded server's URL is paid once, not once per check.
            engine = pg.get_engine(self.settings)
        if engine is not None:
            return engine.url
        raise StoreNotRunning(f"the embedded PostgreSQL is not running (start it: {UP_HINT})")

    def pg_pool(self) -> dict[str, Any]:
        from p2p_store.stores import pg

        engine = self._engine if self._engine is not None else (pg.current_engine() if self.is_app else None)
        if engine is not None:
            return pg.pool_status(engine)
        return {"size": self.settings.pg_pool_size, "checked_out": 0, "overflow": 0,
                "max_overflow": self.settings.pg_max_overflow}

    # -- MongoDB
    def mongo_client(self) -> Any:
        if self._client is not None:
            return self._client
        from p2p_store.stores import local, mongo

        client = mongo.current_client()  # the app's client if it was created
        if client is not None:
            return client
        if self.settings.mongodb_url or local.local_mongo_running(local.data_dir(self.settings)):
            return mongo.get_client(self.settings)
        raise StoreNotRunning(f"the embedded MongoDB-protocol server is not running (start it: {UP_HINT})")

    def mongo_pool(self) -> dict[str, Any]:
        from p2p_store.stores import mongo

        if self.is_app:
            return mongo.pool_status(self.settings)
        return {"max_size": self.settings.mongo_max_pool_size, "min_size": self.settings.mongo_min_pool_size,
                "in_use": self._pool_counter.in_use if self._pool_counter is not None else None}

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
        with _flights_lock:
            for name in ("postgresql", "mongodb", "consistency"):
                _flights.pop((self.serial, name), None)
        if self._owns:
            if self._client is not None:
                self._client.close()
            if self._engine is not None:
                self._engine.dispose()


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
    their own short-timeout engine and client, closed on exit. Unset URLs mean the embedded stores
    (started if needed, as the app does)."""
    from p2p_store.stores import local, mongo, pg

    timeout_s = settings.health_timeout_s
    quick = settings.model_copy(update={
        "pg_connect_timeout_s": max(int(timeout_s), 2),  # libpq: 2 s at least
        "mongo_server_selection_timeout_ms": max(int(timeout_s * 1000), 100),
    })
    counter = mongo.PoolCounter()
    engine = pg.make_engine(local.postgres_url(settings), quick)
    client = mongo.make_client(local.mongodb_url(settings), quick, listener=counter)
    targets = Targets(quick, engine=engine, client=client, pool_counter=counter, owns=True)
    try:
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
            "migration": {"current": current, "head": _head_revision()}, "error": None}


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
    import pymongo

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
    import pymongo

    if not targets.is_app:
        # consistency.drift_counts reads the app's pools; other targets are not compared.
        return {"status": "degraded", "role_drift": None, "orphans": None,
                "error": "consistency is compared on the app's own stores only"}
    from p2p_store.accounts import consistency

    targets._pg_url()  # raises StoreNotRunning rather than let the service start a store
    targets.mongo_client()
    with pymongo.timeout(targets.settings.health_timeout_s):
        counts = consistency.drift_counts()
    bad = counts["role_drift"] + counts["orphans"]
    pending = pending_events()
    late = (pending["oldest_age_s"] or 0) > PENDING_LATE_S
    return {"status": "degraded" if bad or late else "healthy", **counts, "pending": pending}


PENDING_LATE_S = 60.0  # seconds an event may wait for MongoDB before the report says degraded (#16)


def pending_events() -> dict[str, Any]:
    """Events still pending in MongoDB: ``{"count": n, "oldest_age_s": s}`` (the outbox, #16)."""
    from p2p_store import outbox  # same lazy import as the consistency service above

    return outbox.pending_summary()


_consistency_lock = threading.Lock()
_consistency_cache: dict[int, tuple[float, dict[str, Any]]] = {}  # targets serial -> (monotonic, result)


def _consistency_job(targets: Targets) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        result = check_consistency(targets)
        with _consistency_lock:
            _consistency_cache[targets.serial] = (time.monotonic(), result)
        return result
    return run


def _store_failure(name: str, targets: Targets, error: str) -> dict[str, Any]:
    """The full shape of a store check that failed (pool figures are local, so still known)."""
    if name == "postgresql":
        pool = _safe(targets.pg_pool)
        return {"status": "unhealthy", "latency_ms": None, "server_version": None, "pool": pool,
                "migration": None, "error": error}
    return {"status": "unhealthy", "latency_ms": None, "server_version": None,
            "pool": _safe(targets.mongo_pool), "error": error}


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - figures are optional in a failure report
        return None


def _wait(future: cf.Future, deadline: float, timeout_s: float, secrets: tuple[str | None, ...]) -> tuple[Any, str | None]:
    try:
        return future.result(timeout=max(deadline - time.monotonic(), 0.0)), None
    except cf.TimeoutError:
        return None, f"TimeoutError: no answer within {timeout_s:g} s"
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line in the report
        return None, one_line_error(exc, *secrets)


def build_report(settings: Settings | None = None, *, targets: Targets | None = None,
                 consistency_max_age_s: float = CONSISTENCY_MAX_AGE_S) -> dict[str, Any]:
    """The health report of ``targets`` (default: the app's own stores).

    Status: ``healthy`` (every check healthy), ``degraded`` (one store down, migration behind head,
    drift or orphans, or consistency unknown), ``unhealthy`` (both stores down).
    ``consistency_max_age_s=0`` forces fresh consistency counts.
    """
    _load_check_modules()
    targets = targets or app_targets(settings)
    timeout_s = targets.settings.health_timeout_s
    deadline = time.monotonic() + timeout_s
    key = targets.serial
    pg_future = _single_flight((key, "postgresql"), functools.partial(check_postgresql, targets))
    mongo_future = _single_flight((key, "mongodb"), functools.partial(check_mongodb, targets))
    with _consistency_lock:
        cached = _consistency_cache.get(key)
    consistency_future = None
    if cached is None or time.monotonic() - cached[0] > consistency_max_age_s:
        consistency_future = _single_flight((key, "consistency"), _consistency_job(targets))

    secrets = (targets.pg.password,)
    checks: dict[str, dict[str, Any]] = {}
    for name, future in (("postgresql", pg_future), ("mongodb", mongo_future)):
        result, error = _wait(future, deadline, timeout_s, secrets)
        checks[name] = result if error is None else _store_failure(name, targets, error)
    pg_ok = checks["postgresql"]["status"] == "healthy"
    mongo_ok = checks["mongodb"]["status"] == "healthy"

    if not (pg_ok and mongo_ok):
        checks["consistency"] = {"status": "degraded", "role_drift": None, "orphans": None,
                                 "error": "needs both stores"}
    elif consistency_future is None:
        checks["consistency"] = dict(cached[1])  # type: ignore[index]
    else:
        result, error = _wait(consistency_future, deadline, timeout_s, secrets)
        checks["consistency"] = dict(result) if error is None else {
            "status": "degraded", "role_drift": None, "orphans": None, "error": error}

    if not pg_ok and not mongo_ok:
        status = "unhealthy"
    elif not (pg_ok and mongo_ok):
        status = "degraded"
    else:
        migration = checks["postgresql"]["migration"]
        behind = migration["current"] != migration["head"]
        status = "degraded" if behind or checks["consistency"]["status"] != "healthy" else "healthy"
    return {
        "status": status,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "version": __version__,
        "uptime_s": round(time.monotonic() - _STARTED, 1),
        "checks": checks,
    }


# ------------------------------------------------------------------ the latest report, without waiting

_latest_lock = threading.Lock()
_latest: tuple[float, dict[str, Any]] | None = None  # (monotonic when built, report)
_latest_build: cf.Future | None = None


def _build_and_keep() -> dict[str, Any]:
    global _latest
    report = build_report()
    with _latest_lock:
        _latest = (time.monotonic(), report)
    return report


def latest_report(*, max_age_s: float = 2.0, wait_s: float = 0.5) -> dict[str, Any]:
    """The app's latest report, for screens that must never stall on a store that is down.

    A report younger than ``max_age_s`` is returned as is. Otherwise a new one is built in the
    background; the caller waits for it at most ``wait_s`` and else gets the previous report (its
    ``timestamp`` says how old it is). Only the very first call waits for a full report (itself
    bounded by the health deadline).
    """
    global _latest_build
    with _latest_lock:
        latest = _latest
        if latest is not None and time.monotonic() - latest[0] <= max_age_s:
            return latest[1]
        if _latest_build is None or _latest_build.done():
            _latest_build = _threads.submit(_build_and_keep)
        building = _latest_build
    try:
        return building.result(timeout=wait_s if latest is not None else None)
    except cf.TimeoutError:
        assert latest is not None
        return latest[1]


def clear_cache() -> None:
    """Forget the latest report and the reused consistency counts (e.g. right after a reseed)."""
    global _latest
    with _latest_lock:
        _latest = None
    with _consistency_lock:
        _consistency_cache.clear()
