"""The threat model's shared ground (#14): the demo data with one sign-in, an admin and a member, a
fingerprint of everything both stores hold (each hostile case asserts it is unchanged), and a
ping that must answer within 2 s."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from sqlalchemy import text

from p2p_store.stores import mongo, pg
from p2p_store.vocabulary import user_id_for

ADMIN = "ahmed.faisal@advanced-electronics.sa"
MEMBER = "sara.hassan@advanced-electronics.sa"
ADMIN_ID = str(user_id_for(ADMIN))
MEMBER_ID = str(user_id_for(MEMBER))
PING_WITHIN_S = 2.0


@pytest.fixture(scope="package")
def demo_signed_in(stores):
    """The demo set once for the suite, plus one sign-in (a user_sessions row with a token hash)."""
    from p2p_store.accounts import auth
    from p2p_store.data import explorer
    from seed.dataset import demo_accounts
    from seed.loader import reseed

    reseed(scale=0)
    explorer.forget_samples()
    admin = next(a for a in demo_accounts() if a["email"] == ADMIN)
    return auth.sign_in(email=ADMIN, password=admin["password"])


def fingerprint() -> dict:
    """A digest of every row of every app table and every document of every collection, the schemas
    and roles of PostgreSQL, and the collections of MongoDB: any write anywhere changes it."""
    state: dict = {}
    with pg.get_engine().connect() as conn:
        tables = conn.execute(text(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")).scalars().all()
        state["pg_tables"] = tables
        for table in tables:
            schema, name = table.split(".", 1)
            # Opening a page touches the viewer's session (last seen, sliding expiry): not a write of theirs.
            row = "(t.id, t.user_id, t.token_hash, t.created_at)" if table == "public.user_sessions" else "t"
            state[table] = conn.execute(text(
                f'SELECT md5(coalesce(string_agg({row}::text, \'|\' ORDER BY {row}::text), \'\')) '
                f'FROM "{schema}"."{name}" t')).scalar_one()
        state["pg_roles"] = conn.execute(text(
            "SELECT string_agg(rolname || rolsuper::text || rolcanlogin::text, ',' ORDER BY rolname) FROM pg_roles"
        )).scalar_one()
        state["pg_views"] = conn.execute(text(
            "SELECT string_agg(schemaname || '.' || viewname, ',' ORDER BY schemaname, viewname) FROM pg_views "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")).scalar_one()
        state["advisory_locks"] = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one()
    db = mongo.get_db()
    state["collections"] = sorted(db.list_collection_names())
    for name in state["collections"]:
        docs = sorted(json.dumps(d, sort_keys=True, default=str) for d in db[name].find({}))
        state[f"mongo.{name}"] = hashlib.sha256("\n".join(docs).encode()).hexdigest()
    return state


def ping_ms() -> float:
    """A MongoDB ping on a fresh client (not the app's pool), in ms; fails past PING_WITHIN_S."""
    from pymongo import MongoClient

    from p2p_store.settings import get_settings
    from p2p_store.stores import local

    url = local.mongodb_url(get_settings())
    client = MongoClient(url, serverSelectionTimeoutMS=int(PING_WITHIN_S * 1000),
                         socketTimeoutMS=int(PING_WITHIN_S * 1000), connectTimeoutMS=int(PING_WITHIN_S * 1000))
    try:
        started = time.perf_counter()
        client.admin.command("ping")
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    assert elapsed < PING_WITHIN_S
    return elapsed * 1000
