"""Attack class: making a store spend unbounded time (#14).

User text never becomes a regex that can backtrack: several "contains" on one field are separate
``$and`` terms of escaped literals, their number and length capped. Console pipelines refuse stages
and operators that can run without bound before anything reaches the server. Each case asserts the
embedded MongoDB-protocol server answers a ping within 2 s while it runs and after, and that both
stores are unchanged. A server that is slow (here: stopped with SIGSTOP) is not judged dead."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from p2p_store.data import console, explorer
from p2p_store.errors import DomainError, InvalidInput, Refused
from tests.security.conftest import ADMIN_ID, fingerprint, ping_ms

HOSTILE_CONTAINS = [
    "a" * 200,
    "(a+)+$",
    "(?=(?=(?=a)))",
    ".*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*x",
    "\\" * 100,
    "[" * 150,
]


def _while_running(fn) -> list[float]:
    """Run ``fn`` in a thread and ping the server every 0.2 s while it runs and once after."""
    errors: list[BaseException] = []

    def run():
        try:
            fn()
        except DomainError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    pings = []
    while worker.is_alive():
        pings.append(ping_ms())
        time.sleep(0.2)
    worker.join()
    pings.append(ping_ms())
    assert not errors, errors
    return pings


@pytest.mark.parametrize("value", HOSTILE_CONTAINS, ids=range(len(HOSTILE_CONTAINS)))
def test_several_contains_on_one_field_stay_literal(demo_signed_in, value):
    before = fingerprint()
    filters = [("full_name", "contains", value)] * explorer.MAX_FILTERS
    pings = _while_running(lambda: explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="profiles",
                                                        filters=filters, page_size=50))
    assert max(pings) < 2000
    page = explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="profiles",
                                filters=[("full_name", "contains", "a"), ("full_name", "contains", "h")])
    assert page.rows and all("a" in r["full_name"].lower() and "h" in r["full_name"].lower() for r in page.rows)
    assert fingerprint() == before


def test_the_query_document_holds_no_lookahead(demo_signed_in):
    from p2p_store.data import browse_mongo

    fields = browse_mongo._mongo_fields("profiles")
    query = browse_mongo._mongo_query(fields, explorer._as_filters(
        [("full_name", "contains", "(a+)+"), ("full_name", "contains", "b")]))
    assert query == {"$and": [{"full_name": {"$regex": r"\(a\+\)\+", "$options": "i"}},
                              {"full_name": {"$regex": "b", "$options": "i"}}]}


@pytest.mark.parametrize("filters,message", [
    ([("full_name", "contains", "a")] * (explorer.MAX_FILTERS + 1), "At most"),
    ([("full_name", "contains", "a" * (explorer.MAX_VALUE_CHARS + 1))], "characters|long"),
])
def test_filter_number_and_length_are_capped(demo_signed_in, filters, message):
    before = fingerprint()
    with pytest.raises(InvalidInput, match=message):
        explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="profiles", filters=filters)
    assert fingerprint() == before


UNBOUNDED_PIPELINES = [
    ('[{"$changeStream": {}}]', r"\$changeStream"),
    ('[{"$densify": {"field": "created_at", "range": {"step": 1, "unit": "millisecond", "bounds": "full"}}}]',
     r"\$densify"),
    ('[{"$fill": {"output": {"views": {"value": 0}}}}]', r"\$fill"),
    ('[{"$setWindowFields": {"output": {"n": {"$sum": 1, "window": {"documents": ["unbounded", "unbounded"]}}}}}]',
     r"\$setWindowFields"),
    ('[{"$project": {"r": {"$range": [0, 1000000000]}}}]', r"\$range"),
    ('[{"$lookup": {"from": "forum_replies", "localField": "category", "foreignField": "category", "as": "x"}}]',
     r"\$lookup"),
    (('[{"$lookup": {"from": "forum_replies", "pipeline": [], "as": "x"}}, '
      '{"$lookup": {"from": "forum_replies", "pipeline": [], "as": "y"}}]'), r"\$lookup"),
    (('[{"$limit": 5}, {"$lookup": {"from": "forum_replies", "pipeline": [{"$lookup": {"from": "forum_replies", '
      '"pipeline": [], "as": "z"}}, {"$limit": 5}], "as": "x"}}]'), r"\$lookup"),
    (('[{"$graphLookup": {"from": "forum_replies", "startWith": "$_id", "connectFromField": "_id", '
      '"connectToField": "post_id", "as": "g"}}]'), r"\$graphLookup"),
    ('[{"$facet": {"a": [{"$lookup": {"from": "profiles", "pipeline": [], "as": "p"}}]}}]', r"\$lookup"),
    (('[{"$unionWith": {"coll": "profiles", "pipeline": [{"$densify": {"field": "x", "range": {"step": 1, '
      '"bounds": "full"}}}]}}]'), r"\$densify"),
    ('[{"$match": {"title": {"$regex": "(a+)+$"}}}]', "regular expression"),
    ('[{"$match": {"$expr": {"$regexMatch": {"input": "$title", "regex": "(x|xx)+y"}}}}]', "regular expression"),
    ('[{"$match": {"title": {"$regex": "' + "a*" * 10 + '"}}}]', "regular expression"),
    ('[{"$match": {"$where": "while(true){}"}}]', r"\$where"),
    ('[{"$group": {"_id": null, "x": {"$accumulator": {"init": "function(){}"}}}}]', r"\$accumulator"),
    ('[{"$currentOp": {}}]', r"\$currentOp"),
]
UNBOUNDED_FILTERS = [
    ('{"title": {"$regex": "^(\\\\w+\\\\s?)*$"}}', "regular expression"),
    ('{"title": {"$regex": "(.*a){12}"}}', "regular expression"),
    ('{"$expr": {"$gt": [{"$size": {"$range": [0, 100000000]}}, 0]}}', r"\$range"),
    ('{"$where": "sleep(100000)"}', r"\$where"),
]


@pytest.mark.parametrize("mode,query,message",
                         [("pipeline", q, m) for q, m in UNBOUNDED_PIPELINES]
                         + [("filter", q, m) for q, m in UNBOUNDED_FILTERS],
                         ids=range(len(UNBOUNDED_PIPELINES) + len(UNBOUNDED_FILTERS)))
def test_console_refuses_what_can_run_without_bound(demo_signed_in, mode, query, message):
    before = fingerprint()

    def attempt():
        with pytest.raises(Refused, match=message) as refused:
            console.run_mongo(actor_id=ADMIN_ID, collection="forum_posts", mode=mode, text=query)
        assert "\n" not in str(refused.value)

    assert max(_while_running(attempt)) < 2000
    assert fingerprint() == before


def test_bounded_lookups_and_plain_regexes_still_run(demo_signed_in):
    before = fingerprint()
    ok = console.run_mongo(actor_id=ADMIN_ID, collection="forum_replies", mode="pipeline", text=(
        '[{"$limit": 10}, {"$lookup": {"from": "profiles", "localField": "author_id", "foreignField": "_id", '
        '"as": "author"}}, {"$lookup": {"from": "forum_replies", "pipeline": [{"$limit": 3}], "as": "more"}}]'))
    assert len(ok.rows) == 10
    found = console.run_mongo(actor_id=ADMIN_ID, collection="forum_posts", mode="filter",
                              text='{"title": {"$regex": "^[A-Z].*", "$options": "i"}}')
    assert found.rows
    assert fingerprint() == before


def test_mongo_console_bytes_are_capped(demo_signed_in, monkeypatch):
    monkeypatch.setattr(console, "MAX_RESULT_BYTES", 2_000)
    result = console.run_mongo(actor_id=ADMIN_ID, collection="forum_replies", mode="filter", text="{}")
    assert result.truncated and len(result.rows) < 28 and "MB" in result.note


def test_a_slow_server_is_reused_not_stopped(demo_signed_in, settings):
    """SIGSTOP makes the server answer no ping while its port still listens (as a server busy in a
    long regex does): a newly starting process reuses it and never terminates it (#14)."""
    from p2p_store.stores import local

    root = local.data_dir(settings)
    [proc] = local._mongo_processes(root / "mongo" / "db")
    url = local.mongodb_url(settings)
    before = fingerprint()
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        again = local.ensure_local_mongo(root, settings.mongodb_db)
        assert time.monotonic() - started < 10
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert again == url
    assert proc.is_running() and [p.pid for p in local._mongo_processes(root / "mongo" / "db")] == [proc.pid]
    ping_ms()
    assert fingerprint() == before
