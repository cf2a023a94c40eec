"""Attack class: reading a secret through any path a person can reach (#14).

Masking is by column allow-list (p2p_store.data.masking): a column is shown only if listed, so a
secret never leaves — not in the explorer's rows, JSON or exports, not through the console (its
views have no secret columns, whatever alias, cast, JSON or string function a query uses), not in
the health report or the logs. Sign-ins and failed sign-ins are for admins only."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import text

from p2p_store.data import console, explorer, masking
from p2p_store.errors import DomainError, PermissionDenied
from p2p_store.stores import pg
from p2p_store.stores.models import Base
from tests.security.conftest import ADMIN_ID, MEMBER_ID, fingerprint


@pytest.fixture(scope="module")
def secrets(demo_signed_in):
    """Every secret value the stores hold (and pieces of them a string function could cut out)."""
    with pg.new_session() as session:
        values = list(session.execute(text("SELECT password_hash FROM users")).scalars())
        values += list(session.execute(text("SELECT token_hash FROM user_sessions")).scalars())
    assert len(values) >= 4
    pieces = set(values)
    for value in values:
        pieces.update(part for part in value.replace(",", "$").split("$") if len(part) >= 16)
        pieces.update({value[:24], value[-24:]})
    return pieces


def assert_nothing_secret(blob: str, secrets: set[str]) -> None:
    lowered = blob.lower()
    for secret in secrets:
        assert secret.lower() not in lowered, secret[:12]


CONSOLE_ATTEMPTS = [
    "SELECT * FROM users",
    "SELECT password_hash FROM users",
    "SELECT password_hash AS name FROM users",
    "SELECT u.password_hash::text AS x FROM users u",
    "SELECT to_jsonb(u) AS j FROM users u",
    "SELECT row_to_json(s)::text AS j FROM user_sessions s",
    "SELECT json_agg(u) AS j FROM users u",
    "SELECT split_part(password_hash, '$', 5) AS salt FROM users",
    "SELECT substr(token_hash, 1, 32) AS a, substr(token_hash, 33) AS b FROM user_sessions",
    "SELECT upper(token_hash) AS t FROM user_sessions",
    "SELECT reverse(password_hash) AS r FROM users",
    "SELECT encode(convert_to(password_hash, 'UTF8'), 'base64') AS b FROM users",
    "SELECT * FROM public.users",
    "SELECT * FROM public.user_sessions",
    "SELECT query_to_xml('select * from public.users', true, true, '') AS x",
    "SELECT xmlagg(xmlelement(name u, email)) AS x FROM users",
    "TABLE user_sessions",
    "SELECT * FROM sign_in_failures",
    "SELECT email FROM sign_in_failures",
    "SELECT * FROM pg_catalog.pg_stats WHERE tablename = 'users'",
    "SELECT most_common_vals::text AS v FROM pg_stats WHERE attname IN ('password_hash', 'token_hash')",
]


@pytest.mark.parametrize("sql", CONSOLE_ATTEMPTS, ids=range(len(CONSOLE_ATTEMPTS)))
def test_console_never_returns_a_secret(demo_signed_in, secrets, sql):
    before = fingerprint()
    try:
        result = console.run_sql(actor_id=ADMIN_ID, sql=sql)
    except DomainError as refused:
        assert_nothing_secret(str(refused), secrets)
    else:
        assert_nothing_secret(repr(result.rows) + repr(result.columns), secrets)
    assert fingerprint() == before


@pytest.mark.parametrize("table", sorted(masking.ADMIN_ONLY_TABLES | {"users"}))
def test_explorer_rows_json_and_exports_show_allow_listed_columns_only(demo_signed_in, secrets, table):
    before = fingerprint()
    page = explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name=table, page_size=200) \
        if explorer.sort_fields(actor_id=ADMIN_ID, store="postgresql", name=table) else None
    visible = set(masking.VISIBLE_COLUMNS[table])
    if page is not None:
        for row in page.rows:
            for column, value in row.items():
                assert column in visible or value == masking.MASK, (table, column)
        assert_nothing_secret(repr(page.rows) + json.dumps(explorer.to_jsonable(page.rows)), secrets)
    for fmt in ("csv", "json"):
        try:
            blob = explorer.export_rows(actor_id=ADMIN_ID, store="postgresql", name=table, fmt=fmt)
        except DomainError:
            continue
        assert_nothing_secret(blob.decode(), secrets)
    assert fingerprint() == before


def test_masked_columns_cannot_be_sorted_filtered_or_counted(demo_signed_in):
    before = fingerprint()
    for kwargs in ({"sort": "password_hash"}, {"filters": [("password_hash", "contains", "$argon2")]},
                   {"filters": [("password_hash", "eq", "x")]}):
        with pytest.raises(DomainError):
            explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name="users", **kwargs)
    with pytest.raises(DomainError):
        explorer.value_counts(actor_id=ADMIN_ID, store="postgresql", name="users", field="password_hash")
    with pytest.raises(DomainError):
        explorer.browse_rows(actor_id=ADMIN_ID, store="postgresql", name="user_sessions",
                             filters=[("token_hash", "contains", "a")])
    assert fingerprint() == before


@pytest.mark.parametrize("table", sorted(masking.ADMIN_ONLY_TABLES))
def test_sign_ins_and_failures_are_for_admins_only(demo_signed_in, table):
    before = fingerprint()
    assert table not in {s.name for s in explorer.list_sources(actor_id=MEMBER_ID, store="postgresql")}
    assert table in {s.name for s in explorer.list_sources(actor_id=ADMIN_ID, store="postgresql")}
    for call in (lambda: explorer.describe_fields(actor_id=MEMBER_ID, store="postgresql", name=table),
                 lambda: explorer.browse_rows(actor_id=MEMBER_ID, store="postgresql", name=table),
                 lambda: explorer.export_rows(actor_id=MEMBER_ID, store="postgresql", name=table),
                 lambda: explorer.get_source(actor_id=None, store="postgresql", name=table)):
        with pytest.raises(PermissionDenied):
            call()
    assert fingerprint() == before


def test_every_column_of_every_table_is_decided(demo_signed_in):
    """A new column is hidden until someone lists it; the console's views (migration 0003_security)
    show exactly the allow-list."""
    from importlib import import_module

    views = dict(import_module("migrations.versions.0003_security").VIEWS)
    views.update(import_module("migrations.versions.0004_people").VIEWS)  # the two tables it changed
    assert views == masking.VISIBLE_COLUMNS
    for table in Base.metadata.sorted_tables:
        listed = set(masking.VISIBLE_COLUMNS.get(table.name, ()))
        assert listed <= {c.name for c in table.columns}, table.name
        assert "password_hash" not in listed and "token_hash" not in listed
    with pg.get_engine().connect() as conn:
        for table, columns in masking.VISIBLE_COLUMNS.items():
            view = conn.execute(text(
                "SELECT array_agg(column_name::text ORDER BY ordinal_position) FROM information_schema.columns "
                "WHERE table_schema = 'console' AND table_name = :t"), {"t": table}).scalar_one()
            assert tuple(view) == columns, table


def test_health_report_and_logs_hold_no_secret(demo_signed_in, secrets, caplog):
    from p2p_store.health import build_report

    caplog.set_level(logging.DEBUG)
    report = json.dumps(build_report(), default=str)
    for sql in ("SELECT password_hash FROM public.users", "SELECT 1/0"):
        try:
            console.run_sql(actor_id=ADMIN_ID, sql=sql)
        except DomainError:
            pass
    assert_nothing_secret(report + caplog.text, secrets)
