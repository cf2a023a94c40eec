"""The forum page (AppTest): filters through widgets and through the URL, sorts, paging, a thread
with its best answer and reply tree, hostile input, members and admins, a 5,000-reply thread."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from p2p_store.community import forum
from p2p_store.errors import InvalidInput
from tests.test_forum import (
    AHMED,
    AI_QI_ID,
    BIG_THREAD_REPLIES,
    INVENTORY_ID,
    PDM_ID,
    SENSORS_ID,
    _clear_st_caches,
    insert_big_thread,
    remove_big_thread,
)

MEMBER = "sara.hassan@advanced-electronics.sa"
ADMIN = "ahmed.faisal@advanced-electronics.sa"
PAGE = "app_pages/forum.py"
APP = Path(__file__).resolve().parent.parent / "app.py"
_REPLY_RE = re.compile(r'data-reply="([^"]+)" data-depth="(\d+)"')


@pytest.fixture(scope="module")
def demo_ro(stores):
    """The demo set, loaded once for this module (tests that change data put it back)."""
    from seed.loader import reseed

    reseed(scale=0)
    _clear_st_caches()


def forum_page(email: str = MEMBER, **params: str) -> AppTest:
    """Signed in as a demo account, on the forum page opened with these URL query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.button(key=f"demo_{email}").click().run()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def listed(at: AppTest) -> list[str]:
    """Ids of the posts in the list, top to bottom."""
    return [b.key.removeprefix("open_") for b in at.button if b.key and b.key.startswith("open_")]


def shown_replies(at: AppTest) -> list[tuple[str, int]]:
    """(reply id, depth) of the replies drawn in the thread, top to bottom."""
    return [(m[0], int(m[1])) for md in at.markdown for m in _REPLY_RE.findall(md.value)]


def messages(at: AppTest) -> list[str]:
    return [e.value for e in [*at.error, *at.warning, *at.info]]


# ------------------------------------------------------------------ the list


@pytest.mark.parametrize("email", [MEMBER, ADMIN])
def test_members_and_admins_read_the_list(demo_ro, email):
    at = forum_page(email)
    assert listed(at) == [PDM_ID, AI_QI_ID, INVENTORY_ID, SENSORS_ID]  # pinned first, then latest activity
    assert at.caption[0].value.startswith("Showing 1–4 of 4 posts")
    cards = [m.value for m in at.markdown if "blue-badge" in m.value]
    assert "Pinned" in cards[0] and "Solved" not in cards[0]
    assert "Solved" in cards[3] and "by **Ahmed Al\\-Faisal**" in cards[3] and "1,284 views" in cards[3]
    assert at.get("vega_lite_chart")  # posts per category
    assert at.button(key="next_page").disabled and at.button(key="prev_page").disabled


@pytest.mark.parametrize(("widget", "value", "expected"), [
    ("category", "AI", [AI_QI_ID]),
    ("tag", "rfid", [INVENTORY_ID]),
    ("status", "closed", [INVENTORY_ID]),
    ("solved", "Solved", [INVENTORY_ID, SENSORS_ID]),
    ("solved", "Unsolved", [PDM_ID, AI_QI_ID]),
    ("sort", "Most viewed", [PDM_ID, SENSORS_ID, AI_QI_ID, INVENTORY_ID]),
    ("sort", "Most upvoted", [PDM_ID, AI_QI_ID, SENSORS_ID, INVENTORY_ID]),
])
def test_filters_and_sort_through_widgets(demo_ro, widget, value, expected):
    at = forum_page()
    at.selectbox(key=widget).select(value).run()
    assert not at.exception
    assert listed(at) == expected


def test_author_filter_and_search_through_widgets(demo_ro):
    at = forum_page()
    at.selectbox(key="author").select(AHMED).run()
    assert listed(at) == [SENSORS_ID]
    at.selectbox(key="author").select("").run()
    at.text_input(key="q").input("vibration").run()
    assert listed(at) == [PDM_ID]
    at.text_input(key="q").input("sensors").run()
    assert listed(at) == [PDM_ID, INVENTORY_ID, SENSORS_ID]
    assert at.caption[0].value.startswith("Showing 1–3 of 3 posts")


