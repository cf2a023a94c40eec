"""Attack class: escaping the read-only SQL console (#14).

The console's safety must not rest on its statement checker: every case below is sent to the server
on the console's read-only login *with the checker switched off*, and the server itself must refuse
it (the login may SELECT only the ``console`` views; no role change, function that runs SQL from
text, file or server function, lock, large object or temporary object gets through). The same cases
through the console with its checker on are refused too. Each asserts that nothing changed in
either store."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, pool

from p2p_store.data import console
from p2p_store.errors import DomainError, Refused
from p2p_store.settings import get_settings
from p2p_store.stores import local, pg
from tests.security.conftest import ADMIN_ID, fingerprint

# (statement, what the server says) — run on the read-only login as is, in autocommit (one statement
# per implicit transaction), so even the console's own READ ONLY transaction is not there to help.
SERVER_REFUSES = [
    # functions that run SQL handed to them as text
    ("SELECT query_to_xml('select password_hash from public.users', true, true, '')", "permission denied"),
    ("SELECT query_to_xml('select token_hash from public.user_sessions', true, true, '')", "permission denied"),
    ("SELECT query_to_xml('select set_config(''role'', ''p2p_owner'', false)', true, true, '')",
     "permission denied"),
    ("SELECT cursor_to_xml('c', 1, true, true, '')", "does not exist"),
    ("SELECT dblink_exec('dbname=p2p_sandbox', 'DELETE FROM users')", "does not exist"),
    ("CREATE EXTENSION dblink", "read-only transaction|permission denied"),
    # role changes
    ("SET ROLE p2p_owner", "permission denied"),
    ("SET ROLE postgres", "permission denied"),
    ("SET SESSION AUTHORIZATION p2p_owner", "permission denied"),
    ("SELECT set_config('role', 'p2p_owner', false)", "permission denied"),
    ("SELECT set_config('statement_timeout', '0', false)", "permission denied"),
    ("ALTER ROLE p2p_readonly SET statement_timeout = 0", "read-only transaction|permission denied"),
    ("GRANT p2p_owner TO p2p_readonly", "read-only transaction|permission denied"),
    # secrets behind the views
    ("SELECT password_hash FROM public.users", "permission denied"),
    ("SELECT token_hash FROM public.user_sessions", "permission denied"),
    ("SELECT email FROM public.sign_in_failures", "permission denied"),
    ("SELECT password_hash FROM users", "does not exist"),
    ("SELECT * FROM pg_catalog.pg_authid", "permission denied"),
    # files and the server
    ("SELECT pg_read_file('/etc/passwd')", "permission denied"),
    ("SELECT pg_read_file('postgresql.conf')", "permission denied"),
    ("SELECT pg_read_binary_file('postgresql.auto.conf')", "permission denied"),
    ("SELECT pg_ls_dir('.')", "permission denied"),
    ("SELECT pg_stat_file('postgresql.conf')", "permission denied"),
    ("COPY (SELECT 1) TO '/tmp/p2p-stolen.csv'", "read-only transaction|permission denied|must be superuser"),
    ("COPY public.users TO STDOUT", "permission denied|read-only"),
    ("SELECT pg_reload_conf()", "permission denied"),
    ("SELECT pg_rotate_logfile()", "permission denied"),
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'p2p_owner'", "permission denied"),
    ("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'p2p_owner'", "permission denied"),
    ("SELECT lo_import('/etc/passwd')", "permission denied"),
    ("SELECT lo_create(0)", "permission denied"),
    ("SELECT lo_from_bytea(0, 'x')", "permission denied"),
    # locks and side effects that outlive the statement
    ("SELECT pg_advisory_lock(424242)", "permission denied"),
    ("SELECT pg_try_advisory_lock(1)", "permission denied"),
    ("SELECT pg_notify('x', 'y')", "permission denied"),
    ("SELECT nextval('public.events_id_seq')", "permission denied"),
    ("CREATE TEMP TABLE stolen AS SELECT 1 AS x", "read-only transaction|permission denied"),
    ("BEGIN READ WRITE; CREATE TEMP TABLE stolen (x int); COMMIT", "permission denied"),
    ("BEGIN READ WRITE; CREATE TABLE console.stolen (x int); COMMIT", "permission denied"),
    ("BEGIN READ WRITE; CREATE TABLE public.stolen (x int); COMMIT", "permission denied"),
    ("BEGIN READ WRITE; DELETE FROM console.users; COMMIT", "permission denied|cannot delete"),
    ("BEGIN READ WRITE; UPDATE public.users SET role = 'admin'; COMMIT", "permission denied"),
    ("BEGIN READ WRITE; CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'; COMMIT", "permission denied"),
    ("BEGIN READ WRITE; LOCK TABLE console.users; COMMIT", "permission denied"),
    ("SELECT * FROM console.users FOR UPDATE", "read-only transaction|permission denied"),
]


@pytest.fixture(scope="module")
def readonly_raw(demo_signed_in):
    """A raw connection on the console's read-only login, autocommit (no console transaction)."""
    url = local.postgres_readonly_url(get_settings())
    assert url, "the embedded default provisions the read-only login"
    engine = create_engine(url, poolclass=pool.NullPool)
    dsn = engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("statement,refusal", SERVER_REFUSES, ids=[s[:60] for s, _ in SERVER_REFUSES])
