"""Forum services against the real stores: list filters and sorts on the demo posts, pinned first,
keyset paging at scale, thread trees, hostile input, and a 5,000-reply thread.

``insert_big_thread`` / ``remove_big_thread`` are shared with the page tests and the figures script
(``tests/perf/bench_forum.py``).
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p_store.accounts.directory import clean_text
from p2p_store.community import forum
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import mongo
from seed.dataset import Dataset, demo_dataset, doc_id, user_id_for

AHMED = str(user_id_for("ahmed.faisal@advanced-electronics.sa"))
SARA = str(user_id_for("sara.hassan@advanced-electronics.sa"))
MOHAMMED = str(user_id_for("mohammed.rashid@gulfplastics.sa"))

SENSORS = "How to improve production line efficiency using sensors?"
PDM = "My experience implementing predictive maintenance"
INVENTORY = "Best smart inventory management systems"
AI_QI = "Challenges of implementing AI in quality inspection"
SENSORS_ID = doc_id("post", "improve-production-line-efficiency-with-sensors")
PDM_ID = doc_id("post", "experience-implementing-predictive-maintenance")
INVENTORY_ID = doc_id("post", "best-smart-inventory-management-systems")
AI_QI_ID = doc_id("post", "challenges-ai-quality-inspection")

BIG_THREAD_REPLIES = 5_000
GONE_AUTHOR = "00000000-0000-5000-8000-00000000dead"  # an author id with no profile
MAX_BIG_DEPTH = 4
_SENTENCES = [
    "We saw the same drift on the second press after the mould change.",
    "Our OPC UA server on the old PLC times out when more than 40 tags are subscribed.",
    "Try logging the cycle-pulse timestamp at the edge gateway and compute state there.",
    "Vibration RMS alone gave too many false alarms until we added a per-machine baseline.",
    "The CMMS link mattered more than the model: technicians act on work orders, not dashboards.",
    "We reached 98% read rates only after moving the portal antennas 30 cm lower.",
    "Summer hall temperature shortened battery life by about a fifth on hot housings.",
    "Keep the downtime reason list short; eight to ten categories is what operators will use.",
    "Does anyone have figures for payback on retrofitted current transformers?",
    "We publish silo weights over MQTT and trigger reorder points from the WMS.",
    "Lighting changes over the day broke our vision model until we enclosed the station.",
    "I would start with machine state and counts, then add energy once the data is trusted.",
]


# ------------------------------------------------------------------ the 5,000-reply thread helper


def insert_big_thread(*, replies: int = BIG_THREAD_REPLIES, random_seed: int = 5000) -> str:
    """Write one synthetic post with ``replies`` replies (``insert_many``), threaded like a real
    discussion: each reply answers the post or, 60% of the time, an earlier reply less than
    MAX_BIG_DEPTH deep; paths are the seed's materialised paths ("0001.0003..."). Authors are the
    stored profiles plus one id without a profile (a former member). The best answer is the last
    reply at depth 3, so it sits in a late branch. Returns the post id (remove it with
    ``remove_big_thread``)."""
    rng = random.Random(random_seed)
    db = mongo.get_db()
    authors = [p["_id"] for p in db[mongo.PROFILES].find({}, {"_id": 1}).limit(200)]
    authors.append(GONE_AUTHOR)  # no profile: shows as a former member
    post_id = doc_id("post", f"big-thread:{random_seed}:{replies}")
    start = datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
    docs: list[dict] = []
    parents: list[dict] = []  # replies that may still get a child (depth < MAX_BIG_DEPTH)
    children: dict[str | None, int] = {}
    for i in range(replies):
        parent = rng.choice(parents) if parents and rng.random() < 0.6 else None
        parent_id = parent["_id"] if parent else None
        children[parent_id] = children.get(parent_id, 0) + 1
        path = f"{parent['path']}.{children[parent_id]:04d}" if parent else f"{children[None]:04d}"
        reply = {"_id": doc_id("reply", f"big-thread:{random_seed}:{i}"), "post_id": post_id,
                 "parent_id": parent_id, "path": path, "depth": parent["depth"] + 1 if parent else 1,
                 "author_id": rng.choice(authors),
                 "body": " ".join(rng.sample(_SENTENCES, rng.randint(1, 4))),
                 "upvotes": rng.randint(0, 40), "is_best_answer": False,
                 "created_at": start + timedelta(minutes=7 * i)}
        docs.append(reply)
        if reply["depth"] < MAX_BIG_DEPTH:
            parents.append(reply)
    best = max((d for d in docs if d["depth"] == 3), key=lambda d: d["path"])
    best["is_best_answer"] = True
    post = {"_id": post_id, "title": "Load test: a very long discussion about OEE dashboards",
            "body": "A synthetic thread with thousands of replies, to check that a big thread opens quickly.",
            "category": "Automation", "tags": ["load-test"], "author_id": authors[0], "status": "open",
            "views": 0, "upvotes": 0, "reply_count": replies, "is_pinned": False, "has_best_answer": True,
            "created_at": start, "last_activity_at": start}  # old activity: last in the default list
    db[mongo.FORUM_POSTS].insert_one(post)
    for n in range(0, len(docs), 1000):
        db[mongo.FORUM_REPLIES].insert_many(docs[n:n + 1000], ordered=False)
    return post_id


def remove_big_thread(post_id: str) -> None:
    db = mongo.get_db()
    db[mongo.FORUM_REPLIES].delete_many({"post_id": post_id})
    db[mongo.FORUM_POSTS].delete_one({"_id": post_id})


def _clear_st_caches() -> None:
    import streamlit

    streamlit.cache_data.clear()  # the page caches reads; tests here change what they would return


@pytest.fixture(scope="module")
def demo_ro(stores):
    """The demo set, loaded once for this module's read-only tests (a reseed costs ~1 s). Tests
    that change data use ``changed_demo`` and put the demo set back afterwards."""
    from seed.loader import reseed

    reseed(scale=0)
    _clear_st_caches()


@pytest.fixture
def changed_demo(demo_ro):
    """The demo set for a test that changes it; reseeded afterwards for the read-only tests."""
    from seed.loader import reseed

    yield
    reseed(scale=0)
    _clear_st_caches()


def titles(page: forum.PostPage) -> list[str]:
    return [r.title for r in page.rows]


# ------------------------------------------------------------------ list: sorts, pinned, filters


@pytest.mark.parametrize(("sort", "expected"), [
    ("activity", [PDM, AI_QI, INVENTORY, SENSORS]),
    ("views", [PDM, SENSORS, AI_QI, INVENTORY]),
    ("upvotes", [PDM, AI_QI, SENSORS, INVENTORY]),
])
def test_sorts_put_the_pinned_post_first(demo_ro, sort, expected):
    page = forum.list_posts(sort=sort)
    assert titles(page) == expected
    assert [r.pinned for r in page.rows] == [True, False, False, False]
    assert page.next_cursor is None


def test_pinned_first_even_when_it_sorts_last(changed_demo):
    # Unpin the PdM post and pin the least active one: the pinned one still leads every sort.
    posts = mongo.get_db()[mongo.FORUM_POSTS]
    posts.update_one({"_id": PDM_ID}, {"$set": {"is_pinned": False}})
    posts.update_one({"_id": SENSORS_ID}, {"$set": {"is_pinned": True}})
    assert titles(forum.list_posts(sort="activity")) == [SENSORS, AI_QI, INVENTORY, PDM]
    assert titles(forum.list_posts(sort="upvotes")) == [SENSORS, PDM, AI_QI, INVENTORY]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"category": "AI"}, [AI_QI]),
    ({"category": "Maintenance"}, [PDM]),
    ({"category": "Energy Management"}, []),
    ({"tag": "rfid"}, [INVENTORY]),
    ({"tag": "predictive-maintenance"}, [PDM]),
    ({"author_id": MOHAMMED}, [PDM, INVENTORY]),
    ({"author_id": SARA}, [AI_QI]),
    ({"status": "closed"}, [INVENTORY]),
    ({"status": "open"}, [PDM, AI_QI, SENSORS]),
    ({"solved": True}, [INVENTORY, SENSORS]),
    ({"solved": False}, [PDM, AI_QI]),
    ({"search": "vibration"}, [PDM]),
    ({"search": "SENSORS"}, [PDM, INVENTORY, SENSORS]),  # title or body, any case
    ({"search": "quality inspection"}, [AI_QI]),
    ({"search": "  inventory  "}, [INVENTORY]),  # trimmed
    ({"search": "OEE figure"}, [SENSORS]),
    ({"search": "IPC Class 3"}, [AI_QI]),
    ({"category": "Automation", "solved": True, "author_id": AHMED}, [SENSORS]),
    ({"category": "Automation", "solved": False}, []),
    ({"author_id": "no-such-person"}, []),
])
def test_filters_give_the_right_demo_posts(demo_ro, filters, expected):
    assert titles(forum.list_posts(**filters)) == expected
    assert forum.count_posts(**filters) == forum.PostTotal(len(expected))


def test_rows_carry_what_the_list_shows(demo_ro):
    row = next(r for r in forum.list_posts().rows if r.id == SENSORS_ID)
    assert row.author == "Ahmed Al-Faisal"
    assert (row.category, row.status, row.views, row.upvotes, row.reply_count) == ("Automation", "open", 1284, 46, 6)
    assert row.tags == ("oee", "sensors", "opc-ua", "production-efficiency")
    assert row.solved and not row.pinned
    assert row.created_at == datetime(2025, 3, 3, 8, 20, tzinfo=UTC)
    assert row.last_activity_at == datetime(2025, 3, 5, 10, 0, tzinfo=UTC)


def test_an_author_without_a_profile_shows_as_former_member(changed_demo):
    mongo.get_db()[mongo.PROFILES].delete_one({"_id": SARA})
    rows = {r.id: r for r in forum.list_posts().rows}
    assert rows[AI_QI_ID].author == forum.FORMER_MEMBER
    assert rows[SENSORS_ID].author == "Ahmed Al-Faisal"
    tree = forum.thread(post_id=AI_QI_ID)
    assert tree.post.author == forum.FORMER_MEMBER
    assert {r.author for r in tree.replies.values() if r.author_id == SARA} == {forum.FORMER_MEMBER}
    assert forum.FORMER_MEMBER in {a.name for a in forum.facet_counts().authors}


def test_small_pages_walk_the_demo_posts(demo_ro):
    seen, cursor, pages = [], None, 0
    while True:
        page = forum.list_posts(sort="views", cursor=cursor, page_size=1)
        seen += titles(page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [PDM, SENSORS, AI_QI, INVENTORY]
    assert pages == 4


def test_unfiltered_total_is_the_estimated_count(demo_ro):
    assert forum.count_posts() == forum.PostTotal(4)
    assert forum.PostTotal(forum.COUNT_LIMIT, capped=True).label() == "10,000+"


def test_category_tag_and_author_counts(demo_ro):
    facets = forum.facet_counts()
    assert facets.categories == [{"category": c, "posts": 1} for c in
                                 sorted(["AI", "Automation", "Maintenance", "Quality Management"])]
    tags = {t["tag"]: t["posts"] for t in facets.tags}
    assert len(tags) == 16 and tags["rfid"] == 1 and tags["oee"] == 1
    authors = facets.authors
    assert [(a.name, a.posts) for a in authors] == [("Ahmed Al-Faisal", 1), ("Mohammed Rashid", 2),
                                                   ("Sara Hassan", 1)]
    assert authors[1].author_id == MOHAMMED and authors[1].email == "mohammed.rashid@gulfplastics.sa"


# ------------------------------------------------------------------ threads


@functools.cache
def _demo() -> Dataset:
    return demo_dataset()  # hashes the demo passwords: build it once


def _demo_replies(post_id: str) -> list[dict]:
    return [r for r in _demo().forum_replies if r["post_id"] == post_id]


@pytest.mark.parametrize("post_id", [SENSORS_ID, PDM_ID, INVENTORY_ID, AI_QI_ID])
def test_thread_order_depth_and_best_answer_match_the_demo(demo_ro, post_id):
    expected = _demo_replies(post_id)
    tree = forum.thread(post_id=post_id)
    replies = list(tree.replies.values())
    assert [r.id for r in replies] == [r["_id"] for r in sorted(expected, key=lambda r: r["path"])]
    assert [r.depth for r in replies] == [r["path"].count(".") + 1 for r in sorted(expected, key=lambda r: r["path"])]
    assert all(r.parent_id == e["parent_id"] for r, e in zip(replies, sorted(expected, key=lambda r: r["path"])))
    best = [e["_id"] for e in expected if e["is_best_answer"]]
    assert tree.best_answer_id == (best[0] if best else None)
    assert tree.post.solved is bool(best)
    assert tree.top_level == tuple(e["_id"] for e in sorted(expected, key=lambda r: r["path"]) if e["depth"] == 1)
    assert tree.post.reply_count == len(expected)
    for r in replies:  # children and descendant counts agree with the parent links
        assert r.children == tuple(c.id for c in replies if c.parent_id == r.id)
        assert r.descendants == sum(1 for c in replies if c.path.startswith(r.path + "."))


def test_sensors_thread_reads_like_the_seed_story(demo_ro):
    tree = forum.thread(post_id=SENSORS_ID)
    assert tree.post.title == SENSORS and tree.post.author == "Ahmed Al-Faisal"
    best = tree.best_answer
    assert best is not None and best.depth == 1 and best.author == "Mohammed Rashid"
    assert best.body.startswith("Start with machine state and cycle counts only")
    first = tree.replies[tree.top_level[0]]
    assert [tree.replies[c].author for c in first.children] == ["Sara Hassan"]
    assert [(r.depth, r.author) for r in tree.replies.values()] == [
        (1, "Mohammed Rashid"), (2, "Sara Hassan"), (3, "Mohammed Rashid"), (1, "Sara Hassan"),
        (2, "Ahmed Al-Faisal"), (1, "Mohammed Rashid")]


def test_inventory_best_answer_is_a_nested_reply(demo_ro):
    tree = forum.thread(post_id=INVENTORY_ID)
    assert tree.best_answer.depth == 2 and tree.best_answer.author == "Sara Hassan"
    assert forum.reply_location(tree, reply_id=tree.best_answer_id) == (1, tree.top_level[0], (tree.top_level[0],))


def test_deep_branches_fold_at_the_depth_cap(demo_ro):
    tree = forum.thread(post_id=PDM_ID)
    lines = forum.thread_lines(tree)
    kinds = [(line.kind, line.reply.depth) for line in lines.lines]
    # The depth-4 reply is folded under its depth-3 parent as "1 more".
    assert kinds == [("reply", 1), ("reply", 2), ("reply", 3), ("more", 3), ("reply", 1), ("reply", 2),
                     ("reply", 1), ("reply", 2), ("reply", 1)]
    fold = lines.lines[3]
    assert fold.hidden == 1
    opened = forum.thread_lines(tree, expanded=[fold.reply.id])
    assert [line.reply.depth for line in opened.lines if line.kind == "reply"] == [1, 2, 3, 4, 1, 2, 1, 2, 1]
    assert opened.visible == frozenset(tree.replies)
    assert forum.thread_lines(tree, depth_cap=10).visible == frozenset(tree.replies)


def test_thread_lines_page_top_level_branches(demo_ro):
    tree = forum.thread(post_id=PDM_ID)
    first = forum.thread_lines(tree, branches=2, depth_cap=10)
    assert (first.shown_branches, first.remaining_branches) == (2, 2)
    assert [line.reply.id for line in first.lines if line.reply.depth == 1] == list(tree.top_level[:2])
    assert forum.thread_lines(tree, branches=99).remaining_branches == 0


@pytest.mark.parametrize("bad", ["", "   ", "nope", "af88056f-17f2-5d82-aa0e-5e792bd4d1bd-x",
                                 "../../etc/passwd", '{"$ne": 1}', "$where", "x" * 100_000, "\x00", "ñandú",
                                 SENSORS_ID + "\x00", None, 5, {"$ne": 1}, ["a"], b"af88056f"])
def test_malformed_or_unknown_post_ids_are_not_found(demo_ro, bad):
    with pytest.raises(NotFound, match=r"^No such post\.$"):
        forum.thread(post_id=bad)


def test_reply_location_of_a_foreign_reply_is_not_found(demo_ro):
    tree = forum.thread(post_id=SENSORS_ID)
    with pytest.raises(NotFound):
        forum.reply_location(tree, reply_id=_demo_replies(PDM_ID)[0]["_id"])


# ------------------------------------------------------------------ hostile input

HOSTILE = ['{"$ne": 1}', '{"$gt": ""}', ".*(", "(", "[", "\\", "^$", "a|b", "(?i)x", "(a+)+$", "*", "?", "$where",
           "'; DROP TABLE users; --", "1' OR '1'='1", "%_%", "\x00", "\u202e", "x" * 201, "x" * 100_000,
           "ｓｅｎｓｏｒｓ", "Ⓢensors", "Σ", "🙂" * 10]


def _oracle(text: str) -> list[str]:
    """What the search should find among the demo posts (case-insensitive literal match)."""
    order = [PDM, AI_QI, INVENTORY, SENSORS]
    hits = {p["title"] for p in _demo().forum_posts
            if re.search(re.escape(text), p["title"], re.IGNORECASE) or re.search(re.escape(text), p["body"], re.IGNORECASE)}
    return [t for t in order if t in hits]


def _check_search(text: object) -> None:
    try:
        page = forum.list_posts(search=text)
        total = forum.count_posts(search=text)
    except InvalidInput as exc:
        assert str(exc).endswith(".") and "\n" not in str(exc)
        return
    cleaned = clean_text(text, field="Search", max_len=forum.MAX_SEARCH)
    got = titles(page)
    assert total.count == len(got)
    if not cleaned:  # nothing left to search for: the whole list
        assert got == [PDM, AI_QI, INVENTORY, SENSORS]
    elif cleaned.isascii():
        assert got == _oracle(cleaned)
    else:  # a server's Unicode case folding may differ from Python's: never more than a real match
        assert set(got) <= set(_oracle(cleaned))


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_is_literal_or_refused(demo_ro, text):
    before = _counts()
    _check_search(text)
    assert _counts() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=300), st.text(alphabet=".*+?()[]{}|^$\\/\"'%_;-", max_size=40),
                      st.sampled_from(HOSTILE)))
def test_hostile_search_text_property(demo_ro, text):
    _check_search(text)


@pytest.mark.parametrize("value", [{"$ne": 1}, ["AI"], 5, 1.5, b"AI", {"$regex": ".*"}, object()])
@pytest.mark.parametrize("name", ["category", "tag", "author_id", "search"])
def test_non_text_filters_are_refused(demo_ro, name, value):
    with pytest.raises(InvalidInput):
        forum.list_posts(**{name: value})
    with pytest.raises(InvalidInput):
        forum.count_posts(**{name: value})


@pytest.mark.parametrize("kwargs", [
    {"status": "pending"}, {"status": {"$ne": "open"}}, {"status": 1},
    {"solved": "yes"}, {"solved": 1}, {"solved": {"$exists": True}},
    {"sort": "title"}, {"sort": {"$natural": 1}}, {"sort": "views; DROP TABLE users"},
    {"page_size": "10"}, {"page_size": 2.5}, {"page_size": True},
    {"cursor": "garbage"}, {"cursor": "x" * 10_000}, {"cursor": {"$gt": ""}}, {"cursor": 5},
    {"category": "x" * 101}, {"tag": "t" * 101}, {"author_id": "a" * 65},
])
def test_bad_arguments_are_invalid_input(demo_ro, kwargs):
    with pytest.raises(InvalidInput):
        forum.list_posts(**kwargs)


def test_a_cursor_from_another_sort_is_refused(demo_ro):
    cursor = forum.list_posts(sort="views", page_size=1).next_cursor
    with pytest.raises(InvalidInput, match="out of date"):
        forum.list_posts(sort="upvotes", cursor=cursor)


def test_forged_cursors_are_refused(demo_ro):
    import base64
    import json

    for parts in (["views", 0, {"$gt": 0}, "x"], ["views", 0, 5, {"$ne": 1}], ["views", 2, 5, "x"],
                  ["views", 0, True, "x"], ["views", 0, 5], "views"):
        forged = base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()
        with pytest.raises(InvalidInput):
            forum.list_posts(sort="views", cursor=forged)


def _counts() -> dict[str, int]:
    db = mongo.get_db()
    return {name: db[name].count_documents({}) for name in (mongo.FORUM_POSTS, mongo.FORUM_REPLIES, mongo.PROFILES)}


# ------------------------------------------------------------------ keyset paging at scale


@pytest.fixture
def scaled(stores):
    """Demo set plus the synthetic set of scale 1 (~54 posts); back to the demo set afterwards."""
    from seed.loader import reseed

    reseed(scale=1)
    _clear_st_caches()
    try:
        yield
    finally:
        reseed(scale=0)
        _clear_st_caches()


@pytest.fixture
def big_thread(scaled) -> Iterator[str]:
    """A 5,000-reply thread among the scale-1 posts (over a hundred authors to name)."""
    post_id = insert_big_thread()
    try:
        yield post_id
    finally:
        remove_big_thread(post_id)


def _expected_order(query: dict, sort: str) -> list[str]:
    key = forum.SORT_FIELDS[sort]
    docs = list(mongo.get_db()[mongo.FORUM_POSTS].find(query, {"is_pinned": 1, key: 1}))
    docs.sort(key=lambda d: (bool(d.get("is_pinned")), d[key], d["_id"]), reverse=True)
    return [d["_id"] for d in docs]


def _walk(page_size: int, **kwargs) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        page = forum.list_posts(cursor=cursor, page_size=page_size, **kwargs)
        assert len(page.rows) <= page_size
        seen += [r.id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return seen
        assert len(page.rows) == page_size  # only the last page is short
    raise AssertionError("paging did not end")


def test_bounded_pages_follow_writes_made_after_the_last_read(scaled):
    """An unfiltered page is read from a bounded range first (#17: the embedded server reads a sorted
    find's whole range before its limit), the first page from where it ended the last time. Posts
    written since — from outside the app — are still where they belong: one raised above that
    bound comes first, and when the posts inside it drop out the page is read again unbounded."""
    posts = mongo.get_db()[mongo.FORUM_POSTS]
    for sort, key in forum.SORT_FIELDS.items():
        assert _walk(7, sort=sort) == _expected_order({}, sort)  # remembers where the first page ended
        order = _expected_order({"is_pinned": False}, sort)
        top = datetime(2100, 1, 1, tzinfo=UTC) if sort == "activity" else 10**9
        low = datetime(1990, 1, 1, tzinfo=UTC) if sort == "activity" else 0
        posts.update_one({"_id": order[-1]}, {"$set": {key: top}})
        assert [r.id for r in forum.list_posts(sort=sort, page_size=7).rows if not r.pinned][0] == order[-1]
        posts.update_many({"_id": {"$in": order[:12]}}, {"$set": {key: low}})
        assert _walk(7, sort=sort) == _expected_order({}, sort), sort
        assert _walk(3, sort=sort) == _expected_order({}, sort), sort


def test_keyset_paging_returns_every_post_exactly_once(scaled):
    posts = mongo.get_db()[mongo.FORUM_POSTS]
    assert posts.estimated_document_count() > 50
    # Ties everywhere: a third of the posts share one upvote count and one activity time, and a
    # second post is pinned, so the cursor has to break ties on _id and cross the pinned boundary.
    ids = sorted(d["_id"] for d in posts.find({}, {"_id": 1}))
    tie = datetime(2025, 1, 1, tzinfo=UTC)
    posts.update_many({"_id": {"$in": ids[::3]}}, {"$set": {"upvotes": 7, "last_activity_at": tie}})
    posts.update_one({"_id": ids[1]}, {"$set": {"is_pinned": True}})
    for sort in forum.SORT_FIELDS:
        for page_size in (1, 7, 20, 100):
            seen = _walk(page_size, sort=sort)
            assert seen == _expected_order({}, sort), (sort, page_size)
        seen = _walk(5, sort=sort, category="Automation")
        assert seen == _expected_order({"category": "Automation"}, sort)
        assert len(seen) == forum.count_posts(category="Automation").count
        seen = _walk(4, sort=sort, solved=False, status="open")
        assert seen == _expected_order({"has_best_answer": False, "status": "open"}, sort)
    facets = forum.facet_counts()
    assert sum(c["posts"] for c in facets.categories) == len(ids)
    pinned = forum.list_posts(page_size=3).rows
    assert [r.pinned for r in pinned[:2]] == [True, True]
    assert forum.count_posts().count == len(ids)


# ------------------------------------------------------------------ a thread of 5,000 replies


def test_a_thread_of_5000_replies_opens_in_one_query(big_thread):
    t0 = time.perf_counter()
    tree = forum.thread(post_id=big_thread)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    forum.thread(post_id=big_thread)
    warm_s = time.perf_counter() - t0
    print(f"\nthread of {BIG_THREAD_REPLIES} replies: cold {cold_s * 1000:.0f} ms, again {warm_s * 1000:.0f} ms")
    assert cold_s < 5.0  # the 1.5 s target is measured by tests/perf/bench_forum.py; this only catches a blow-up
    replies = list(tree.replies.values())
    assert len(replies) == BIG_THREAD_REPLIES and not tree.truncated
    assert [r.path for r in replies] == sorted(r.path for r in replies)
    assert max(r.depth for r in replies) == MAX_BIG_DEPTH
    assert all(r.depth == r.path.count(".") + 1 for r in replies)
    assert sum(1 + r.descendants for r in map(tree.replies.get, tree.top_level)) == BIG_THREAD_REPLIES
    # Hundreds of authors, looked up in batches: every one with a profile gets a name.
    assert len({r.author_id for r in replies}) > 2 * forum.NAME_BATCH
    assert {r.author_id for r in replies if r.author == forum.FORMER_MEMBER} == {GONE_AUTHOR}
    best = tree.best_answer
    assert best is not None and best.depth == 3

    first = forum.thread_lines(tree)
    assert first.shown_branches == forum.BRANCHES_PER_PAGE
    assert first.remaining_branches == len(tree.top_level) - forum.BRANCHES_PER_PAGE
    # Bounded drawing: per branch at most 1 + 5 + 25 replies and their folds.
    assert len(first.lines) <= forum.BRANCHES_PER_PAGE * (1 + 5 + 25) * 2
    assert all(line.reply.depth <= forum.DEPTH_CAP for line in first.lines if line.kind == "reply")
    assert best.id not in first.visible
    where = forum.reply_location(tree, reply_id=best.id)
    assert where.branch > forum.BRANCHES_PER_PAGE and where.ancestors[0] == where.top_level_id
    assert len(where.ancestors) == best.depth - 1
    revealed = forum.thread_lines(tree, expanded=where.ancestors, focus=where.top_level_id)
    assert best.id in revealed.visible
    assert [line.reply.id for line in revealed.lines if line.reply.depth == 1] == [where.top_level_id]
    assert len(revealed.lines) <= 1 + tree.replies[where.top_level_id].descendants * 2
    # Every fold accounts for exactly the replies it hides.
    everything = forum.thread_lines(tree, branches=len(tree.top_level), depth_cap=MAX_BIG_DEPTH, children_shown=10**6)
    assert len(everything.visible) == BIG_THREAD_REPLIES
