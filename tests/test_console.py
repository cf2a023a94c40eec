"""The read-only query console (issue 9, #14): every kind of write attempt is refused and the data is
unchanged — on the console's read-only login, and with the statement check switched off (the login's
privileges hold on their own); without that login the console is off; a long query stops at its
timeout; syntax errors are one line; secrets never show; members are refused; the saved examples run.
The attack classes in full are in tests/security/."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from p2p_store.accounts import auth
from p2p_store.data import console, explorer
from p2p_store.errors import DomainError, InvalidInput, PermissionDenied, Refused
from p2p_store.stores import mongo, pg
from seed.dataset import demo_accounts, user_id_for

ADMIN = "ahmed.faisal@advanced-electronics.sa"
MEMBER = "sara.hassan@advanced-electronics.sa"
ADMIN_ID = str(user_id_for(ADMIN))
MEMBER_ID = str(user_id_for(MEMBER))

SQL_WRITES = [
    "INSERT INTO users (id, email, full_name, password_hash) VALUES (gen_random_uuid(), 'x@y.z', 'X', 'h')",
    "UPDATE users SET role = 'admin'",
    "DELETE FROM users",
    "DELETE FROM user_sessions",
    "TRUNCATE events",
    "DROP TABLE users",
    "ALTER TABLE users ADD COLUMN x int",
    "CREATE TABLE x (id int)",
    "GRANT ALL ON users TO PUBLIC",
    "WITH x AS (DELETE FROM users RETURNING *) SELECT * FROM x",
    "WITH x AS (UPDATE users SET role = 'user' RETURNING id) SELECT count(*) FROM x",
    "SELECT * INTO TEMP stolen FROM system_configs",
    "SELECT id FROM users FOR UPDATE",
    "SELECT id FROM users FOR NO KEY UPDATE",
    "SELECT id FROM users FOR SHARE",
    "SELECT pg_advisory_lock(1)",
    "SELECT pg_try_advisory_lock(424242)",
    "SELECT pg_catalog.pg_advisory_lock(7)",
    'SELECT "pg_advisory_lock" (8)',
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT nextval('events_id_seq')",
    "SELECT setval('events_id_seq', 1000)",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "SELECT lo_create(0)",
    "SELECT query_to_xml('select pg_advisory_lock(9)', true, true, '')",
    "SELECT 1; DELETE FROM users",
    "SELECT 1; SELECT 2",
    "COPY users TO STDOUT",
    "SET ROLE postgres",
    "DO $$ BEGIN DELETE FROM users; END $$",
    "CALL nothing()",
    "select/**/id from users for/* c */update",
]
MONGO_WRITES = [
    ("pipeline", '[{"$match": {}}, {"$out": "stolen"}]'),
    ("pipeline", '[{"$merge": {"into": "forum_posts_copy"}}]'),
    ("pipeline", '[{"$facet": {"a": [{"$match": {}}, {"$out": "nested_out"}]}}]'),
    ("pipeline", '[{"$lookup": {"from": "profiles", "pipeline": [{"$merge": "x"}], "as": "p"}}]'),
    ("filter", '{"$where": "this.views > 0"}'),
    ("filter", '{"$expr": {"$function": {"body": "function() {return true}", "args": [], "lang": "js"}}}'),
    ("pipeline", '[{"$group": {"_id": null, "x": {"$accumulator": {"init": "function() {}"}}}}]'),
    ("pipeline", '[{"$match": {"$and": [{"a": 1}, {"$where": "1"}]}}]'),
]


@pytest.fixture(scope="module")
def demo_ro(stores):
    """The demo set once for this module, with one sign-in (a user_sessions row holding a token hash)."""
    from seed.loader import reseed

    reseed(scale=0)
    admin = next(a for a in demo_accounts() if a["email"] == ADMIN)
    return auth.sign_in(email=ADMIN, password=admin["password"])


def snapshot() -> dict:
    """What a write would change: rows per table, documents per collection, the collections, the
    identity sequence, and any advisory lock left on a pooled connection."""
    with pg.new_session() as session:
        state = {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                 for table in ("users", "user_sessions", "system_configs", "events", "sign_in_failures")}
        state["roles"] = sorted(session.execute(text("SELECT email, role FROM users")).all())
        state["sequence"] = session.execute(text("SELECT last_value FROM events_id_seq")).scalar_one()
        state["advisory_locks"] = session.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one()
        state["tables"] = sorted(session.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")).scalars())
    db = mongo.get_db()
    state["collections"] = sorted(db.list_collection_names())
    for name in mongo.COLLECTION_NAMES:
        state[name] = db[name].count_documents({})
    return state


@pytest.fixture
def role_mode(demo_ro):
    """The console on its read-only login (the embedded default provisions it)."""
    assert console.readonly_role_status().active, "the embedded server has the read-only login"
    return "role"


def test_without_a_read_only_login_the_console_is_off(demo_ro, monkeypatch):
    from p2p_store.stores import local

    monkeypatch.setattr(local, "postgres_readonly_url", lambda settings: None)
    monkeypatch.setattr(local, "mongodb_readonly_url", lambda settings: None)
    status = console.readonly_role_status()
    assert not status.active and "DATABASE_READONLY_URL" in status.message and "README" in status.message
    before = snapshot()
    with pytest.raises(Refused, match="console is off"):
        console.run_sql(actor_id=ADMIN_ID, sql="SELECT email FROM users")
    with pytest.raises(Refused, match="MONGODB_READONLY_URL"):
        console.run_mongo(actor_id=ADMIN_ID, collection="forum_posts", mode="filter", text="{}")
    assert snapshot() == before


# ------------------------------------------------------------------ SQL


@pytest.mark.parametrize("sql", SQL_WRITES)
def test_sql_write_attempts_are_refused_and_change_nothing(role_mode, sql):
    before = snapshot()
    with pytest.raises(Refused) as refused:
        console.run_sql(actor_id=ADMIN_ID, sql=sql)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 300
    assert "nothing was" in message.lower()
    assert snapshot() == before


# Nothing is left to the statement check alone: the server refuses every one of them (#14).
UNDONE_BY_RESET: set[str] = set()


@pytest.mark.parametrize("sql", [s for s in SQL_WRITES if ";" not in s])
def test_transaction_and_role_hold_without_the_statement_check(demo_ro, monkeypatch, sql):
    """Read-only for real, not by string matching alone: with the check switched off, the read-only
    transaction, the server-side cursor and the role still stop every write, and the connection
    reset drops what a read-only transaction allows (advisory locks, settings)."""
    monkeypatch.setattr(console, "check_sql", lambda text: text.strip())
    before = snapshot()
    try:
        console.run_sql(actor_id=ADMIN_ID, sql=sql)
    except DomainError as refused:
        assert "\n" not in str(refused)
    else:
        assert sql in UNDONE_BY_RESET
    assert snapshot() == before
    timeout = console.run_sql(actor_id=ADMIN_ID, sql="SELECT current_setting('statement_timeout') AS t")
    assert timeout.rows[0]["t"] == f"{console.CONSOLE_TIMEOUT_S}s"


def test_long_query_stops_at_its_timeout(role_mode):
    before = snapshot()
    started = time.monotonic()
    with pytest.raises(Refused, match=f"longer than {console.CONSOLE_TIMEOUT_S} s"):
        console.run_sql(actor_id=ADMIN_ID, sql="SELECT pg_sleep(10)")
    assert time.monotonic() - started < console.CONSOLE_TIMEOUT_S + 2
    assert snapshot() == before
    # and the pooled connection works normally afterwards (its own, longer timeout is back)
    assert console.run_sql(actor_id=ADMIN_ID, sql="SELECT current_setting('statement_timeout') AS t").rows


@pytest.mark.parametrize("sql,message", [
    ("SELEC 1", "Syntax error"),
    ("SELECT FROM WHERE", "Syntax error"),
    ("SELECT 'unterminated", "Syntax error"),
    ("SELECT 1 /* open", "Syntax error"),
    ("SELECT * FROM no_such_table", "does not exist"),
    ("SELECT 1/0", "division by zero"),
    ("SELECT $1", "Parameters"),
    ("", "Type a SELECT"),
    ("   ;  ", "Type a SELECT"),
    ("SELECT " + "1," * 10_000 + "1", "too long"),
])
def test_errors_are_one_clear_line(role_mode, sql, message):
    with pytest.raises(InvalidInput, match=message) as error:
        console.run_sql(actor_id=ADMIN_ID, sql=sql)
    assert "\n" not in str(error.value)


def test_results_are_capped_and_read_only_role_reads_app_tables(role_mode):
    result = console.run_sql(actor_id=ADMIN_ID, sql="SELECT generate_series(1, 5000) AS n")
    assert len(result.rows) == console.ROW_CAP and result.truncated
    emails = console.run_sql(actor_id=ADMIN_ID, sql="SELECT email, role FROM users ORDER BY email;")
    assert [r["email"] for r in emails.rows][0] == ADMIN and not emails.truncated
    assert emails.columns == ["email", "role"]
    dup = console.run_sql(actor_id=ADMIN_ID, sql="SELECT 1 AS a, 2 AS a")
    assert dup.columns == ["a", "a_2"]


def test_secret_columns_never_show(role_mode, demo_ro):
    with pg.new_session() as session:
        secrets = list(session.execute(text("SELECT password_hash FROM users")).scalars())
        secrets += list(session.execute(text("SELECT token_hash FROM user_sessions")).scalars())
    assert len(secrets) >= 4
    attempts = ["SELECT * FROM users", "SELECT email, password_hash FROM users", "SELECT password_hash AS x FROM users",
                "SELECT u.* FROM user_sessions u", "SELECT token_hash AS t, user_id FROM user_sessions",
                "SELECT to_jsonb(u) AS j FROM users u", "SELECT upper(token_hash) AS t FROM user_sessions",
                "TABLE user_sessions"]
    for sql in attempts:
        try:
            result = console.run_sql(actor_id=ADMIN_ID, sql=sql)
        except DomainError as refused:  # the console's views have no such columns
            assert "\n" not in str(refused)
            continue
        shown = repr(result.rows)
        assert not any(secret in shown or secret.upper() in shown for secret in secrets), sql
        for row in result.rows:
            for column in ("password_hash", "token_hash"):
                assert row.get(column, explorer.MASK) == explorer.MASK


def test_members_are_refused(demo_ro):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        console.run_sql(actor_id=MEMBER_ID, sql="SELECT 1")
    with pytest.raises(PermissionDenied):
        console.run_mongo(actor_id=MEMBER_ID, collection="forum_posts", mode="filter", text="{}")
    with pytest.raises(PermissionDenied):
        console.run_sql(actor_id="not an id", sql="SELECT 1")
    assert snapshot() == before


# ------------------------------------------------------------------ MongoDB


@pytest.mark.parametrize("mode,query", MONGO_WRITES)
def test_mongo_writes_and_javascript_are_refused(demo_ro, mode, query):
    before = snapshot()
    with pytest.raises(Refused, match=r"\$(out|merge|where|function|accumulator) is refused"):
        console.run_mongo(actor_id=ADMIN_ID, collection="forum_posts", mode=mode, text=query)
    assert snapshot() == before


@pytest.mark.parametrize("mode,query,message", [
    ("filter", '{"status": ', "Not valid JSON"),
    ("filter", "__import__('os').system('true')", "Not valid JSON"),
    ("filter", '[{"$match": {}}]', "filter is a JSON object"),
    ("pipeline", '{"status": "open"}', "pipeline is a JSON array"),
    ("pipeline", '[{"$match": {}, "$limit": 1}]', "pipeline is a JSON array"),
    ("pipeline", '[{"$bogus": 1}]', "MongoDB could not run the query"),
    ("filter", '{"views": {"$bogus": 1}}', "MongoDB could not run the query"),
    ("filter", '{"created_at": {"$gte": {"$date": "yesterday"}}}', "not a date"),
    ("filter", "[" * 3000 + "]" * 3000, "nested too deeply"),
    ("sql", "{}", "filter or pipeline"),
])
def test_mongo_errors_are_one_clear_line(demo_ro, mode, query, message):
    with pytest.raises(InvalidInput, match=message) as error:
        console.run_mongo(actor_id=ADMIN_ID, collection="forum_posts", mode=mode, text=query)
    assert "\n" not in str(error.value)


def test_mongo_queries_run_capped(demo_ro):
    open_posts = console.run_mongo(actor_id=ADMIN_ID, collection="forum_posts", mode="filter",
                                   text='{"status": "open", "created_at": {"$gte": {"$date": "2000-01-01T00:00:00Z"}}}')
    assert open_posts.rows and all(r["status"] == "open" for r in open_posts.rows)
    assert open_posts.documents and "_id" in open_posts.documents[0]
    with pytest.raises(InvalidInput, match="collection"):
        console.run_mongo(actor_id=ADMIN_ID, collection="system.users", mode="filter", text="{}")
    original = console.ROW_CAP
    try:
        console.ROW_CAP = 5
        capped = console.run_mongo(actor_id=ADMIN_ID, collection="forum_replies", mode="pipeline",
                                   text='[{"$sort": {"created_at": 1}}]')
        assert len(capped.rows) == 5 and capped.truncated
    finally:
        console.ROW_CAP = original


# ------------------------------------------------------------------ the saved examples


def test_saved_examples_run_on_the_demo_data(demo_ro):
    assert {e.store for e in console.EXAMPLES} == {"postgresql", "mongodb"}
    before = snapshot()
    for example in console.EXAMPLES:
        if example.store == "postgresql":
            result = console.run_sql(actor_id=ADMIN_ID, sql=example.text)
        else:
            result = console.run_mongo(actor_id=ADMIN_ID, collection=example.collection, mode=example.mode,
                                       text=example.text)
        assert result.rows or example.title == "Role changes (audit)", example.title
    by_title = {e.title: e for e in console.EXAMPLES}
    roles = console.run_sql(actor_id=ADMIN_ID, sql=by_title["Accounts by role"].text)
    assert {r["role"]: r["accounts"] for r in roles.rows} == {"admin": 2, "member": 1}
    authors = console.run_mongo(actor_id=ADMIN_ID, collection="forum_replies", mode="pipeline",
                                text=by_title["Replies per author"].text)
    assert sum(r["replies"] for r in authors.rows) == 28 and all(r.get("author") for r in authors.rows)
    regions = console.run_mongo(actor_id=ADMIN_ID, collection="use_cases", mode="pipeline",
                                text=by_title["Use cases per region"].text)
    assert sum(r["use_cases"] for r in regions.rows) == 17
    assert snapshot() == before
