"""The figure cache (#17): stale-while-revalidate, single-flight, visible at once after a write;
and the overview figures it serves, on the real stores."""

from __future__ import annotations

import threading
import time

import pytest

from p2p_store.community import stats
from p2p_store.stores import figures, mongo


def test_first_read_computes_once_for_concurrent_readers():
    cache = figures.FigureCache(max_age_s=60)
    calls, gate = [], threading.Event()

    def compute():
        calls.append(1)
        gate.wait(5)
        return 42

    results: list[object] = []
    readers = [threading.Thread(target=lambda: results.append(cache.get("k", compute).value)) for _ in range(8)]
    for t in readers:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in readers:
        t.join(5)
    assert results == [42] * 8
    assert len(calls) == 1  # single-flight


def test_stale_value_is_served_while_one_refresh_runs():
    cache = figures.FigureCache(max_age_s=0.05)
    values, gate = iter([1, 2]), threading.Event()

    def compute():
        value = next(values)
        if value == 2:
            gate.wait(5)
        return value

    first = cache.get("k", compute)
    assert first.value == 1 and not first.refreshing
    time.sleep(0.1)
    started = time.perf_counter()
    stale = cache.get("k", compute)
    again = cache.get("k", compute)  # joins the refresh under way, does not start a second one
    assert time.perf_counter() - started < 0.5  # nobody waited for the slow refresh
    assert (stale.value, stale.refreshing, again.value) == (1, True, 1)
    assert stale.as_of == first.as_of
    gate.set()
    deadline = time.monotonic() + 5
    while cache.get("k", compute).value != 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    fresh = cache.get("k", compute)
    assert fresh.value == 2 and fresh.as_of > first.as_of


def test_invalidate_makes_the_next_read_see_the_write():
    cache = figures.FigureCache(max_age_s=3600)
    box = {"n": 1}
    assert cache.get("k", lambda: box["n"]).value == 1
    box["n"] = 2
    assert cache.get("k", lambda: box["n"]).value == 1  # fresh enough: cached
    cache.invalidate()
    assert cache.get("k", lambda: box["n"]).value == 2


def test_writes_compute_nothing_until_a_figure_is_read_and_then_once():
    """A write marks figures out of date and computes nothing (at scale 100 every refresh is a pass
    over a whole collection under the embedded server's lock, and the run after a write seldom reads a
    figure); the next read refreshes once, however many writes came before (#17)."""
    cache = figures.FigureCache(max_age_s=3600)
    calls: list[int] = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cache.get("k", compute).value == 1
    for _ in range(5):  # five writes in a row
        cache.invalidate()
    time.sleep(0.2)
    assert len(calls) == 1  # nothing refreshed in the background
    assert cache.get("k", compute).value == 2  # the read after the writes waits for one refresh
    assert cache.get("k", compute).value == 2 and len(calls) == 2


def test_a_write_marks_out_of_date_only_the_figures_that_read_what_it_touched():
    """A role change recomputes the role drift, the forum's authors and the collection sizes, not the
    map's cases; a reseed (no scope) recomputes everything (#17)."""
    cache = figures.FigureCache(max_age_s=3600)
    calls: dict[str, int] = {}

    def read(key: str, reads: frozenset[str] = figures.EVERYTHING) -> int:
        def compute() -> int:
            calls[key] = calls.get(key, 0) + 1
            return calls[key]

        return cache.get(key, compute, reads).value

    cases, authors = figures.USE_CASES, figures.FORUM | figures.ACCOUNTS
    assert (read("cases", cases), read("authors", authors), read("sizes")) == (1, 1, 1)
    cache.invalidate(figures.ACCOUNTS)
    assert (read("cases", cases), read("authors", authors), read("sizes")) == (1, 2, 2)
    cache.invalidate(figures.FORUM)
    assert (read("cases", cases), read("authors", authors), read("sizes")) == (1, 3, 3)
    cache.invalidate()
    assert (read("cases", cases), read("authors", authors), read("sizes")) == (2, 4, 4)
    with pytest.raises(ValueError, match="unknown scopes"):
        cache.invalidate(frozenset({"account"}))  # a misspelt scope would mark nothing out of date


