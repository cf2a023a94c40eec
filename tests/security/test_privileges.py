"""Attack class: a login with more rights than its job (#14; docs/architecture.md "Privilege model").

PostgreSQL: the app (and its migrations) log in as the schema owner, which is not a superuser and
has no CREATEROLE, CREATEDB, replication, RLS bypass or file/program roles; the console logs in as a
read-only login whose bounds are set on the role. MongoDB: the app user has readWrite on the app
database only, the console user read only; neither may manage users or touch another database."""

from __future__ import annotations

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from sqlalchemy import create_engine, pool, text

from p2p_store.settings import get_settings
from p2p_store.stores import local, mongo, pg
from tests.security.conftest import fingerprint

POWER_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend",
               "pg_read_all_data", "pg_write_all_data", "pg_monitor", "pg_checkpoint")


def _role_facts(url: str) -> dict:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                "FROM pg_roles WHERE rolname = current_user")).one()
            member_of = set(conn.execute(text(
                "SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
                "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = current_user")).scalars())
            settings = {k: conn.execute(text(f"SHOW {k}")).scalar_one()
                        for k in ("default_transaction_read_only", "statement_timeout", "work_mem")}
    finally:
        engine.dispose()
    return {"name": row[0], "powers": any(row[1:]), "member_of": member_of, **settings}


def _embedded_only(settings) -> None:
    assert not settings.database_url, "this module runs on the embedded default (tests/test_stores.py covers "\
                                      "an external DATABASE_URL)"


def test_app_login_is_the_owner_and_no_superuser(demo_signed_in, settings):
    _embedded_only(settings)
    facts = _role_facts(local.postgres_url(settings))
    assert facts["name"] == local.PG_OWNER
    assert not facts["powers"] and not facts["member_of"] & set(POWER_ROLES)
    with pg.get_engine().connect() as conn:
        owner = conn.execute(text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                                  )).scalar_one()
        table_owners = set(conn.execute(text(
            "SELECT tableowner FROM pg_tables WHERE schemaname IN ('public', 'console')")).scalars())
    assert owner == local.PG_OWNER and table_owners == {local.PG_OWNER}


def test_console_login_is_read_only_and_bounded_on_the_role(demo_signed_in, settings):
    _embedded_only(settings)
    facts = _role_facts(local.postgres_readonly_url(settings))
    assert facts["name"] == local.PG_READONLY
    assert not facts["powers"] and not facts["member_of"]
    assert facts["default_transaction_read_only"] == "on"
    assert facts["statement_timeout"] == "3s" and facts["work_mem"] == "4MB"


@pytest.mark.parametrize("sql", [
    "CREATE ROLE intruder", "CREATE DATABASE intruder", "ALTER ROLE p2p_owner SUPERUSER",
    "ALTER ROLE p2p_readonly SET statement_timeout = 0", "SELECT pg_read_file('/etc/passwd')",
    "COPY (SELECT 1) TO PROGRAM 'true'", "SELECT * FROM pg_authid",
])
def test_the_owner_cannot_reach_beyond_its_database(demo_signed_in, settings, sql):
    _embedded_only(settings)
    before = fingerprint()
    engine = create_engine(local.postgres_url(settings), poolclass=pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
                pytest.raises(Exception, match="permission denied|must be|not allowed"):
            conn.execute(text(sql))
    finally:
        engine.dispose()
    assert fingerprint() == before


def test_an_old_data_dir_is_handed_over_to_the_owner(demo_signed_in, settings):
    """A data dir from before #14 had the superuser own everything: provisioning hands it over."""
    _embedded_only(settings)
    superuser = create_engine(local.postgres_superuser_url(settings), poolclass=pool.NullPool)
    try:
        with superuser.begin() as conn:
            conn.execute(text("CREATE TABLE public.legacy_probe (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY)"))
        for marker in (local.data_dir(settings) / "pg").glob(".p2p-provisioned-*"):
            marker.unlink()  # as in a data dir from before #14
        local.ensure_local_postgres(local.data_dir(settings))
        assert list((local.data_dir(settings) / "pg").glob(".p2p-provisioned-*"))
        with superuser.begin() as conn:
            owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'legacy_probe'")).scalar_one()
            conn.execute(text("DROP TABLE public.legacy_probe"))
    finally:
        superuser.dispose()
    assert owner == local.PG_OWNER


MONGO_APP_REFUSED = [
    lambda c, db: c.admin.command("usersInfo"),
    lambda c, db: c.admin.command("createUser", "intruder", pwd="x", roles=["root"]),
    lambda c, db: c["other_db"]["x"].insert_one({"a": 1}),
    lambda c, db: c["admin"]["system.users"].find_one(),
    lambda c, db: c.list_database_names(),
    lambda c, db: c.admin.command("currentOp"),
    lambda c, db: c.admin.command("killOp", op=1),
]


@pytest.mark.parametrize("attempt", MONGO_APP_REFUSED, ids=range(len(MONGO_APP_REFUSED)))
def test_mongo_app_user_has_its_database_only(demo_signed_in, settings, attempt):
    before = fingerprint()
    client = mongo.get_client()
    with pytest.raises(OperationFailure) as refused:
        attempt(client, settings.mongodb_db)
    assert refused.value.code == 13  # Unauthorized
    assert fingerprint() == before


@pytest.mark.parametrize("attempt", [
    lambda db: db[mongo.PROFILES].insert_one({"_id": "intruder"}),
    lambda db: db[mongo.PROFILES].update_many({}, {"$set": {"role": "admin"}}),
    lambda db: db[mongo.PROFILES].delete_many({}),
    lambda db: db.drop_collection(mongo.PROFILES),
    lambda db: db[mongo.PROFILES].create_index("bio"),
    lambda db: list(db[mongo.PROFILES].aggregate([{"$out": "stolen"}])),
    lambda db: list(db[mongo.PROFILES].aggregate([{"$merge": {"into": "stolen"}}])),
    lambda db: db.client.admin.command("createUser", "intruder", pwd="x", roles=["root"]),
], ids=range(8))
def test_mongo_console_user_only_reads(demo_signed_in, settings, attempt):
    before = fingerprint()
    client = MongoClient(local.mongodb_readonly_url(settings), serverSelectionTimeoutMS=3000)
    try:
        assert client[mongo.get_db().name][mongo.PROFILES].count_documents({}) >= 1  # it reads the live set...
        for name in settings.mongodb_dbs:  # ...and the server refuses anything else, in blue and in green (#19)
            with pytest.raises(OperationFailure) as refused:
                attempt(client[name])
            assert refused.value.code == 13, name
    finally:
        client.close()
    assert fingerprint() == before


def test_credentials_file_holds_three_users_privately(demo_signed_in, settings):
    import json
    import stat

    path = local.data_dir(settings) / "mongo" / "credentials.json"
    creds = json.loads(path.read_text())
    assert {creds["user"], creds["admin_user"], creds["readonly_user"]} == {
        local.MONGO_APP_USER, local.MONGO_ADMIN_USER, local.MONGO_READONLY_USER}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert get_settings().mongodb_db == creds["db"]