@pytest.mark.parametrize(("params", "expected"), [
    ({"category": "Maintenance"}, [PDM_ID]),
    ({"tag": "edge-ai"}, [AI_QI_ID]),
    ({"author": "Mohammed Rashid (mohammed.rashid@gulfplastics.sa)"}, [PDM_ID, INVENTORY_ID]),
    ({"status": "open", "solved": "Solved"}, [SENSORS_ID]),
    ({"q": "RFID", "sort": "Most upvoted"}, [INVENTORY_ID]),
    ({"sort": "Most viewed"}, [PDM_ID, SENSORS_ID, AI_QI_ID, INVENTORY_ID]),
    ({"category": "No such category"}, [PDM_ID, AI_QI_ID, INVENTORY_ID, SENSORS_ID]),  # ignored, not an error
    ({"sort": '{"$ne": 1}'}, [PDM_ID, AI_QI_ID, INVENTORY_ID, SENSORS_ID]),
])
def test_a_link_opens_the_same_view(demo_ro, params, expected):
    at = forum_page(**params)
    assert listed(at) == expected


@pytest.mark.parametrize("text", ['{"$ne": 1}', ".*(", "(", "\\", "[a-", "'; DROP TABLE users; --", "%_%",
                                  "ｓｅｎｓｏｒｓ", "🙂🙂", "x" * 100_000, "\u202e\x00", "SENSORS"])
def test_hostile_search_gives_a_message_or_a_correct_list(demo_ro, text):
    try:
        expected = [r.id for r in forum.list_posts(search=text[:forum.MAX_SEARCH]).rows]
    except InvalidInput as exc:
        expected = str(exc)
    for at in (forum_page(q=text), forum_page()):  # through the URL, then through the box
        if "q" not in at.query_params:
            at.text_input(key="q").input(text[:forum.MAX_SEARCH]).run()
        assert not at.exception
        if isinstance(expected, str):
            assert expected in messages(at)
        else:
            assert listed(at) == expected
            assert expected or "No posts match these filters." in messages(at)