def test_figures_over_what_only_a_reseed_writes_are_not_recomputed_every_minute():
    """A figure that reads accounts is refreshed once older than max_age (people change accounts from
    any replica); one over the forum or the use cases only is kept for the longer quiet_max_age: the
    app writes those by a reseed alone, which the next test shows is seen at once (#17)."""
    cache = figures.FigureCache(max_age_s=0.05, quiet_max_age_s=3600)
    calls = {"cases": 0, "drift": 0}

    def counter(key: str):
        def compute() -> int:
            calls[key] += 1
            return calls[key]
        return compute

    assert cache.get("cases", counter("cases"), figures.USE_CASES).value == 1
    assert cache.get("drift", counter("drift"), figures.ACCOUNTS).value == 1
    time.sleep(0.1)
    cache.get("cases", counter("cases"), figures.USE_CASES)
    cache.get("drift", counter("drift"), figures.ACCOUNTS)
    deadline = time.monotonic() + 5
    while calls["drift"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert calls == {"cases": 1, "drift": 2}


def test_a_reseed_in_another_process_is_seen_at_once_even_on_the_same_database(demo):
    """Another process's reseed flips the pointer to a new generation; after two reseeds the same
    database (blue) is live again with other data. The figure cache keys a figure by the database
    and its generation id, so the next read recomputes, however young the figure is (#17, #19)."""
    from p2p_store.stores import generation

    cache = figures.FigureCache(max_age_s=3600, quiet_max_age_s=3600)
    cases = mongo.get_db()[mongo.USE_CASES]

    def basic() -> int:
        return cases.count_documents({"kind": "basic"})

    before = cache.get("basic", basic, figures.USE_CASES).value
    doc = cases.find_one({"kind": "basic"})
    cases.update_one({"_id": doc["_id"]}, {"$set": {"kind": "detailed"}})
    pointer = mongo.base_db()[generation.META]
    old = pointer.find_one({"_id": "generation"})
    try:
        assert cache.get("basic", basic, figures.USE_CASES).value == before  # nothing says it changed
        live = mongo.get_db().name
        pointer.update_one({"_id": "generation"}, {"$set": {"generation": generation.new_id()}}, upsert=True)
        assert mongo.get_db().name == live  # the same database, a new generation
        assert cache.get("basic", basic, figures.USE_CASES).value == before - 1
    finally:
        cases.update_one({"_id": doc["_id"]}, {"$set": {"kind": "basic"}})
        if old is None:
            pointer.delete_one({"_id": "generation"})
        else:
            pointer.replace_one({"_id": "generation"}, old)


def test_a_failing_refresh_keeps_the_old_value():
    cache = figures.FigureCache(max_age_s=0.01)
    assert cache.get("k", lambda: "old").value == "old"
    time.sleep(0.05)

    def boom():
        raise RuntimeError("store down")

    assert cache.get("k", boom).value == "old"
    time.sleep(0.1)
    assert cache.get("k", boom).value == "old"  # the failed refresh kept the value; still served


def test_overview_figures_follow_a_write_after_invalidate(demo):
    before = stats.overview()
    assert before["figures"]["use_cases"] == mongo.get_db()[mongo.USE_CASES].count_documents({})
    assert sum(r["posts"] for r in before["categories"]) == before["figures"]["posts"]
    doc = mongo.get_db()[mongo.USE_CASES].find_one({"kind": "basic"})
    mongo.get_db()[mongo.USE_CASES].update_one({"_id": doc["_id"]}, {"$set": {"kind": "detailed"}})
    try:
        cached = stats.overview()["figures"]
        assert cached["use_cases_basic"] == before["figures"]["use_cases_basic"]  # still the cached figure
        stats.invalidate()
        after = stats.overview()
        assert after["figures"]["use_cases_basic"] == before["figures"]["use_cases_basic"] - 1
        assert after["as_of"] >= before["as_of"]
    finally:
        mongo.get_db()[mongo.USE_CASES].update_one({"_id": doc["_id"]}, {"$set": {"kind": "basic"}})
        stats.invalidate()


def test_forum_facets_are_cached_with_their_time(demo):
    first = stats.forum_facets()
    assert sum(c["posts"] for c in first.value.categories) == mongo.get_db()[mongo.FORUM_POSTS].count_documents({})
    assert stats.forum_facets().as_of == first.as_of


def test_collection_sizes_come_from_the_cache_and_follow_a_write_after_invalidate(demo):
    """On the embedded server an estimated count scans the collection, so pages read sizes from the
    figure cache (#17): exact after invalidate(), the earlier figure before it."""
    replies = mongo.get_db()[mongo.FORUM_REPLIES]
    exact = replies.count_documents({})
    assert figures.collection_size(mongo.FORUM_REPLIES) == exact
    assert stats.overview()["figures"]["replies"] == exact
    extra = dict(replies.find_one({}), _id="test-size-extra")
    replies.insert_one(extra)
    try:
        assert figures.collection_size(mongo.FORUM_REPLIES) == exact  # the cached figure
        figures.invalidate()
        assert figures.collection_size(mongo.FORUM_REPLIES) == exact + 1
        assert stats.overview()["figures"]["replies"] == exact + 1
    finally:
        replies.delete_one({"_id": "test-size-extra"})
        figures.invalidate()
    assert figures.collection_size("not_an_application_collection") == 0  # any other name: counted now
