"""Figures for the health report (issue 7), printed as one JSON object:

    python tests/perf/bench_health.py               # 50 runs each
    python tests/perf/bench_health.py --runs 200

- ``floor``: a bare ``SELECT 1`` on an open psycopg connection plus a bare ``ping`` on a plain
  pymongo client, timed back to back in the same loop as the report (so both see the same load);
  ``pooled_floor``: the same through the app's pools (checkout, pre-ping).
- ``report``: ``health.build_report()`` as the page and sidebar call it (consistency counts reused
  for ``CONSISTENCY_MAX_AGE_S``); ``report_fresh``: with fresh consistency counts every time.
  Medians of ``--runs``; target: the report within 2x of the floor.
- ``down``: the time to report a stopped MongoDB-protocol server (first report after the stop, and
  the next one), both stores stopped, a blackholed pair of endpoints, and the CLI with MongoDB
  stopped (a fresh process: start-up and imports included). Target: within 3 s.

It RESEEDS the demo set and STOPS and restarts the stores it runs on, so by default it starts its own
embedded stores in a throw-away data dir and stops them at the end; set P2P_DATA_DIR to use others
(the stop/start part is skipped with DATABASE_URL / MONGODB_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.chdir(REPO)
_OWN_DIR = not any(os.environ.get(k) for k in ("P2P_DATA_DIR", "DATABASE_URL", "MONGODB_URL"))
if _OWN_DIR:
    os.environ["P2P_DATA_DIR"] = tempfile.mkdtemp(prefix="p2p-bench-health-")
os.environ.pop("P2P_ENV", None)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": ms(statistics.median(ordered)), "p90_ms": ms(ordered[int(len(ordered) * 0.9) - 1]),
            "min_ms": ms(ordered[0])}


def steady_state(runs: int) -> dict[str, Any]:
    """Floor and report, interleaved in one loop."""
    import psycopg
    import pymongo
    from sqlalchemy import text

    from p2p_store import health
    from p2p_store.settings import get_settings
    from p2p_store.stores import local, mongo, pg

    settings = get_settings()
    engine = pg.get_engine()
    bare_pg = psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                              autocommit=True)
    bare_mongo = pymongo.MongoClient(local.mongodb_url(settings), serverSelectionTimeoutMS=2000)
    app_client = mongo.get_client()

    def floor() -> None:
        bare_pg.execute("SELECT 1").fetchone()
        bare_mongo.admin.command("ping")

    def pooled_floor() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
        app_client.admin.command("ping")

    cases = {"floor": floor, "pooled_floor": pooled_floor, "report": health.build_report,
             "report_fresh": lambda: health.build_report(consistency_max_age_s=0)}
    for fn in cases.values():  # warm: connections open, code paths imported, versions asked
        for _ in range(5):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            samples[name].append(timed(fn)[0])
    report = health.build_report()
    assert report["status"] == "healthy", report
    bare_pg.close()
    bare_mongo.close()
    out = {name: summary(values) for name, values in samples.items()}
    out["ratio_report_to_floor"] = round(out["report"]["median_ms"] / out["floor"]["median_ms"], 2)
    out["ratio_report_fresh_to_floor"] = round(out["report_fresh"]["median_ms"] / out["floor"]["median_ms"], 2)
    out["check_latency_ms"] = {name: report["checks"][name]["latency_ms"] for name in ("postgresql", "mongodb")}
    return out


def _cli_health() -> tuple[float, int]:
    took, proc = timed(lambda: subprocess.run([sys.executable, "-m", "p2p_store", "health", "--json"],
                                              cwd=REPO, capture_output=True, text=True, timeout=60))
    return round(took, 3), proc.returncode


def down_stores() -> dict[str, Any]:
    from p2p_store import health
    from p2p_store.settings import get_settings, load_settings
    from p2p_store.stores import local

    out: dict[str, Any] = {}
    # Blackholed endpoints: a port that accepts connections and never answers.
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    port = server.getsockname()[1]
    hole = load_settings(database_url=f"postgresql://u:p@127.0.0.1:{port}/x",
                         mongodb_url=f"mongodb://127.0.0.1:{port}/?directConnection=true")
    with health.targets_for(hole) as targets:
        took, report = timed(lambda: health.build_report(targets=targets))
    server.close()
    out["blackholed_both_s"] = {"seconds": round(took, 3), "status": report["status"]}

    settings = get_settings()
    if settings.database_url or settings.mongodb_url:
        out["stopped"] = "skipped: external stores"
        return out
    root = local.data_dir(settings)
    out["cli_healthy_s"], _ = _cli_health()
    try:
        local.stop_local_mongo(root)
        for label in ("mongodb_stopped_first_report_s", "mongodb_stopped_next_report_s"):
            took, report = timed(lambda: health.build_report(consistency_max_age_s=0))
            out[label] = {"seconds": round(took, 3), "status": report["status"],
                          "error": report["checks"]["mongodb"]["error"]}
        cli_s, code = _cli_health()
        out["cli_mongodb_stopped_s"] = {"seconds": cli_s, "exit_code": code}
        local.stop_local_postgres(root)
        took, report = timed(health.build_report)
        out["both_stopped_s"] = {"seconds": round(took, 3), "status": report["status"]}
    finally:
        subprocess.run([sys.executable, "-m", "p2p_store", "up"], cwd=REPO, capture_output=True, timeout=120)
    deadline = time.monotonic() + 15
    start = time.monotonic()
    while health.build_report()["status"] != "healthy" and time.monotonic() < deadline:
        time.sleep(0.1)
    out["healthy_again_after_up_s"] = round(time.monotonic() - start, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    from p2p_store.health import CONSISTENCY_MAX_AGE_S
    from p2p_store.settings import get_settings
    from p2p_store.stores import local, mongo, pg, ready
    from seed.loader import reseed

    ready.ensure_ready()
    reseed(scale=0)
    try:
        result = {"runs": args.runs, "consistency_max_age_s": CONSISTENCY_MAX_AGE_S,
                  "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
                  "steady": steady_state(args.runs), "down": down_stores()}
        result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result, indent=2))
    finally:
        if _OWN_DIR:
            mongo.close_client()
            pg.dispose_engine()
            local.stop_local(get_settings())
            shutil.rmtree(os.environ["P2P_DATA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
