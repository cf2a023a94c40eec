"""Blue/green reseed benchmark (#19), not part of the test suite:
``python tests/perf/bench_reseed.py --scale 20 [--scale 100] [--runs N] [--up-runs 5] [--json]``.

On a throw-away embedded data dir (or DATABASE_URL / MONGODB_URL when set), prints one JSON object:
- per scale: the reseed's phases (prepare, clearing the generation before the live one, MongoDB load +
  indexes in the database not live, PostgreSQL transaction, the pointer flip) beside the floor
  measured on the same servers in the same run: the same documents written
  bare with ``insert_many`` into collections created with the same validators, then the same indexes,
  and the same rows ``COPY``ed into a table like ``users``;
- ``runs`` reseeds at that scale, the failures among them;
- the swap: how long the app read a mix of old and new (PostgreSQL committed, pointer not yet flipped),
  the slowest page read (the Data admin page's counts) while the swap ran and before it, and reads
  that failed;
- the warm ``python -m p2p_store up`` time (servers stopped, data dir existing), median of ``up_runs``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
os.chdir(REPO_ROOT)


def floor(scale: int, random_seed: int) -> dict:
    from sqlalchemy import text

    from p2p_store.stores import generation, mongo, pg
    from seed import loader
    from seed.dataset import full_dataset

    data = full_dataset(scale, random_seed)
    with pg.get_engine().begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("CREATE TEMP TABLE floor_users (LIKE users INCLUDING ALL) ON COMMIT DROP"))
        raw = conn.connection.driver_connection
        start = time.perf_counter()
        with raw.cursor() as cur, cur.copy(f"COPY floor_users ({', '.join(loader.USER_COLUMNS)}) FROM STDIN") as cp:
            for row in data.users:
                cp.write_row([row[c] for c in loader.USER_COLUMNS])
        pg_s = time.perf_counter() - start
    db = generation.maintenance_db()
    sizes = dict(loader.MONGO_PLAN)
    start = time.perf_counter()
    for spec in mongo.COLLECTIONS:
        name = "floor_" + spec.name
        db.drop_collection(name)
        db.create_collection(name, validator=spec.validator)
        docs = getattr(data, sizes[spec.name])
        for i in range(0, len(docs), loader.MONGO_BATCH):
            db[name].insert_many(docs[i:i + loader.MONGO_BATCH], ordered=False)
        db[name].create_indexes(spec.indexes)
    mongo_s = time.perf_counter() - start
    for spec in mongo.COLLECTIONS:
        db.drop_collection("floor_" + spec.name)
    return {"postgresql_copy_s": round(pg_s, 3), "mongodb_insert_and_index_s": round(mongo_s, 3)}


def reseed_watched(scale: int, random_seed: int) -> dict:
    """One reseed in a thread while this thread reads the counts every 50 ms (the app's client)."""
    from seed import loader

    marks: dict[str, float] = {}
    outcome: dict = {}

    def on_progress(event) -> None:
        if event.collection == "swap" and event.done == 0:
            marks.setdefault("swap_start", time.monotonic())

    def run() -> None:
        try:
            outcome["result"] = loader.reseed(scale=scale, random_seed=random_seed, progress=on_progress)
        except Exception as exc:  # noqa: BLE001 - reported
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:300]
        marks["end"] = time.monotonic()

    before = loader.current_counts()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    reads: list[tuple[float, float, dict | None]] = []
    while thread.is_alive():
        t0 = time.monotonic()
        try:
            counts = loader.current_counts()
        except Exception:  # noqa: BLE001 - a failed read is counted
            counts = None
        reads.append((t0, time.monotonic(), counts))
        time.sleep(0.05)
    thread.join()
    after = loader.current_counts()
    in_swap = [(a, b, c) for a, b, c in reads if "swap_start" in marks and b >= marks["swap_start"]]
    changed = [a for a, _, c in reads if c is not None and c != before]
    mixed = [a for a, _, c in reads if c is not None and c != before and c != after]
    return {
        "error": outcome.get("error"), "result": outcome.get("result"),
        "reads": len(reads), "failed_reads": sum(c is None for _, _, c in reads),
        "slowest_read_in_swap_s": round(max((b - a for a, b, _ in in_swap), default=0.0), 3),
        "slowest_read_before_swap_s": round(max((b - a for a, b, _ in reads
                                                 if b < marks.get("swap_start", float("inf"))), default=0.0), 3),
        "mixed_read_window_s": round(max(mixed) - min(mixed), 3) if mixed else 0.0,
        "first_changed_read_after_swap_start_s": round(min(changed) - marks["swap_start"], 3)
        if changed and "swap_start" in marks else None,
    }


