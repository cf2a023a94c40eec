"""The one health report (DESIGN.md "Health report"): the CLI and the health page render this dict.

Each check runs in its own thread with its own deadline, so the whole report answers within
``health_timeout_s`` plus a little even when a store is down, blackholed or slow.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from p2p_store import __version__
from p2p_store.settings import Settings, get_settings, mask_secrets

_STARTED = time.monotonic()
# Threads outlive a timed-out check (a socket wait cannot be cancelled); a small shared pool bounds them.
_executor = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


def one_line_error(exc: BaseException) -> str:
    """An exception as one readable line, without credentials or traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.split(", full error:")[0].split(", Timeout:")[0]
    if len(text) > 200:
        text = text[:197] + "..."
    return mask_secrets(f"{type(exc).__name__}: {text}")


def _timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    result = fn()
    result.setdefault("latency_ms", round((time.perf_counter() - start) * 1000, 2))
    return result


def check_postgresql() -> dict[str, Any]:
    from p2p_store import pg, schema

    version = pg.ping()
    result = {"status": "healthy", "server_version": version}
    result["latency_ms"] = None  # filled by _timed with the ping time only
    start = time.perf_counter()
    pg.ping()
    result["latency_ms"] = round((time.perf_counter() - start) * 1000, 2)
    result["pool"] = pg.pool_status()
    result["migration"] = schema.migration_status()
    result["error"] = None
    return result


def check_mongodb() -> dict[str, Any]:
    from p2p_store import mongo

    db = mongo.get_db()
    version = mongo.ping(db)
    start = time.perf_counter()
    db.client.admin.command("ping")
    latency = round((time.perf_counter() - start) * 1000, 2)
    return {"status": "healthy", "latency_ms": latency, "server_version": version,
            "pool": mongo.pool_status(), "error": None}


def check_consistency() -> dict[str, Any]:
    from p2p_store import consistency

    counts = consistency.drift_counts()
    bad = counts["role_drift"] + counts["orphans"]
    return {"status": "degraded" if bad else "healthy", **counts}


def _run(checks: dict[str, Callable[[], dict[str, Any]]], timeout_s: float) -> dict[str, dict[str, Any]]:
    futures = {name: _executor.submit(_timed, fn) for name, fn in checks.items()}
    deadline = time.monotonic() + timeout_s
    results: dict[str, dict[str, Any]] = {}
    for name, fut in futures.items():
        try:
            results[name] = fut.result(timeout=max(deadline - time.monotonic(), 0.01))
        except cf.TimeoutError:
            results[name] = {"status": "unhealthy", "latency_ms": None,
                             "error": f"no answer within {timeout_s:g} s"}
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line in the report
            results[name] = {"status": "unhealthy", "latency_ms": None, "error": one_line_error(exc)}
    return results


def build_report(settings: Settings | None = None) -> dict[str, Any]:
    """The health report. Status: healthy (all checks), degraded (something serves), unhealthy (both down)."""
    settings = settings or get_settings()
    timeout = settings.health_timeout_s
    checks = _run({"postgresql": check_postgresql, "mongodb": check_mongodb}, timeout)
    pg_ok = checks["postgresql"]["status"] == "healthy"
    mongo_ok = checks["mongodb"]["status"] == "healthy"
    if pg_ok and mongo_ok:
        checks |= _run({"consistency": check_consistency}, timeout)
        if checks["consistency"]["status"] == "unhealthy":  # the check itself failed: say so, stay degraded
            checks["consistency"] = {"status": "degraded", "role_drift": None, "orphans": None,
                                     "error": checks["consistency"].get("error")}
    else:
        checks["consistency"] = {"status": "degraded", "role_drift": None, "orphans": None,
                                 "error": "needs both stores"}
    checks["consistency"].pop("latency_ms", None)

    if not pg_ok and not mongo_ok:
        status = "unhealthy"
    elif not (pg_ok and mongo_ok):
        status = "degraded"
    else:
        migration = checks["postgresql"].get("migration") or {}
        behind = migration.get("current") != migration.get("head")
        status = "degraded" if behind or checks["consistency"]["status"] != "healthy" else "healthy"
    return {
        "status": status,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "version": __version__,
        "uptime_s": round(time.monotonic() - _STARTED, 1),
        "checks": checks,
    }


EXIT_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}
