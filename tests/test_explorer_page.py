"""The data explorer page (AppTest, issue 9): every table and collection opens in every tab for a
member and an admin; filters and paging through the widgets; secrets masked on screen; hostile
filter input gives a message or an empty table; the console is there for admins only and refuses
writes with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from p2p_store.data import explorer
from p2p_store.stores import mongo

MEMBER = "sara.hassan@advanced-electronics.sa"
ADMIN = "ahmed.faisal@advanced-electronics.sa"
PAGE = "app_pages/explorer.py"
APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def demo_ro(stores):
    """The demo set once for this module; the page's sign-ins add user_sessions rows."""
    from seed.loader import reseed

    reseed(scale=0)
    explorer.forget_samples()
    _clear_st_caches()


def _clear_st_caches() -> None:
    import streamlit as st

    st.cache_data.clear()


def explorer_page(email: str = MEMBER, *, store: str = "mongodb", name: str | None = None,
                  tab: str | None = None) -> AppTest:
    """Signed in as a demo account, on the explorer showing ``store`` / ``name`` in ``tab``."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.button(key=f"demo_{email}").click().run()
    at.session_state["ex_store"] = store
    if name:
        at.session_state[f"ex_source_{store}"] = name
    if tab:
        at.session_state["ex_tab"] = tab
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def rows_table(at: AppTest):
    """The rows table (the first dataframe is the index list)."""
    return at.dataframe[1].value


def no_problem(at: AppTest) -> None:
    assert not at.exception
    assert not [e.value for e in at.error]


@pytest.mark.parametrize("email", [MEMBER, ADMIN])
def test_every_table_and_collection_opens_in_every_tab(demo_ro, email):
    at = explorer_page(email)
    for store in ("mongodb", "postgresql"):
        at.session_state["ex_store"] = store
        at.run()
        names = [o.split(" · ")[0] for o in at.selectbox(key=f"ex_source_{store}").options]
        expected = mongo.COLLECTION_NAMES if store == "mongodb" else (
            ["users", "user_sessions", "system_configs", "events", "sign_in_failures"] if email == ADMIN
            else ["users", "system_configs", "events"])  # sign-ins are for admins only (#14)
        assert names[:len(expected)] == expected
        for name in names:
            at.selectbox(key=f"ex_source_{store}").set_value(name).run()
            for tab in ("Fields", "Rows", "Chart"):
                at.session_state["ex_tab"] = tab
                at.run()
                no_problem(at)
                if tab == "Fields":
                    assert len(at.dataframe[1].value) >= 3
                if tab == "Rows" and name not in ("events", "sign_in_failures"):
                    assert len(rows_table(at)) >= 1 and at.json, (store, name)
                if tab == "Chart" and name not in ("events", "sign_in_failures"):
                    assert at.get("vega_lite_chart"), (store, name)
            at.session_state["ex_tab"] = "Rows"


def test_console_only_for_admins(demo_ro):
    member = explorer_page(MEMBER)
    assert not [t for t in member.text_area if t.key in ("console_sql", "console_mongo")]
    assert "Query console" not in [h.value for h in member.subheader]
    admin = explorer_page(ADMIN)
    assert {t.key for t in admin.text_area} >= {"console_sql", "console_mongo"}
    assert any("read-only login" in c.value for c in admin.caption)


def test_paging_through_the_widgets(demo_ro):
    at = explorer_page(store="mongodb", name="forum_replies")
    at.selectbox(key="ex_page_size").set_value(25).run()
    first = rows_table(at)
    assert len(first) == 25
    assert list(first["created_at"]) == sorted(first["created_at"])
    assert not at.button(key="ex_next").disabled and at.button(key="ex_prev").disabled
    assert json.loads(at.json[0].value)["_id"] == first["_id"].iloc[0]  # the first row as JSON until one is picked
    at.session_state["ex_table_mongodb_forum_replies"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    picked = json.loads(at.json[0].value)
    assert picked["_id"] == first["_id"].iloc[2] and picked["path"] and "post_id" in picked
    at.button(key="ex_next").click().run()
    second = rows_table(at)
    assert len(second) == 3 and not set(second["_id"]) & set(first["_id"])
    assert at.button(key="ex_next").disabled
    at.button(key="ex_prev").click().run()
    assert list(rows_table(at)["_id"]) == list(first["_id"])
    at.toggle(key="ex_desc_mongodb_forum_replies").set_value(True).run()
    newest = rows_table(at)
    assert list(newest["created_at"]) == sorted(newest["created_at"], reverse=True)
    expected = [d["_id"] for d in mongo.get_db().forum_replies.find().sort([("created_at", -1), ("_id", -1)]).limit(25)]
    assert list(newest["_id"]) == expected


def test_filters_through_the_widgets(demo_ro):
    at = explorer_page(store="mongodb", name="forum_posts")
    at.selectbox(key="ex_ff0_mongodb_forum_posts").set_value("is_pinned").run()
    at.text_input(key="ex_fv0_mongodb_forum_posts_is_pinned").input("true").run()
    no_problem(at)
    pinned = rows_table(at)
    assert len(pinned) == 1 and bool(pinned["is_pinned"].iloc[0]) is True
    at.selectbox(key="ex_ff1_mongodb_forum_posts").set_value("views").run()
    at.selectbox(key="ex_fo1_mongodb_forum_posts_views").set_value("between").run()
    at.text_input(key="ex_fv1_mongodb_forum_posts_views").input("0").run()
    at.text_input(key="ex_ft1_mongodb_forum_posts_views").input("1").run()
    no_problem(at)
    assert any("No documents match" in i.value for i in at.info)
    # the chart follows the same filters
    at.selectbox(key="ex_ff1_mongodb_forum_posts").set_value("—").run()
    at.session_state["ex_tab"] = "Chart"
    at.run()
    spec = at.get("vega_lite_chart")[0]
    assert spec and not at.exception


def test_table_filters_and_masked_secrets_on_screen(demo_ro):
    at = explorer_page(ADMIN, store="postgresql", name="users")
    users = rows_table(at)
    assert len(users) == 3 and set(users["password_hash"]) == {explorer.MASK}
    assert not any("$argon2" in str(v) for v in users.to_numpy().ravel())
    assert all("$argon2" not in j.value for j in at.json)
    at.selectbox(key="ex_ff0_postgresql_users").set_value("role").run()
    at.text_input(key="ex_fv0_postgresql_users_role").input("member").run()
    assert list(rows_table(at)["email"]) == [MEMBER]
    at.selectbox(key="ex_source_postgresql").set_value("user_sessions").run()
    sessions = rows_table(at)
    assert len(sessions) >= 1 and set(sessions["token_hash"]) == {explorer.MASK}
    assert json.loads(at.json[0].value)["token_hash"] == explorer.MASK  # the JSON view of the selected row
    at.session_state["ex_tab"] = "Fields"
    at.run()
    fields = at.dataframe[1].value
    assert bool(fields.set_index("column").loc["token_hash", "masked"]) is True


@pytest.mark.parametrize("value", ['{"$ne": 1}', "'; DROP TABLE users; --", ".*(", "\\", "🙂" * 50, "x" * 200,
                                   "%_%", "$where", "\u202e"])
def test_hostile_filter_input_gives_a_message_or_an_empty_table(demo_ro, value):
    at = explorer_page(store="mongodb", name="forum_posts")
    at.selectbox(key="ex_ff0_mongodb_forum_posts").set_value("title").run()
    at.text_input(key="ex_fv0_mongodb_forum_posts_title").input(value).run()
    assert not at.exception
    assert at.error or any("No documents match" in i.value for i in at.info)
    at.selectbox(key="ex_ff0_mongodb_forum_posts").set_value("views").run()
    at.text_input(key="ex_fv0_mongodb_forum_posts_views").input(value).run()
    assert not at.exception and at.error  # not a number: one line
    assert "\n" not in at.error[0].value
    counts = mongo.get_db().forum_posts.estimated_document_count()
    assert counts == 4


def test_console_runs_examples_and_refuses_writes(demo_ro):
    at = explorer_page(ADMIN)
    at.selectbox(key="console_sql_example").set_value("Accounts by role").run()
    assert "GROUP BY role" in at.text_area(key="console_sql").value
    at.button(key="console_sql_run").click().run()
    no_problem(at)
    result = at.dataframe[-1].value
    assert dict(zip(result["role"], result["accounts"], strict=True)) == {"admin": 2, "member": 1}
    assert at.get("vega_lite_chart")
    at.text_area(key="console_sql").input("DELETE FROM users").run()
    at.button(key="console_sql_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "refused" in at.error[0].value and "\n" not in at.error[0].value
    at.selectbox(key="console_mongo_example").set_value("Posts per category").run()
    at.button(key="console_mongo_run").click().run()
    no_problem(at)
    assert at.session_state["console_mongo_result"].rows
    at.text_area(key="console_mongo").input('[{"$match": {}}, {"$out": "stolen"}]').run()
    at.button(key="console_mongo_run").click().run()
    assert not at.exception and any("$out is refused" in e.value for e in at.error)
    assert "stolen" not in mongo.get_db().list_collection_names()
