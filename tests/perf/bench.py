"""Benchmarks (not part of the test suite): ``python tests/perf/bench.py --scale 0 20 100 [--json] [--out F]``.

Seeds at each scale in turn on a throw-away embedded data dir (or DATABASE_URL / MONGODB_URL when set) and
prints one JSON object:
- reseed time and rows-or-documents per second per store, beside the raw floor measured on the same
  servers in the same run (a bare COPY of the same rows; the same documents ``insert_many``-ed into
  collections with the same validators, then the same indexes built) and the ratio floor/ours, for the
  whole MongoDB time and for the staging load alone (the rest is the swap);
- every page's script run in AppTest, cold (Streamlit's caches cleared; the figure cache as its
  background refresh keeps it), warm (rerun), median of several runs, and the process's very first
  run (every cache empty), beside the raw store query that page depends on;
- a growth line per page between consecutive scales (this run's, and ``--compare`` earlier JSON):
  the exponent k of time ~ documents^k (0 flat, 1 linear) for cold, warm and the raw query;
- the app's part of each browser benchmark step (a layer switch, a filter, opening a case, a thread,
  a role save, a deactivate): the script run the change starts, without a browser;
- the health report's latency (median of 50) beside a bare ``SELECT 1`` + ``ping``, and the time to
  report a stopped MongoDB-protocol server;
- peak memory (max RSS) of this process, which ran the app's pages.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
os.chdir(REPO_ROOT)


def _median_ms(fn, runs: int) -> float | None:
    """Median milliseconds of ``runs`` calls; None (and a line on stderr) when a call fails, so one
    query that times out on a busy machine does not lose the rest of the run."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported, the figure is left out
            print(f"raw query failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return None
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def bench_reseed(scale: int, random_seed: int) -> dict:
    """One reseed beside the floor: the same rows COPYed into a table like ``users`` (its indexes too),
    the same documents ``insert_many``-ed into collections with the same validators, then the same
    indexes built (``bench_reseed.floor``, the one definition of the floor)."""
    from bench_reseed import floor  # tests/perf/ is this script's directory

    from seed import loader

    result = loader.reseed(scale=scale, random_seed=random_seed)
    bare = floor(scale, random_seed)
    pg_floor, mongo_floor = bare["postgresql_copy_s"], bare["mongodb_insert_and_index_s"]
    ours_pg, ours_mongo = result["postgresql"]["seconds"], result["mongodb"]["seconds"]
    rows, docs, stage = result["postgresql"]["rows"], result["mongodb"]["documents"], result["mongodb"]["stage_seconds"]
    return {
        "counts": result["counts"], "total_s": result["duration_s"], "prepare_s": result["prepare_s"],
        "stores_s": round(result["duration_s"] - result["prepare_s"], 3),  # beside prepare_s (#19.4)
        "postgresql": {"rows": rows, "seconds": ours_pg, "rows_per_s": result["postgresql"]["rows_per_s"],
                       "floor_seconds": pg_floor,
                       "floor_rows_per_s": round(rows / pg_floor) if pg_floor else None,
                       "ratio_of_floor": round(pg_floor / ours_pg, 2) if ours_pg else None},
        "mongodb": {"documents": docs, "seconds": ours_mongo,
                    "documents_per_s": result["mongodb"]["documents_per_s"],
                    "clear_seconds": result["mongodb"]["clear_seconds"],  # the generation before the live one
                    "stage_seconds": stage,  # insert + index the new set in the database not live
                    "pointer_seconds": result["mongodb"]["pointer_seconds"],  # the swap: the live pointer flipped
                    "floor_seconds": mongo_floor,
                    "floor_documents_per_s": round(docs / mongo_floor) if mongo_floor else None,
                    "ratio_of_floor": round(mongo_floor / ours_mongo, 2) if ours_mongo else None,
                    "stage_ratio_of_floor": round(mongo_floor / stage, 2) if stage else None},
    }


def _raw_queries() -> dict:
    """The raw store queries the pages depend on, timed on their own."""
    from sqlalchemy import text

    from p2p_store.stores import mongo, pg

    db = mongo.get_db()
    post = db[mongo.FORUM_POSTS].find_one({}, sort=[("reply_count", -1)], projection={"_id": 1})
    with pg.get_engine().connect() as conn:
        accounts = _median_ms(lambda: conn.execute(text(
            "SELECT * FROM users ORDER BY full_name LIMIT 25")).all(), 5)
    return {
        "accounts_page_sql_ms": accounts,
        "forum_list_find_ms": _median_ms(lambda: list(db[mongo.FORUM_POSTS].find().sort(
            [("is_pinned", -1), ("last_activity_at", -1), ("_id", -1)]).limit(25)), 5),
        "thread_replies_find_ms": _median_ms(lambda: list(db[mongo.FORUM_REPLIES].find(
            {"post_id": post["_id"]}).sort("path", 1)), 5) if post else None,
        "use_cases_all_find_ms": _median_ms(lambda: list(db[mongo.USE_CASES].find(
            {}, {"title": 1, "location": 1, "industry": 1, "city": 1, "kind": 1, "company": 1})
            .sort([("industry", 1), ("title", 1)]).limit(5_000)), 5),  # what the map page reads
        "replies_page_find_ms": _median_ms(lambda: list(db[mongo.FORUM_REPLIES].find().sort("_id", 1).limit(50)), 5),
        "profiles_scan_ms": _median_ms(lambda: list(db[mongo.PROFILES].find({}, {"role": 1})), 5),
        "overview_aggregations_ms": _median_ms(_overview_queries, 3),
        "select1_plus_ping_ms": _median_ms(lambda: (_select1(), db.client.admin.command("ping")), 5),
    }


def _select1() -> None:
    from sqlalchemy import text

    from p2p_store.stores import pg

    with pg.get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


def _overview_queries() -> None:
    from p2p_store.community import stats, use_cases

    # The aggregations themselves (what the figure cache keeps off the page runs).
    stats._use_case_kinds()
    stats._posts_per_category()
    use_cases.counts_by_industry()
    stats._activity_by_month()


def bench_pages(runs: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from p2p_store.accounts import auth
    from p2p_store.stores import mongo

    me = auth.sign_in(email="ahmed.faisal@advanced-electronics.sa", password="Admin@2025!")
    post = mongo.get_db()[mongo.FORUM_POSTS].find_one({}, sort=[("reply_count", -1)], projection={"_id": 1})
    pages = {
        "overview": ("app_pages/overview.py", {}),
        "users": ("app_pages/users.py", {}),
        "forum_list": ("app_pages/forum.py", {}),
        "forum_thread": ("app_pages/forum.py", {"post": post["_id"]} if post else {}),
        "map": ("app_pages/map.py", {}),
        "explorer": ("app_pages/explorer.py", {}),
        "health": ("app_pages/health.py", {}),
        "data_admin": ("app_pages/data_admin.py", {}),
    }
    from p2p_store.community import stats

    out = {}
    for name, (script, params) in pages.items():
        if not (REPO_ROOT / script).exists():
            continue
        cold, warm, errors = [], [], []
        # The process's very first visit: every cache empty, the figure cache computes in the run.
        st.cache_data.clear()
        stats.FIGURES.clear()
        first = AppTest.from_file(str(REPO_ROOT / script), default_timeout=120)
        first.session_state["auth_token"] = me.token
        for key, value in params.items():
            first.query_params[key] = value
        start = time.perf_counter()
        first.run()
        first_ms = (time.perf_counter() - start) * 1000
        for _ in range(runs):
            # Cold: Streamlit's caches cleared; the figure cache holds what its background refresh
            # keeps current (as every visit after the process's first finds it).
            st.cache_data.clear()
            at = AppTest.from_file(str(REPO_ROOT / script), default_timeout=120)
            at.session_state["auth_token"] = me.token
            for key, value in params.items():
                at.query_params[key] = value
            start = time.perf_counter()
            at.run()
            cold.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            at.run()
            warm.append((time.perf_counter() - start) * 1000)
            errors.extend(str(e.value)[:120] for e in at.exception)
        out[name] = {"cold_ms": round(statistics.median(cold), 1), "warm_ms": round(statistics.median(warm), 1),
                     "process_first_ms": round(first_ms, 1), "runs": runs, "exceptions": errors[:2]}
    return out


def bench_steps(runs: int) -> dict:
    """The app's part of each browser benchmark step (``tests/perf/bench_browser.py``), without a
    browser: the script run a click starts, in AppTest, median of ``runs``. Each run starts from the
    page the step starts on, run once, then clears Streamlit's caches (the first person to take the
    step since they expired; the figure cache as its background refresh keeps it), makes the change
    and times the run it starts. The browser's own part (building and drawing the deck in software
    WebGL) is what the browser benchmark adds to these."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from p2p_store.accounts import auth, directory
    from p2p_store.stores import mongo

    me = auth.sign_in(email="ahmed.faisal@advanced-electronics.sa", password="Admin@2025!")
    db = mongo.get_db()
    post = db[mongo.FORUM_POSTS].find_one({}, sort=[("reply_count", -1)], projection={"_id": 1})
    case = db[mongo.USE_CASES].find_one({"kind": "detailed"}, projection={"_id": 1})
    people = [a for a in directory.list_accounts(page_size=100).rows
              if a["role"] != "admin" and a["is_active"]][:runs]

    def page(script: str, **params: str) -> AppTest:
        at = AppTest.from_file(str(REPO_ROOT / script), default_timeout=120)
        at.session_state["auth_token"] = me.token
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        st.cache_data.clear()
        st.cache_resource.clear()
        return at

    def layer_switch(_n: int) -> AppTest:
        at = page("app_pages/map.py")
        at.button_group(key="layer").set_value("heatmap")
        return at

    def a_filter(_n: int) -> AppTest:
        at = page("app_pages/map.py")
        box = at.selectbox(key="industry")
        box.select(box.options[1])
        return at

    def open_case(_n: int) -> AppTest:  # the table's row click sets ?case=; the same run follows
        at = page("app_pages/map.py")
        at.query_params["case"] = str(case["_id"])
        return at

    def thread_open(_n: int) -> AppTest:
        at = page("app_pages/forum.py")
        at.query_params["post"] = str(post["_id"])
        return at

    def person(n: int) -> AppTest:
        return page("app_pages/users.py", person=str(people[n % len(people)]["id"]))

    def role_save(n: int) -> AppTest:
        at = person(n)
        box = next(w for w in at.selectbox if w.label == "New role")
        box.select("user" if box.value != "user" else "member")
        next(b for b in at.button if b.label == "Save role").click()
        return at

    def deactivate(n: int) -> AppTest:
        at = person(n)
        next(b for b in at.button if b.label.strip("\u2068\u2069").startswith(("Deactivate", "Reactivate"))).click()
        return at

    def deck(at: AppTest) -> str:
        return at.get("deck_gl_json_chart")[0].proto.json

    def labels(at: AppTest) -> list[str]:
        return [b.label for b in at.button]

    def account(n: int) -> dict:
        return directory.get_account(user_id=str(people[n % len(people)]["id"]))

    # Each step with what shows it took effect: a figure of a step that did nothing would mislead.
    steps = {"map_layer_switch": (layer_switch, lambda at, n, was: '"HeatmapLayer"' in deck(at)),
             "map_filter": (a_filter, lambda at, n, was: at.selectbox(key="industry").value != "All"
                            and len(at.dataframe[0].value) < directory_cases),
             "map_open_case": (open_case, lambda at, n, was: "Close" in labels(at)),
             "forum_thread_open": (thread_open, lambda at, n, was: "Back to the list" in labels(at)),
             "role_save": (role_save, lambda at, n, was: account(n)["role"] != was["role"]),
             "deactivate": (deactivate, lambda at, n, was: account(n)["is_active"] != was["is_active"])}
    directory_cases = db[mongo.USE_CASES].estimated_document_count()
    out = {}
    for name, (prepare, took_effect) in steps.items():
        times, errors = [], []
        for n in range(runs):
            at = prepare(n)
            was = account(n)  # what the write steps must change
            start = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - start) * 1000)
            errors.extend(str(e.value)[:120] for e in at.exception)
            if not at.exception and not took_effect(at, n, was):
                errors.append("the change did not show on the page")
        out[name] = {"run_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                     "runs": runs, "exceptions": errors[:2]}
    return out


def bench_harness(runs: int) -> float:
    """The AppTest harness's own cost of a cold run (a new AppTest of a two-line script): part of every
    page's cold figure at every scale, not the page's work; printed beside the pages."""
    from streamlit.testing.v1 import AppTest

    script = Path(tempfile.mkdtemp(prefix="p2p-bench-harness-")) / "empty_page.py"
    script.write_text('import streamlit as st\nst.write("x")\n')
    times = []
    for _ in range(max(runs, 3)):
        at = AppTest.from_file(str(script), default_timeout=60)
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


# The raw store query behind each page (a key of _raw_queries), printed beside it.
RAW_FOR_PAGE = {"overview": "overview_aggregations_ms", "users": "accounts_page_sql_ms",
                "forum_list": "forum_list_find_ms", "forum_thread": "thread_replies_find_ms",
                "map": "use_cases_all_find_ms", "explorer": "replies_page_find_ms",
                "health": "select1_plus_ping_ms", "data_admin": "profiles_scan_ms"}


def bench_health(settings) -> dict:
    from sqlalchemy import text

    from p2p_store import health
    from p2p_store.stores import local, mongo, pg

    health.build_report()  # warm the pools
    report_ms = _median_ms(health.build_report, 50)
    engine, db = pg.get_engine(), mongo.get_db()

    def floor() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db.client.admin.command("ping")

    floor()
    floor_ms = _median_ms(floor, 50)
    out = {"report_median_ms": report_ms, "floor_select1_plus_ping_median_ms": floor_ms,
           "ratio": round(report_ms / floor_ms, 2) if floor_ms else None}
    if not settings.mongodb_url:
        root = settings.data_dir.resolve()
        local.stop_local_mongo(root)
        start = time.perf_counter()
        report = health.build_report()
        out["mongo_down_report_s"] = round(time.perf_counter() - start, 2)
        out["mongo_down_status"] = report["status"]
        local.ensure_local_mongo(root)
    return out


def _scale_run(scale: int, args, settings) -> dict:
    from p2p_store.stores import mongo

    reseed = bench_reseed(scale, args.random_seed)
    db = mongo.get_db()
    size = sum(db[name].estimated_document_count() for name in (mongo.FORUM_POSTS, mongo.FORUM_REPLIES,
                                                                  mongo.USE_CASES, mongo.PROFILES))
    return {"scale": scale, "documents": size, "reseed": reseed, "raw_queries": _raw_queries(),
            "pages": bench_pages(args.runs), "steps": bench_steps(args.runs), "apptest_harness_cold_ms": bench_harness(args.runs),
            "health": bench_health(settings),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def growth(small: dict, large: dict) -> dict:
    """Per page: the exponent k of time ~ documents^k from one run to the other (cold runs; 0 is flat,
    1 is linear in the data), and the same for the raw query behind it."""
    ratio = large["documents"] / small["documents"]
    out = {}
    for page, big in large["pages"].items():
        low = small["pages"].get(page)
        if not low:
            continue
        raw_key = RAW_FOR_PAGE.get(page)
        raw_low, raw_big = small["raw_queries"].get(raw_key), large["raw_queries"].get(raw_key)
        out[page] = {
            "cold_exponent": round(math.log(big["cold_ms"] / low["cold_ms"]) / math.log(ratio), 2),
            "warm_exponent": round(math.log(big["warm_ms"] / low["warm_ms"]) / math.log(ratio), 2),
            "raw_exponent": (round(math.log(raw_big / raw_low) / math.log(ratio), 2)
                             if raw_low and raw_big else None)}
    return out


def print_table(runs: list[dict], growths: dict) -> None:
    for run in runs:
        print(f"\nscale {run['scale']} ({run['documents']:,} documents; reseed {run['reseed']['total_s']} s; "
              f"peak RSS {run['peak_rss_mb']} MB; AppTest's own cold run of an empty page "
              f"{run.get('apptest_harness_cold_ms')} ms)")
        print(f"  {'page':<14}{'cold ms':>10}{'warm ms':>10}{'1st ms':>10}   raw store query behind it")
        for page, r in run["pages"].items():
            raw_key = RAW_FOR_PAGE.get(page)
            raw = run["raw_queries"].get(raw_key)
            errors = f"  ERRORS {r['exceptions']}" if r["exceptions"] else ""
            print(f"  {page:<14}{r['cold_ms']:>10}{r['warm_ms']:>10}{r['process_first_ms']:>10}   "
                  f"{raw_key} = {raw} ms{errors}")
        if run.get("steps"):
            print(f"  {'browser step, the app part':<30}{'run ms':>10}{'max ms':>10}")
            for step, r in run["steps"].items():
                errors = f"  ERRORS {r['exceptions']}" if r["exceptions"] else ""
                print(f"  {step:<30}{r['run_ms']:>10}{r['max_ms']:>10}{errors}")
    for label, g in growths.items():
        print(f"\ngrowth {label} (time ~ documents^k; cold / warm / raw query)")
        for page, k in g.items():
            print(f"  {page:<14} k = {k['cold_exponent']:>5} / {k['warm_exponent']:>5} / {k['raw_exponent']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, nargs="+", default=[0],
                        help="one or more scales, run in order on the same stores (e.g. --scale 20 100)")
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=5, help="page runs per page (median)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON here (one file; per scale with {scale})")
    parser.add_argument("--compare", type=Path, nargs="*", default=[],
                        help="earlier runs' JSON files: growth lines against them too")
    args = parser.parse_args()
    own_dir = None
    if "P2P_DATA_DIR" not in os.environ:
        own_dir = tempfile.mkdtemp(prefix="p2p-bench-")
        os.environ["P2P_DATA_DIR"] = own_dir
    os.environ.setdefault("P2P_MONGO_SELECT_TIMEOUT_MS", "2000")
    # A reseed at scale 100 builds indexes over 75,000 documents in one command: on a busy machine that
    # takes longer than the app's 15 s socket timeout.
    os.environ.setdefault("P2P_MONGO_TIMEOUT_MS", "300000")
    import logging

    logging.basicConfig(level=logging.ERROR)
    from p2p_store.settings import get_settings
    from p2p_store.stores import local, mongo, pg, ready

    settings = get_settings()
    try:
        start = time.perf_counter()
        ready.ensure_ready()
        up_s = time.perf_counter() - start
        header = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "load_average": os.getloadavg(),
            "stores": "external" if settings.database_url or settings.mongodb_url else "embedded",
            "up_s": round(up_s, 2)}
        runs = []
        for scale in args.scale:
            runs.append({**header, **_scale_run(scale, args, settings)})
            if args.out:  # each scale as soon as it is done: a later failure keeps the earlier figures
                args.out.write_text(json.dumps({"runs": runs, "growth": {}}, indent=2) + "\n")
            print(f"scale {scale} done", file=sys.stderr, flush=True)
    finally:
        mongo.close_client()
        pg.dispose_engine()
        if own_dir:
            local.stop_local(settings)
    earlier = [json.loads(p.read_text()) for p in args.compare]
    earlier = [r for e in earlier for r in e.get("runs", [e]) if "documents" in r]
    growths = {}
    everything = sorted(earlier + runs, key=lambda r: r["documents"])
    for small, large in itertools.pairwise(everything):
        if small["documents"] and large["documents"] > small["documents"]:
            growths[f"scale {small['scale']} -> {large['scale']}"] = growth(small, large)
    result = runs[0] if len(runs) == 1 and not growths else {"runs": runs, "growth": growths}
    if len(runs) == 1 and growths:
        result = {**runs[0], "growth": growths}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(runs, growths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
