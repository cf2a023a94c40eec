"""The health report (docs/architecture.md, "Health"): the CLI, the sidebar and the health page
render this dict.

The three checks (PostgreSQL, MongoDB, consistency) run in parallel, each in its own thread with its
own short timeout; the report waits for all of them until one deadline (``Settings.health_timeout_s``)
and reports a check that did not answer by then as unhealthy. So the report answers within that
deadline plus a few milliseconds even when a store is down, blackholed (accepts the connection, never
answers) or slow. Errors are one line (:func:`p2p_store.errors.one_line_error`).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from p2p_store import __version__
from p2p_store.errors import one_line_error
from p2p_store.health.probes import (
    CONSISTENCY_MAX_AGE_S,
    Targets,
    app_targets,
    cached_consistency,
    check_mongodb,
    check_postgresql,
    consistency_job,
    forget_consistency,
    head_revision,
)
from p2p_store.health.threads import single_flight, threads
from p2p_store.settings import Settings

_STARTED = time.monotonic()
EXIT_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}


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
    head_revision()  # read from the migration files once per process, before the deadline starts
    targets = targets or app_targets(settings)
    timeout_s = targets.settings.health_timeout_s
    deadline = time.monotonic() + timeout_s
    key = targets.serial
    pg_future = single_flight((key, "postgresql"), functools.partial(check_postgresql, targets))
    mongo_future = single_flight((key, "mongodb"), functools.partial(check_mongodb, targets))
    cached = cached_consistency(key)
    consistency_future = None
    if cached is None or time.monotonic() - cached[0] > consistency_max_age_s:
        consistency_future = single_flight((key, "consistency"), consistency_job(targets))

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
            _latest_build = threads.submit(_build_and_keep)
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
    forget_consistency()
