"""Figures for the forum browser (issue 5): the list and a thread of 5,000 replies, cold and warm,
at scale 0 and scale 20, with the raw query of the same run beside each figure.

    python tests/perf/bench_forum.py                 # scales 0 and 20, JSON summary at the end
    python tests/perf/bench_forum.py --scales 0 --repeat 9

It RESEEDS the stores it runs on. By default it starts its own embedded stores in a throw-away data
dir and stops them at the end; set P2P_DATA_DIR (or DATABASE_URL / MONGODB_URL) to use others.

- "raw": the bare pymongo query the service issues (list: the pinned and unpinned phases of the first
  page; thread: all replies by post_id sorted by path; facets: the one $facet pass), no Python on top.
- "service": the ``p2p_store.community.forum`` call; cold = first call after the reseed / insert, warm = the
  median of repeats.
- "page": an AppTest run of the page signed in as the demo member; cold = ``st.cache_data`` cleared,
  warm = the median of reruns (cached reads, the whole script and its elements).
Targets: page warm < 100 ms; list cold at scale 20 within 2x of scale 0 (beside the raw query's own
growth); a thread of 5,000 replies < 1.5 s cold on the embedded server.
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
_OWN_DIR = not any(os.environ.get(k) for k in ("P2P_DATA_DIR", "DATABASE_URL", "MONGODB_URL"))
if _OWN_DIR:
    os.environ["P2P_DATA_DIR"] = tempfile.mkdtemp(prefix="p2p-bench-forum-")
os.environ.pop("P2P_ENV", None)

MEMBER = "sara.hassan@advanced-electronics.sa"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def cold_warm(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    cold, _ = timed(fn)
    warm = [timed(fn)[0] for _ in range(repeat)]
    return {"cold_ms": ms(cold), "warm_ms": ms(statistics.median(warm)), "warm_min_ms": ms(min(warm))}


def raw_first_page(page_size: int = 20) -> int:
    """The list's two queries for page 1 (pinned phase, unpinned phase), as bare pymongo."""
    from p2p_store.community import forum
    from p2p_store.stores import mongo

    posts = mongo.get_db()[mongo.FORUM_POSTS]
    order = [("is_pinned", -1), ("last_activity_at", -1), ("_id", -1)]
    docs = list(posts.find({"is_pinned": True}, forum._LIST_FIELDS).sort(order).limit(page_size + 1))
    docs += list(posts.find({"is_pinned": False}, forum._LIST_FIELDS).sort(order).limit(page_size + 1 - len(docs)))
    return len(docs)


def raw_thread(post_id: str) -> int:
    from p2p_store.stores import mongo

    replies = mongo.get_db()[mongo.FORUM_REPLIES]
    return len(list(replies.find({"post_id": post_id}).sort("path", 1)))


def raw_facets() -> int:
    """The one ``$facet`` pass behind the filters' choices (without the authors' names)."""
    from p2p_store.community import forum
    from p2p_store.stores import mongo

    posts = mongo.get_db()[mongo.FORUM_POSTS]
    return len(list(posts.aggregate([{"$facet": {"categories": forum._CATEGORY_STAGES, "tags": forum._TAG_STAGES,
                                                 "authors": forum._AUTHOR_STAGES}}])))


def page_runs(repeat: int, **params: str) -> dict[str, float]:
    """AppTest: the forum page with these query params, cold (caches cleared) then warm reruns."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.button(key=f"demo_{MEMBER}").click().run()
    at.switch_page("app_pages/forum.py").run()  # page code warm, so "cold" is about data, not imports
    for name, value in params.items():
        at.query_params[name] = value
    st.cache_data.clear()
    cold, _ = timed(at.run)
    assert not at.exception, at.exception
    warm = [timed(at.run)[0] for _ in range(repeat)]
    return {"cold_ms": ms(cold), "warm_ms": ms(statistics.median(warm)), "warm_min_ms": ms(min(warm))}


def run_scale(scale: int, repeat: int) -> dict[str, Any]:
    from p2p_store.community import forum
    from seed.loader import reseed
    from tests.test_forum import BIG_THREAD_REPLIES, insert_big_thread, remove_big_thread

    seeded_s, result = timed(lambda: reseed(scale=scale))
    out: dict[str, Any] = {"scale": scale, "reseed_s": round(seeded_s, 2),
                           "posts": forum.count_posts().count}
    out["list_raw_query"] = cold_warm(raw_first_page, repeat)
    out["list_service"] = cold_warm(lambda: forum.list_posts(page_size=20), repeat)
    out["list_service_filtered"] = cold_warm(
        lambda: forum.list_posts(category="Automation", solved=False, sort="views", page_size=20), repeat)
    out["list_search"] = cold_warm(lambda: forum.list_posts(search="sensors", page_size=20), repeat)
    out["facets_raw_query"] = cold_warm(raw_facets, repeat)
    out["facets"] = cold_warm(forum.facet_counts, repeat)
    out["list_page"] = page_runs(repeat)

    insert_s, post_id = timed(insert_big_thread)
    try:
        out["thread_insert_s"] = round(insert_s, 2)
        out["thread_raw_query"] = cold_warm(lambda: raw_thread(post_id), repeat)
        out["thread_service"] = cold_warm(lambda: forum.thread(post_id=post_id), repeat)
        tree = forum.thread(post_id=post_id)
        out["thread_lines"] = cold_warm(lambda: forum.thread_lines(tree), repeat)
        out["thread_page"] = page_runs(repeat, post=post_id)
        out["thread_replies"] = len(tree.replies)
        assert len(tree.replies) == BIG_THREAD_REPLIES
    finally:
        removed_s, _ = timed(lambda: remove_big_thread(post_id))
        out["thread_remove_s"] = round(removed_s, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[0, 20])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from p2p_store.settings import get_settings
    from p2p_store.stores import local, mongo, pg, ready

    ready.ensure_ready()
    results = []
    try:
        for scale in args.scales:
            res = run_scale(scale, args.repeat)
            results.append(res)
            print(f"\n== scale {scale}: {res['posts']:,} posts (reseed {res['reseed_s']} s)")
            for key, value in res.items():
                if isinstance(value, dict):
                    print(f"  {key:24s} cold {value['cold_ms']:8.1f} ms   warm {value['warm_ms']:7.1f} ms "
                          f"(min {value['warm_min_ms']:.1f})")
        from seed.loader import reseed

        reseed(scale=0)
    finally:
        if _OWN_DIR:
            settings = get_settings()
            mongo.close_client()
            pg.dispose_engine()
            local.stop_local(settings)
            shutil.rmtree(settings.data_dir, ignore_errors=True)
    if len(results) > 1:
        base, top = results[0], results[-1]
        print(f"\nlist page cold, scale {top['scale']} / scale {base['scale']}: "
              f"{top['list_page']['cold_ms'] / base['list_page']['cold_ms']:.2f}x "
              f"(raw query: {top['list_raw_query']['cold_ms'] / base['list_raw_query']['cold_ms']:.2f}x cold, "
              f"{top['list_raw_query']['warm_ms'] / max(base['list_raw_query']['warm_ms'], 0.1):.2f}x warm)")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