def test_paging_next_and_previous_walk_every_post(stores):
    from seed.loader import reseed

    reseed(scale=1)
    _clear_st_caches()
    try:
        at = forum_page(per_page="10")
        total = forum.count_posts().count
        seen: list[str] = []
        pages = 0
        while True:
            pages += 1
            ids = listed(at)
            seen += ids
            assert at.caption[0].value.startswith(f"Showing {len(seen) - len(ids) + 1}–{len(seen)} of {total} posts")
            if at.button(key="next_page").disabled:
                break
            at.button(key="next_page").click().run()
            assert not at.exception
        assert len(seen) == len(set(seen)) == total and pages == -(-total // 10)
        first_pages = seen[:20]
        at.button(key="prev_page").click().run()
        at.button(key="prev_page").click().run()
        assert at.caption[0].value.startswith(f"Showing {(pages - 3) * 10 + 1}–")
        for _ in range(pages):
            if at.button(key="prev_page").disabled:
                break
            at.button(key="prev_page").click().run()
        assert listed(at) == first_pages[:10]
        at.selectbox(key="category").select("AI").run()  # a new filter starts from page 1
        assert at.button(key="prev_page").disabled
    finally:
        reseed(scale=0)
        _clear_st_caches()


# ------------------------------------------------------------------ a thread


@pytest.mark.parametrize("email", [MEMBER, ADMIN])
def test_a_thread_opens_from_the_list_with_its_best_answer(demo_ro, email):
    at = forum_page(email, category="Quality Management")
    at.button(key=f"open_{INVENTORY_ID}").click().run()
    assert not at.exception
    assert at.query_params["post"] == INVENTORY_ID
    tree = forum.thread(post_id=INVENTORY_ID)
    assert at.title[0].value == "Best smart inventory management systems"
    assert shown_replies(at) == [(r.id, r.depth) for r in tree.replies.values()]
    best = tree.best_answer
    best_box = [m.value for m in at.markdown if "green-badge[:material/check_circle: Best answer]" in m.value]
    assert best_box and "Sara Hassan" in best_box[0]
    assert f"(#reply-{best.id})" in " ".join(m.value for m in at.markdown)  # link to its place in the thread
    in_thread = next(m.value for m in at.markdown if f'id="reply-{best.id}"' in m.value)
    assert "✔ Best answer" in in_thread.split(f'id="reply-{best.id}"')[1].split('id="reply-')[0]
    # Back to the list keeps the filters.
    at.button(key="back_to_list").click().run()
    assert "post" not in at.query_params and listed(at) == [INVENTORY_ID]


def test_demo_thread_order_depth_and_deep_fold(demo_ro):
    at = forum_page(post=PDM_ID)
    tree = forum.thread(post_id=PDM_ID)
    everything = [(r.id, r.depth) for r in tree.replies.values()]
    assert shown_replies(at) == [pair for pair in everything if pair[1] <= forum.DEPTH_CAP]
    folded = next(r for r in tree.replies.values() if r.depth == forum.DEPTH_CAP and r.children)
    more = at.button(key=f"more_{forum.DEPTH_CAP}_{folded.id}")
    assert more.label == "Show 1 more reply"
    more.click().run()
    assert not at.exception
    assert shown_replies(at) == everything
    assert not messages(at)  # no best answer in this thread, and nothing went wrong


@pytest.mark.parametrize("post_id", ["nope", "", '{"$ne": 1}', "x" * 5000, "../etc", "%00", SENSORS_ID + "x"])
def test_unknown_or_malformed_post_shows_no_such_post(demo_ro, post_id):
    at = forum_page(post=post_id)
    assert not at.exception
    assert any(m.startswith("No such post.") for m in messages(at))
    at.button(key="back_to_list").click().run()
    assert listed(at) == [PDM_ID, AI_QI_ID, INVENTORY_ID, SENSORS_ID]


def test_changing_a_filter_while_reading_goes_back_to_the_list(demo_ro):
    at = forum_page(post=SENSORS_ID)
    at.selectbox(key="category").select("AI").run()
    assert "post" not in at.query_params and listed(at) == [AI_QI_ID]


def test_a_thread_of_5000_replies_opens_quickly(demo_ro):
    post_id = insert_big_thread()
    try:
        at = forum_page()
        _clear_st_caches()
        at.query_params["post"] = post_id
        t0 = time.perf_counter()
        at.run()
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        warm_s = time.perf_counter() - t0
        print(f"\npage with a thread of {BIG_THREAD_REPLIES} replies: cold {cold_s * 1000:.0f} ms, "
              f"warm {warm_s * 1000:.0f} ms")
        assert not at.exception
        assert cold_s < 5.0 and warm_s < 1.0  # targets (1.5 s / 100 ms) are measured by tests/perf/bench_forum.py
        assert at.subheader[0].value == f"{BIG_THREAD_REPLIES:,} replies"
        tree = forum.thread(post_id=post_id)
        shown = shown_replies(at)
        top = [rid for rid, depth in shown if depth == 1]
        assert top == list(tree.top_level[:forum.BRANCHES_PER_PAGE])
        assert max(depth for _, depth in shown) <= forum.DEPTH_CAP
        more = at.button(key="load_more_branches")
        more.click().run()
        top = [rid for rid, depth in shown_replies(at) if depth == 1]
        assert top == list(tree.top_level[:2 * forum.BRANCHES_PER_PAGE])
        # The best answer sits in a late branch: the page offers to bring it into view.
        best = tree.best_answer
        assert best.id not in dict(shown_replies(at))
        at.button(key="reveal_best").click().run()
        assert not at.exception
        shown = shown_replies(at)
        assert best.id in dict(shown)
        where = forum.reply_location(tree, reply_id=best.id)
        assert [rid for rid, depth in shown if depth == 1] == [where.top_level_id]  # its branch alone
        assert f"(#reply-{best.id})" in " ".join(m.value for m in at.markdown)
        at.button(key="whole_thread").click().run()
        top = [rid for rid, depth in shown_replies(at) if depth == 1]
        assert top == list(tree.top_level[:2 * forum.BRANCHES_PER_PAGE])
    finally:
        remove_big_thread(post_id)
        _clear_st_caches()