def bench_scale(scale: int, random_seed: int, runs: int) -> dict:
    from seed import loader

    loader.reseed(scale=0)  # the previous set is the demo set
    runs_out = []
    for n in range(runs):
        watched = reseed_watched(scale, random_seed + n % 2)  # alternate seeds: each run replaces data
        result = watched.pop("result") or {}
        runs_out.append({**watched, "total_s": result.get("duration_s"), "prepare_s": result.get("prepare_s"),
                         "mongodb_stage_s": (result.get("mongodb") or {}).get("stage_seconds"),
                         "postgresql_s": (result.get("postgresql") or {}).get("seconds"),
                         "clear_s": (result.get("mongodb") or {}).get("clear_seconds"),
                         "pointer_s": (result.get("mongodb") or {}).get("pointer_seconds"),
                         "swap_s": result.get("swap_s")})
    ok = [r for r in runs_out if r["error"] is None]
    first = runs_out[0]
    stores_s = (first["total_s"] - first["prepare_s"]) if first["total_s"] is not None else None
    floor_s = floor(scale, random_seed)
    floor_total = floor_s["postgresql_copy_s"] + floor_s["mongodb_insert_and_index_s"]
    return {
        "counts": loader.current_counts(), "runs": runs, "failures": runs - len(ok),
        "errors": [r["error"] for r in runs_out if r["error"]][:3],
        "first_run": first, "floor": floor_s,
        "stores_s_vs_floor": {"ours": round(stores_s, 3) if stores_s else None, "floor": round(floor_total, 3),
                              "ratio_floor_over_ours": round(floor_total / stores_s, 2) if stores_s else None},
        "median_total_s": round(statistics.median(r["total_s"] for r in ok), 3) if ok else None,
        "median_swap_s": round(statistics.median(r["swap_s"] for r in ok), 3) if ok else None,
        "median_clear_s": round(statistics.median(r["clear_s"] or 0 for r in ok), 3) if ok else None,
        "median_stage_s": round(statistics.median(r["mongodb_stage_s"] or 0 for r in ok), 3) if ok else None,
        "max_slowest_read_in_swap_s": max((r["slowest_read_in_swap_s"] for r in ok), default=None),
        "failed_reads_total": sum(r["failed_reads"] for r in runs_out),
    }


def warm_up_times(runs: int) -> dict:
    """``python -m p2p_store up`` with the servers stopped, on this (existing) data dir."""
    env = os.environ.copy()
    cli = [sys.executable, "-m", "p2p_store"]
    times = []
    for _ in range(runs):
        subprocess.run(cli + ["down"], env=env, capture_output=True, check=True, timeout=120)
        start = time.perf_counter()
        subprocess.run(cli + ["up"], env=env, capture_output=True, check=True, timeout=300)
        times.append(time.perf_counter() - start)
    return {"runs": runs, "median_s": round(statistics.median(times), 2), "all_s": [round(t, 2) for t in times]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, action="append", help="repeatable (default: 20)")
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=1, help="reseeds per scale")
    parser.add_argument("--up-runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    own_dir = None
    if "P2P_DATA_DIR" not in os.environ:
        own_dir = tempfile.mkdtemp(prefix="p2p-bench-reseed-")
        os.environ["P2P_DATA_DIR"] = own_dir
    import logging

    logging.basicConfig(level=logging.ERROR)
    from p2p_store.settings import get_settings
    from p2p_store.stores import generation, local, mongo, pg, ready

    settings = get_settings()
    out: dict = {"load_average_at_start": os.getloadavg()}
    try:
        ready.ensure_ready()
        out["scales"] = {str(s): bench_scale(s, args.random_seed, args.runs) for s in (args.scale or [20])}
        mongo.close_client()
        generation.close_maintenance_client()
        pg.dispose_engine()
        if not (settings.database_url or settings.mongodb_url) and args.up_runs:
            out["warm_up"] = warm_up_times(args.up_runs)
        out["load_average_at_end"] = os.getloadavg()
    finally:
        mongo.close_client()
        generation.close_maintenance_client()
        pg.dispose_engine()
        if own_dir:
            local.stop_local(settings)
    print(json.dumps(out, indent=None if args.json else 2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
