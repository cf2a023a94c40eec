"""The audit explorer's first page at 100 events and at 100,000 events (#16: within 2x).

    python tests/perf/bench_audit.py [--repeat 9] [--json]

Starts its own embedded stores in a throw-away data dir (the event log is append-only, so the rows it
adds cannot be removed: never point it at stores you keep) and stops them at the end.

- "service": ``audit.list_events`` first page (50 rows), unfiltered and filtered by person + action
  (keyset on ``id``, ``ix_events_*`` indexes); cold = first call, warm = median of repeats.
- "page": the audit page's script in AppTest, signed in as the demo admin; cold = ``st.cache_data``
  cleared, warm = median of reruns.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.chdir(REPO)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("MONGODB_URL", None)
os.environ["P2P_DATA_DIR"] = tempfile.mkdtemp(prefix="p2p-bench-audit-")
os.environ.pop("P2P_ENV", None)

ADMIN = "ahmed.faisal@advanced-electronics.sa"
SARA = "sara.hassan@advanced-electronics.sa"

FILL = """
INSERT INTO events (at, actor_email, action, object_kind, object_id, object_email, before, after,
                    mongo_outcome, request_id, applied_at)
SELECT now() - make_interval(secs => g), (ARRAY['ahmed.faisal@advanced-electronics.sa',
        'mohammed.rashid@gulfplastics.sa', 'ops@example.sa'])[1 + g % 3],
       (ARRAY['change_role', 'update_account', 'deactivate', 'edit_config'])[1 + g % 4], 'account',
       CASE WHEN g % 50 = 0 THEN :sara_id ELSE md5(g::text) END,
       CASE WHEN g % 50 = 0 THEN :sara ELSE 'p' || (g % 5000) || '@example.sa' END,
       jsonb_build_object('role', 'member'), jsonb_build_object('role', 'admin'), 'applied',
       gen_random_uuid()::text, now()
FROM generate_series(1, :n) AS g
"""


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def cold_warm(fn: Callable[[], Any], repeat: int, before_cold: Callable[[], None] | None = None) -> dict[str, float]:
    if before_cold:
        before_cold()
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return {"cold_ms": ms(cold), "warm_ms": ms(statistics.median(warm))}


def fill_to(n: int) -> int:
    from sqlalchemy import text

    from p2p_store.stores import pg
    from seed.dataset import user_id_for

    with pg.get_engine().begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))  # the app pool's bound is for page queries
        have = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        if n > have:
            conn.execute(text(FILL), {"n": n - have, "sara": SARA, "sara_id": str(user_id_for(SARA))})
        conn.execute(text("ANALYZE events"))
        return conn.execute(text("SELECT count(*) FROM events")).scalar_one()


def raw_plan() -> dict[str, Any]:
    """The bare SQL of the unfiltered first page: its plan's top node and PostgreSQL's own execution time."""
    from sqlalchemy import text

    from p2p_store.stores import pg

    with pg.get_engine().connect() as conn:
        plan = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM events ORDER BY id DESC LIMIT 50")
                            ).scalar_one()[0]
    return {"node": plan["Plan"]["Plans"][0]["Node Type"] if plan["Plan"].get("Plans") else plan["Plan"]["Node Type"],
            "execution_ms": round(plan["Execution Time"], 2)}


def measure(repeat: int) -> dict[str, Any]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from p2p_store import audit
    from seed.dataset import user_id_for

    flt = audit.EventFilter(person=str(user_id_for(SARA)), action="change_role")
    out = {"service_first_page": cold_warm(lambda: audit.list_events(limit=50), repeat),
           "service_filtered_first_page": cold_warm(lambda: audit.list_events(flt, limit=50), repeat)}
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.button(key=f"demo_{ADMIN}").click().run()
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    out["page_first_page"] = cold_warm(lambda: at.run(), repeat, before_cold=st.cache_data.clear)
    out["raw_plan"] = raw_plan()
    rows = len(at.dataframe[0].value)
    assert rows == 50, rows
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from p2p_store.settings import get_settings
    from p2p_store.stores import local, mongo, pg, schema
    from seed import loader

    settings = get_settings()
    try:
        schema.bring_up()
        loader.reseed()
        results = {}
        for n in (100, 100_000):
            count = fill_to(n)
            results[str(count)] = measure(args.repeat)
        small, large = results["100"], results["100000"]
        ratio = {k: round(large[k]["warm_ms"] / small[k]["warm_ms"], 2) for k in small if "warm_ms" in small[k]}
        summary = {"events": results, "ratio_100k_to_100_warm": ratio}
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            for n, r in results.items():
                print(f"{int(n):>7,} events: " + "; ".join(f"{k} cold {v['cold_ms']} ms, warm {v['warm_ms']} ms"
                                                      for k, v in r.items() if "warm_ms" in v)
                      + f"; raw SQL {r['raw_plan']['node']} {r['raw_plan']['execution_ms']} ms")
            print("ratio 100k/100 (warm): " + ", ".join(f"{k} {v}x" for k, v in ratio.items()))
    finally:
        mongo.close_client()
        pg.dispose_engine()
        local.stop_local(settings)
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