def test_the_server_refuses_on_the_read_only_login(readonly_raw, statement, refusal):
    import re

    with pg.get_engine().connect():  # an app connection exists for the terminate/cancel cases to aim at
        before = fingerprint()
        with pytest.raises(psycopg.Error) as refused:
            readonly_raw.execute(statement)
        if readonly_raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            readonly_raw.execute("ROLLBACK")
        assert re.search(refusal, str(refused.value), re.IGNORECASE), str(refused.value)
        assert fingerprint() == before


@pytest.mark.parametrize("statement,refusal", SERVER_REFUSES, ids=[s[:60] for s, _ in SERVER_REFUSES])
def test_the_console_refuses_with_and_without_its_checker(demo_signed_in, monkeypatch, statement, refusal):
    before = fingerprint()
    with pytest.raises(DomainError) as refused:
        console.run_sql(actor_id=ADMIN_ID, sql=statement)
    assert "\n" not in str(refused.value)
    monkeypatch.setattr(console, "check_sql", lambda text: text.strip())
    with pytest.raises(DomainError):
        console.run_sql(actor_id=ADMIN_ID, sql=statement)
    assert fingerprint() == before
    # the pooled read-only connection is clean afterwards: its bounds are the role's
    after = console.run_sql(actor_id=ADMIN_ID, sql="SELECT current_user AS u, current_setting('statement_timeout') AS t")
    assert after.rows == [{"u": local.PG_READONLY, "t": f"{console.CONSOLE_TIMEOUT_S}s"}]


# The checker's tokenizer must split a statement where PostgreSQL does: a comment ended by a carriage
# return, dollar-quote tags of non-ASCII letters, identifiers beyond the BMP, a no-break space.
DESYNCS = [
    "SELECT 1 --\r; DELETE FROM users",
    "SELECT 1 -- comment\r;UPDATE users SET role = 'admin'",
    "SELECT $é$ text $é$; DELETE FROM users",
    "SELECT $ü$;$ü$, 1; DELETE FROM users",
    "SELECT 1 AS 😀; DELETE FROM users",
    "SELECT\u00a01; DELETE FROM users",
    "SELECT 1 /* nested /* comment */ still */; DELETE FROM users",
    "SELECT U&'\\0041'; DELETE FROM users",
    "SELECT $a$ $b$ $a$; DELETE FROM users; SELECT $b$",
]


@pytest.mark.parametrize("statement", DESYNCS, ids=range(len(DESYNCS)))
def test_tokenizer_desyncs_are_refused_by_checker_and_server(demo_signed_in, monkeypatch, statement):
    before = fingerprint()
    with pytest.raises(DomainError):
        console.check_sql(statement)
    monkeypatch.setattr(console, "check_sql", lambda text: text.strip())
    with pytest.raises(DomainError):
        console.run_sql(actor_id=ADMIN_ID, sql=statement)
    assert fingerprint() == before


def test_result_bytes_are_capped(demo_signed_in):
    """5,000 rows of 1 MB took the app to 2 GiB: now the server's bounds refuse it or the console stops
    reading at MAX_RESULT_BYTES; 8 rows of 1 MB stop at the byte cap."""
    before = fingerprint()
    try:
        result = console.run_sql(actor_id=ADMIN_ID,
                                 sql="SELECT repeat('x', 1000000) AS big FROM generate_series(1, 5000)")
    except Refused as refused:
        assert "bounds" in str(refused)
    else:
        assert result.truncated and sum(len(r["big"]) for r in result.rows) <= console.MAX_RESULT_BYTES + 1_000_000
    result = console.run_sql(actor_id=ADMIN_ID, sql="SELECT repeat('x', 1000000) AS big FROM generate_series(1, 8)")
    assert result.truncated and "MB" in result.note
    assert sum(len(r["big"]) for r in result.rows) <= console.MAX_RESULT_BYTES + 1_000_000
    assert fingerprint() == before


def test_a_long_query_is_stopped_by_the_role_bound(demo_signed_in, readonly_raw):
    """statement_timeout is set on the role itself (not only by the console)."""
    assert readonly_raw.execute("SHOW statement_timeout").fetchone()[0] == "3s"
    assert readonly_raw.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
    assert readonly_raw.execute("SHOW work_mem").fetchone()[0] == "4MB"
    with pytest.raises(psycopg.errors.QueryCanceled):
        readonly_raw.execute("SELECT pg_sleep(10)")
    with pytest.raises(Refused, match="longer than"):
        console.run_sql(actor_id=ADMIN_ID, sql="SELECT pg_sleep(10)")
