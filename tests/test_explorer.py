"""The data explorer's services on the demo data (issue 9): every table and collection opens; counts,
indexes and fields; keyset paging visits every row once in order (also through the windows used
on big collections); filters give the right rows; secrets are masked in views and exports;
hostile filter input gives a message or an empty result, never an exception."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from p2p_store.accounts import auth
from p2p_store.data import browse_mongo, explorer
from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import User, UserSession
from p2p_store.vocabulary import user_id_for

ADMIN = "ahmed.faisal@advanced-electronics.sa"
MEMBER = "sara.hassan@advanced-electronics.sa"
ADMIN_ID = str(user_id_for(ADMIN))
DEMO_COUNTS = {"users": 3, "profiles": 3, "forum_posts": 4, "forum_replies": 28, "use_cases": 17}


@pytest.fixture(scope="module")
def demo_ro(stores):
    """The demo set, loaded once for this module, plus one sign-in (a user_sessions row)."""
    from seed.dataset import demo_accounts
    from seed.loader import reseed

    reseed(scale=0)
    explorer.forget_samples()
    admin = next(a for a in demo_accounts() if a["email"] == ADMIN)
    signed = auth.sign_in(email=ADMIN, password=admin["password"])
    yield signed
    explorer.forget_samples()


def all_rows(store: str, name: str, sort: str, descending: bool = False, filters=(), page_size: int = 5) -> list[dict]:
    """Every row of a view, page by page through ``next_after``."""
    rows, after = [], None
    for _ in range(10_000):
        page = explorer.browse_rows(actor_id=ADMIN_ID, store=store, name=name, sort=sort, descending=descending, filters=filters,
                                    after=after, page_size=page_size)
        assert len(page.rows) <= page_size
        rows += page.rows
        if page.next_after is None:
            return rows
        after = page.next_after
    raise AssertionError("paging did not end")


def mongo_order(name: str, sort: str, descending: bool, query: dict | None = None) -> list[str]:
    d = -1 if descending else 1
    order = [(sort, d)] + ([("_id", d)] if sort != "_id" else [])
    return [doc["_id"] for doc in mongo.get_db()[name].find(query or {}, {"_id": 1}).sort(order)]


# ------------------------------------------------------------------ sources, fields


def test_every_table_and_collection_opens(demo_ro):
    tables = [s.name for s in explorer.list_sources(actor_id=ADMIN_ID, store="postgresql")]
    assert set(tables) == {"users", "user_sessions", "system_configs", "events", "sign_in_failures"}
    collections = [s.name for s in explorer.list_sources(actor_id=ADMIN_ID, store="mongodb")]
    assert collections[:4] == mongo.COLLECTION_NAMES
    for store, names in (("postgresql", tables), ("mongodb", collections)):
        for name in names:
            fields = explorer.describe_fields(actor_id=ADMIN_ID, store=store, name=name)
            assert fields, name
            sorts = explorer.sort_fields(actor_id=ADMIN_ID, store=store, name=name)
            if name == "sign_in_failures":  # its key (what was typed) is off the allow-list (#14)
                assert sorts == []
                continue
            assert sorts, name
            page = explorer.browse_rows(actor_id=ADMIN_ID, store=store, name=name, sort=sorts[0], page_size=200)
            source = explorer.get_source(actor_id=ADMIN_ID, store=store, name=name)
            if source.count:
                assert page.rows, name
            chartable = [f.name for f in fields if f.countable]
            if chartable:
                counts = explorer.value_counts(actor_id=ADMIN_ID, store=store, name=name, field=chartable[0])
                assert sum(c["count"] for c in counts) >= min(source.count, 1)


def test_counts_and_indexes(demo_ro):
    pg_sources = {s.name: s for s in explorer.list_sources(actor_id=ADMIN_ID, store="postgresql")}
    assert pg_sources["users"].count == 3 and not pg_sources["users"].estimated
    assert pg_sources["user_sessions"].count >= 1  # the sign-in of the fixture
    users_ix = {ix.name: ix for ix in pg_sources["users"].indexes}
    assert users_ix["ix_users_email"].unique and users_ix["ix_users_email"].keys == (("email", 1),)
    assert any(ix.kind == "primary key" for ix in users_ix.values())
    mongo_sources = {s.name: s for s in explorer.list_sources(actor_id=ADMIN_ID, store="mongodb")}
    for name in mongo.COLLECTION_NAMES:
        assert mongo_sources[name].count == DEMO_COUNTS[name]
        assert mongo_sources[name].estimated
    use_case_ix = {ix.name: ix for ix in mongo_sources["use_cases"].indexes}
    assert use_case_ix["location_2dsphere"].kind == "2dsphere"
    assert use_case_ix["slug_unique"].unique
    assert {ix.name for ix in mongo_sources["forum_posts"].indexes} >= {"pinned_activity", "category_activity", "tags"}


def test_table_columns_constraints_and_foreign_keys(demo_ro):
    users = {f.name: f for f in explorer.describe_fields(actor_id=ADMIN_ID, store="postgresql", name="users")}
    assert users["id"].constraints.startswith("primary key") and users["id"].kind == "id"
    assert "unique" in users["email"].constraints and users["email"].nullable is False
    assert "check" in users["role"].constraints
    assert users["last_login_at"].nullable is True and users["last_login_at"].kind == "date"
    assert users["password_hash"].masked and not users["password_hash"].ops and not users["password_hash"].sortable
    sessions = {f.name: f for f in explorer.describe_fields(actor_id=ADMIN_ID, store="postgresql", name="user_sessions")}
    assert sessions["user_id"].references == "users.id (on delete CASCADE)"
    assert sessions["token_hash"].masked and not sessions["token_hash"].sortable
    assert explorer.sort_fields(actor_id=ADMIN_ID, store="postgresql", name="events")[0] == "at"


def test_collection_fields_dotted_paths_types_presence_examples(demo_ro):
    fields = {f.name: f for f in explorer.describe_fields(actor_id=ADMIN_ID, store="mongodb", name="use_cases")}
    assert fields["title"].presence == 1.0 and fields["title"].kind == "text" and fields["title"].examples
    assert fields["created_at"].kind == "date" and fields["created_at"].sortable
    assert fields["technologies"].is_array and fields["technologies"].types == "array<string>"
    assert fields["location.coordinates"].kind == "number"
    # nested fields of the 2 detailed cases out of 17, found through arrays of objects too
    assert fields["roi.investment_sar"].kind == "number"
    assert fields["roi.investment_sar"].presence == pytest.approx(2 / 17, abs=1e-3)
    assert fields["implementation_phases.phase"].presence == pytest.approx(2 / 17, abs=1e-3)
    assert "null" in fields["detailed_version_id"].types
    replies = explorer.sort_fields(actor_id=ADMIN_ID, store="mongodb", name="forum_replies")
    assert replies[0] == "created_at" and set(replies) == {"created_at", "_id", "post_id", "author_id"}
    assert "body" not in replies  # not indexed
    # people open sorted by email, not _id (the embedded server sorts by _id with a scan, #17)
    assert explorer.sort_fields(actor_id=ADMIN_ID, store="mongodb", name="profiles")[0] == "email"


# ------------------------------------------------------------------ paging


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("name", mongo.COLLECTION_NAMES)
def test_keyset_paging_visits_every_document_once_in_order(demo_ro, name, descending):
    for sort in explorer.sort_fields(actor_id=ADMIN_ID, store="mongodb", name=name):
        got = [r["_id"] for r in all_rows("mongodb", name, sort, descending, page_size=3)]
        assert got == mongo_order(name, sort, descending), (name, sort)


@pytest.mark.parametrize("descending", [False, True])
def test_windowed_paging_is_exact(demo_ro, monkeypatch, descending):
    """The bounded windows used on big collections (forced here on the demo data, with a small sample
    so that many windows are needed) change cost, never the rows or their order."""
    monkeypatch.setattr(browse_mongo, "WINDOW_ABOVE", 0)
    monkeypatch.setattr(browse_mongo, "SAMPLE_SIZE", 6)
    explorer.forget_samples()
    try:
        for name in ("forum_replies", "use_cases", "forum_posts"):
            for sort in explorer.sort_fields(actor_id=ADMIN_ID, store="mongodb", name=name):
                got = [r["_id"] for r in all_rows("mongodb", name, sort, descending, page_size=4)]
                assert got == mongo_order(name, sort, descending), (name, sort)
        # the first page of 28 replies by date is read through a bounded window, not the whole index
        first = explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", sort="created_at", descending=descending,
                                     page_size=4)
        window = mongo_order("forum_replies", "created_at", descending)
        assert [r["_id"] for r in first.rows] == window[:4] and first.next_after is not None
        queries, after = 0, None
        while True:
            page = explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", sort="created_at",
                                        descending=descending, page_size=4, after=after)
            queries += page.queries
            if page.next_after is None:
                break
            after = page.next_after
        assert queries > 7  # 7 pages: a tie-group query and at least one window each
        with pytest.raises(InvalidInput, match="out of date"):
            explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", sort="created_at", after=("x", "y"))
            filters = [("author_id", "eq", str(demo_ro.user_id))]
            got = [r["_id"] for r in all_rows("mongodb", "forum_replies", "created_at", descending, filters, 2)]
            assert got == mongo_order("forum_replies", "created_at", descending, {"author_id": demo_ro.user_id})
    finally:
        explorer.forget_samples()


@pytest.mark.parametrize("descending", [False, True])
def test_table_paging_by_each_sort_column(demo_ro, descending):
    for name in ("users", "user_sessions", "system_configs"):
        for sort in explorer.sort_fields(actor_id=ADMIN_ID, store="postgresql", name=name):
            rows = all_rows("postgresql", name, sort, descending, page_size=1)
            source = explorer.get_source(actor_id=ADMIN_ID, store="postgresql", name=name)
            assert len(rows) == source.count
            keys = [str(r[sort]) for r in rows]
            assert len({str(r[next(iter(r))]) for r in rows}) == len(rows)  # no row twice
            if sort in ("email", "key"):
                assert keys == sorted(keys, reverse=descending)


def test_page_size_is_bounded(demo_ro):
    page = explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", page_size=10_000)
    assert page.page_size == explorer.MAX_PAGE_SIZE
    assert explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", page_size=0).page_size == 1


def test_sort_only_by_indexed_fields(demo_ro):
    with pytest.raises(InvalidInput, match="not indexed"):
        explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", sort="body")
    with pytest.raises(InvalidInput, match="not indexed"):
        explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name="users", sort="full_name")
    with pytest.raises(InvalidInput, match="secret"):
        explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name="users", sort="password_hash")
    with pytest.raises(NotFound):
        explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name="pg_authid")
    with pytest.raises(NotFound):
        explorer.browse_rows(actor_id=ADMIN_ID, store="mongodb", name="system.users")


# ------------------------------------------------------------------ filters


def ids(rows: list[dict], key: str = "_id") -> set:
    return {str(r[key]) for r in rows}


def test_mongo_filters_give_the_right_documents(demo_ro):
    db = mongo.get_db()
    posts = list(db.forum_posts.find())
    by = lambda fn: {p["_id"] for p in posts if fn(p)}
    some = posts[0]
    assert ids(all_rows("mongodb", "forum_posts", "created_at", filters=[("category", "eq", some["category"])])) == \
        by(lambda p: p["category"] == some["category"])
    assert ids(all_rows("mongodb", "forum_posts", "created_at", filters=[("is_pinned", "eq", "true")])) == \
        by(lambda p: p["is_pinned"])
    views = sorted(p["views"] for p in posts)
    low, high = views[1], views[2]
    between = [("views", "gte", str(low)), ("views", "lte", str(high))]
    assert ids(all_rows("mongodb", "forum_posts", "_id", filters=between)) == by(lambda p: low <= p["views"] <= high)
    word = some["title"].split()[1]
    assert ids(all_rows("mongodb", "forum_posts", "created_at", filters=[("title", "contains", word.upper())])) == \
        by(lambda p: word.lower() in p["title"].lower())
    tag = some["tags"][0]
    assert ids(all_rows("mongodb", "forum_posts", "created_at", filters=[("tags", "eq", tag)])) == \
        by(lambda p: tag in p["tags"])
    day = some["created_at"].date().isoformat()
    assert ids(all_rows("mongodb", "forum_posts", "created_at", filters=[("created_at", "eq", day)])) == \
        by(lambda p: p["created_at"].date().isoformat() == day)
    assert ids(all_rows("mongodb", "forum_posts", "created_at", filters=[("created_at", "lte", day)])) == \
        by(lambda p: p["created_at"].date().isoformat() <= day)
    # two conditions on the sort field itself merge with the page windows
    replies = list(db.forum_replies.find())
    first = sorted(r["created_at"] for r in replies)[5]
    got = all_rows("mongodb", "forum_replies", "created_at", filters=[("created_at", "gte", first.isoformat())],
                   page_size=4)
    assert ids(got) == {r["_id"] for r in replies if r["created_at"] >= first}
    # contradictory conditions: empty, not an error
    assert all_rows("mongodb", "forum_posts", "created_at",
                    filters=[("category", "eq", "Automation"), ("category", "eq", "AI")]) == []


def test_table_filters_give_the_right_rows(demo_ro):
    members = all_rows("postgresql", "users", "email", filters=[("role", "eq", "member")])
    assert [r["email"] for r in members] == [MEMBER]
    assert ids(all_rows("postgresql", "users", "email", filters=[("email", "contains", "ADVANCED-")]), "email") == \
        {ADMIN, MEMBER}
    assert all_rows("postgresql", "users", "email", filters=[("email", "contains", "%")]) == []
    assert all_rows("postgresql", "users", "email", filters=[("email", "contains", "_")]) == []
    one = all_rows("postgresql", "users", "id", filters=[("id", "eq", demo_ro.user_id)])
    assert [r["email"] for r in one] == [ADMIN]
    assert len(all_rows("postgresql", "users", "id", filters=[("is_active", "eq", "yes")])) == 3
    assert all_rows("postgresql", "users", "id", filters=[("version", "gte", "2")]) == []
    assert len(all_rows("postgresql", "users", "id", filters=[("created_at", "gte", "2000-01-01"),
                                                                 ("created_at", "lte", "2999-12-31")])) == 3
    configs = all_rows("postgresql", "system_configs", "key", filters=[("value", "contains", '"scale": 0')])
    assert [r["key"] for r in configs] == ["last_seed"]


@pytest.mark.parametrize("store,name,flt,message", [
    ("mongodb", "forum_posts", ("views", "gte", "many"), "takes a number"),
    ("mongodb", "forum_posts", ("views", "contains", "1"), "cannot be filtered"),
    ("mongodb", "forum_posts", ("created_at", "eq", "yesterday"), "takes a date"),
    ("mongodb", "forum_posts", ("is_pinned", "eq", "maybe"), "true or false"),
    ("mongodb", "forum_posts", ("$where", "eq", "1"), "Unknown field"),
    ("mongodb", "forum_posts", ("title", "$ne", "x"), "cannot be filtered"),
    ("mongodb", "forum_posts", ("views", "eq", "9" * 30), "out of range"),
    ("mongodb", "forum_posts", ("views", "eq", "nan"), "finite"),
    ("mongodb", "forum_posts", ("title", "eq", "x" * 201), "too long"),
    ("mongodb", "forum_posts", ("title", "eq", "   "), "Type a value"),
    ("postgresql", "users", ("version", "eq", str(2**40)), "out of range"),
    ("postgresql", "users", ("id", "eq", "not-a-uuid"), "takes an id"),
    ("postgresql", "users", ("password_hash", "eq", "x"), "secret"),
    ("postgresql", "user_sessions", ("token_hash", "contains", "a"), "secret"),
    ("postgresql", "users", ("nope", "eq", "x"), "Unknown column"),
])
def test_bad_filters_get_one_clear_message(demo_ro, store, name, flt, message):
    with pytest.raises(InvalidInput, match=message):
        explorer.browse_rows(actor_id=ADMIN_ID, store=store, name=name, filters=[flt])


# ------------------------------------------------------------------ secrets


def secrets_in_store(token: str) -> list[str]:
    with pg.new_session() as session:
        hashes = list(session.scalars(select(User.password_hash)))
        tokens = list(session.scalars(select(UserSession.token_hash)))
    assert tokens, "the fixture's sign-in left a session row"
    return [*hashes, *tokens, token]


def test_password_and_token_hashes_masked_in_view_and_export(demo_ro):
    secrets = secrets_in_store(demo_ro.token)
    users = all_rows("postgresql", "users", "email")
    sessions = all_rows("postgresql", "user_sessions", "id")
    assert users and sessions
    assert {r["password_hash"] for r in users} == {explorer.MASK}
    assert {r["token_hash"] for r in sessions} == {explorer.MASK}
    for name, sort in (("users", "email"), ("user_sessions", "expires_at")):
        for fmt in ("csv", "json"):
            data = explorer.export_rows(actor_id=ADMIN_ID, store="postgresql", name=name, sort=sort, fmt=fmt).decode()
            assert explorer.MASK in data
            for secret in secrets:
                assert secret not in data
        page = explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name=name, sort=sort)
        for blob in (explorer.rows_as_csv(page.rows), explorer.rows_as_json(page.rows)):
            assert not any(secret in blob.decode() for secret in secrets)
    with pytest.raises(InvalidInput):
        explorer.value_counts(actor_id=ADMIN_ID, store="postgresql", name="users", field="password_hash")


def test_masking_is_by_column_name_at_any_depth():
    row = {"email": "a@b.c", "password_hash": "$argon2id$v=19$m=1$abc", "nested": {"token_hash": "f" * 64},
           "list": [{"Password_Hash": "x"}], "note": "hash $argon2id$v=19$zz inside"}
    masked = explorer.mask_row(row)
    assert masked["password_hash"] == masked["nested"]["token_hash"] == masked["list"][0]["Password_Hash"] == "•••"
    # by column, never by the shape of a value (#14): what is not a secret column is shown as it is
    assert masked["note"] == row["note"] and masked["email"] == "a@b.c"


# ------------------------------------------------------------------ export, value counts


def test_export_flattens_nested_fields_and_is_bounded(demo_ro):
    data = explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="use_cases", sort="created_at", fmt="csv").decode()
    table = list(csv.DictReader(io.StringIO(data)))
    assert len(table) == 17
    assert "roi.investment_sar" in table[0] and "location.coordinates" in table[0]
    detailed = [r for r in table if r["kind"] == "detailed"]
    assert len(detailed) == 2 and all(r["roi.investment_sar"] for r in detailed)
    assert json.loads(next(r for r in table if r["technologies"])["technologies"])  # arrays as JSON text
    docs = json.loads(explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="use_cases", sort="created_at", fmt="json"))
    assert len(docs) == 17 and any("roi" in d for d in docs)
    limited = json.loads(explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", limit=10, fmt="json"))
    assert len(limited) == 10
    big = json.loads(explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_replies", limit=10**9, fmt="json"))
    assert len(big) == 28
    filtered = explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_posts", fmt="json",
                                    filters=[("is_pinned", "eq", "true")])
    assert len(json.loads(filtered)) == 1
    with pytest.raises(InvalidInput):
        explorer.export_rows(actor_id=ADMIN_ID, store="mongodb", name="forum_posts", fmt="xml")


def test_value_counts(demo_ro):
    db = mongo.get_db()
    expected = {}
    for post in db.forum_posts.find():
        expected[post["category"]] = expected.get(post["category"], 0) + 1
    got = explorer.value_counts(actor_id=ADMIN_ID, store="mongodb", name="forum_posts", field="category")
    assert {r["value"]: r["count"] for r in got} == expected
    tags = explorer.value_counts(actor_id=ADMIN_ID, store="mongodb", name="forum_posts", field="tags", top=3)
    assert len(tags) == 3 and tags[0]["count"] >= tags[-1]["count"]
    roles = explorer.value_counts(actor_id=ADMIN_ID, store="postgresql", name="users", field="role")
    assert {r["value"]: r["count"] for r in roles} == {"admin": 2, "member": 1}
    filtered = explorer.value_counts(actor_id=ADMIN_ID, store="postgresql", name="users", field="role",
                                     filters=[("email", "contains", "gulfplastics")])
    assert filtered == [{"value": "admin", "count": 1}]
    with pytest.raises(InvalidInput, match="objects"):
        explorer.value_counts(actor_id=ADMIN_ID, store="mongodb", name="use_cases", field="roi")


# ------------------------------------------------------------------ hostile input

HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30),
    st.sampled_from([
        '{"$ne": 1}', '{"$gt": ""}', "$where", "$ne", ".*", ".*(", "(?i)a|b", "\\", "[", "a{1000000}", "^$",
        "'; DROP TABLE users; --", "' OR '1'='1", "1 OR 1=1", "%", "_", "%%__\\%", "\x00", "\u202e", "\ufeff",
        "x" * 5000, "🙂" * 300, "null", "true", "-1e309", "1e308", "2025-13-45", "0x10", "NaN", "-0", "  7 ",
    ]),
)
FIELDS = {
    ("mongodb", "forum_posts"): ["title", "views", "created_at", "is_pinned", "tags", "category", "_id", "$where",
                                 "title.$", "views\x00"],
    ("mongodb", "use_cases"): ["roi.investment_sar", "location.coordinates", "technologies", "kind"],
    ("postgresql", "users"): ["email", "role", "id", "version", "created_at", "is_active", "password_hash", "x; --"],
    ("postgresql", "system_configs"): ["key", "value", "updated_at"],
}
HOSTILE = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HOSTILE
@given(source=st.sampled_from(sorted(FIELDS)), data=st.data())
def test_hostile_filter_input_gives_a_message_or_rows(demo_ro, source, data):
    store, name = source
    field = data.draw(st.one_of(st.sampled_from(FIELDS[source]), HOSTILE_TEXT), label="field")
    op = data.draw(st.one_of(st.sampled_from(explorer.OPS), HOSTILE_TEXT), label="op")
    value = data.draw(st.one_of(HOSTILE_TEXT, st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
                      label="value")
    filters = [(field, op, value)]
    try:
        page = explorer.browse_rows(actor_id=ADMIN_ID, store=store, name=name, filters=filters, page_size=20)
    except InvalidInput:
        return
    assert len(page.rows) <= DEMO_COUNTS.get(name, 100)
    for row in page.rows:
        assert row.get("password_hash", explorer.MASK) == explorer.MASK
    try:
        explorer.value_counts(actor_id=ADMIN_ID, store=store, name=name, field=field, filters=filters)
    except InvalidInput:
        pass


@HOSTILE
@given(store=st.one_of(st.sampled_from(explorer.STORES), HOSTILE_TEXT), name=HOSTILE_TEXT, sort=HOSTILE_TEXT,
       after=st.one_of(st.none(), HOSTILE_TEXT, st.tuples(HOSTILE_TEXT, HOSTILE_TEXT), st.integers()))
def test_hostile_source_sort_and_cursor(demo_ro, store, name, sort, after):
    try:
        explorer.browse_rows(actor_id=ADMIN_ID, store=store, name=name, sort=sort, after=after)
    except (InvalidInput, NotFound):
        pass
    views = (("mongodb", "forum_replies", "created_at"), ("postgresql", "users", "email"),
             ("postgresql", "users", "id"))
    for real_store, real_name, real_sort in views:
        try:
            page = explorer.browse_rows(actor_id=ADMIN_ID, store=real_store, name=real_name, sort=real_sort, after=after)
        except InvalidInput:
            continue
        assert len(page.rows) <= DEMO_COUNTS[real_name]
