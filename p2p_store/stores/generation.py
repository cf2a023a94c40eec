"""Data generations of the two stores, and the blue/green swap's bookkeeping (#19).

A reseed or reset builds the new data beside the live data: MongoDB collections under staging names
(``_staging_<name>``, with their validators and indexes), and PostgreSQL rows inside one transaction.
At the swap it writes one **generation id** into both stores:

- PostgreSQL: the ``system_configs`` row ``data_generation``, in the transaction that replaces the rows;
- MongoDB: the document ``{_id: "generation"}`` of the ``_generation`` collection, after the renames.

The order is: a **swap journal** in MongoDB (``{_id: "swap"}``: the generation and the staging →
live renames), then the PostgreSQL commit, then the renames, then the MongoDB generation. So:

- killed before the PostgreSQL commit: both stores hold the previous set, untouched; the staging
  collections and the journal are leftovers, removed by :func:`recover` (next reseed, ``up``);
- killed after it: PostgreSQL holds the new set and says so; the journal names the same generation,
  so :func:`recover` finishes the renames from the complete staging collections (roll forward).
  Until then :func:`state` reports the stores on different generations (the health report shows it).

Long maintenance work runs on :func:`maintenance_db`, a client without a socket timeout; each step
is bounded by ``pymongo.timeout`` sized for the work (a client-side deadline and the server's
``maxTimeMS``), so a long index build never trips the 15 s socket timeout pages use (#19.3).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import MongoClient
from pymongo.database import Database
from sqlalchemy import Connection, text

from p2p_store.settings import Settings, get_settings
from p2p_store.stores import local, mongo, pg
from p2p_store.stores.retry import retrying

log = logging.getLogger(__name__)

LOCK_KEY = 424242  # pg_advisory_lock key held by every reseed, reset and recovery
STAGING_PREFIX = "_staging_"
META = "_generation"  # MongoDB collection: {_id: "generation"} and, during a swap, {_id: "swap"}
PG_KEY = "data_generation"  # system_configs key
SWAP_TIMEOUT_S = 600.0  # seconds one rename may take (the embedded server copies the documents)


def staging_name(name: str, tag: str) -> str:
    """A staging name of its own for each run (``tag`` = the run's generation id): the embedded server
    drops a collection lazily, and a collection re-created under a dropped name got the dropped
    documents back on its rename (seen: a killed run's 1,000 staged replies came back, #19)."""
    return f"{STAGING_PREFIX}{tag}_{name}"


def find_staging(db: Database, name: str) -> list[str]:
    """Staging collections of ``name`` that exist now (tests, diagnostics)."""
    return [n for n in db.list_collection_names() if n.startswith(STAGING_PREFIX) and n.endswith("_" + name)]


def new_id() -> str:
    """A generation id: UTC time (sortable, readable) and a random tail."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


# ------------------------------------------------------------------ the maintenance client

_lock = threading.Lock()
_client: MongoClient | None = None


def maintenance_db(settings: Settings | None = None) -> Database:
    """The database on a small client of its own for long work: no socket timeout (each step runs
    under ``pymongo.timeout``), page reads keep the app client's short timeouts."""
    global _client
    settings = settings or get_settings()
    with _lock:
        if _client is None:
            _client = MongoClient(
                local.mongodb_url(settings), maxPoolSize=4, minPoolSize=0,
                serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
                connectTimeoutMS=min(settings.mongo_server_selection_timeout_ms, 5000),
                socketTimeoutMS=None, appname="p2p-maintenance", tz_aware=True,
            )
        return _client[settings.mongodb_db]


def close_maintenance_client() -> None:
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def work_budget_s(documents: int, *, per_1000_s: float = 5.0, floor_s: float = 60.0) -> float:
    """Seconds a step over ``documents`` may take: generous (5 s per 1,000 documents, measured about
    0.3–0.7 s on the embedded server of a busy 2-core machine), never below ``floor_s``."""
    return max(floor_s, documents / 1000 * per_1000_s)


# ------------------------------------------------------------------ the generation in each store


def pg_generation(conn: Connection | None = None) -> str | None:
    sql = text("SELECT value->>'generation' FROM system_configs WHERE key = :k")
    if conn is not None:
        return conn.execute(sql, {"k": PG_KEY}).scalar()
    with pg.get_engine().connect() as own:
        return own.execute(sql, {"k": PG_KEY}).scalar()


def write_pg_generation(conn: Connection, generation: str, actor: str) -> None:
    conn.execute(text(
        "INSERT INTO system_configs (key, value, description, updated_by) "
        "VALUES (:k, CAST(:v AS jsonb), 'Data generation (written by the seeding code at each swap)', :by) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, "
        "updated_at = now()"),
        {"k": PG_KEY, "v": f'{{"generation": "{generation}"}}', "by": actor})


def mongo_generation(db: Database | None = None) -> str | None:
    db = db if db is not None else mongo.get_db()
    doc = db[META].find_one({"_id": "generation"})
    return doc.get("generation") if doc else None


def state(db: Database | None = None) -> dict[str, Any]:
    """``{"postgresql": id, "mongodb": id, "match": bool, "swap_pending": bool}`` (two cheap reads)."""
    db = db if db is not None else mongo.get_db()
    in_pg, in_mongo = pg_generation(), mongo_generation(db)
    return {"postgresql": in_pg, "mongodb": in_mongo, "match": in_pg == in_mongo,
            "swap_pending": db[META].find_one({"_id": "swap"}, {"_id": 1}) is not None}


# ------------------------------------------------------------------ lock, journal, renames, recovery


@contextmanager
def try_lock() -> Iterator[Connection | None]:
    """The seeding advisory lock on a dedicated connection, or None at once when someone holds it."""
    with pg.get_engine().connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar_one()
        conn.commit()
        try:
            yield conn if got else None
        finally:
            if got:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                conn.commit()


def write_journal(db: Database, generation: str, names: list[str]) -> None:
    """The swap about to happen: ``_staging_<generation>_<name>`` → ``<name>`` for each of ``names``."""
    db[META].replace_one({"_id": "swap"}, {"_id": "swap", "generation": generation, "collections": names,
                                           "at": datetime.now(UTC)}, upsert=True)


def rename_into_place(db: Database, name: str, tag: str, documents: int = 0) -> None:
    """``_staging_<tag>_<name>`` → ``<name>`` (dropTarget), then the validator again: the embedded server
    keeps the indexes on a rename but not the collection options (measured: options ``{}``).
    Safe to retry: a second attempt after a rename that did happen finds no staging collection."""
    spec = next(s for s in mongo.COLLECTIONS if s.name == name)
    admin = db.client.admin

    source = staging_name(name, tag)

    def rename() -> None:
        if db.list_collection_names(filter={"name": source}):
            admin.command("renameCollection", f"{db.name}.{source}", to=f"{db.name}.{name}", dropTarget=True)

    with pymongo.timeout(max(SWAP_TIMEOUT_S, work_budget_s(documents))):
        retrying(attempts=3)(rename)
    with pymongo.timeout(60):
        retrying(attempts=3)(lambda: db.command("collMod", name, validator=spec.validator,
                                                validationLevel="strict", validationAction="error"))


def finish_swap(db: Database, generation: str) -> None:
    db[META].replace_one({"_id": "generation"}, {"_id": "generation", "generation": generation,
                                                 "at": datetime.now(UTC)}, upsert=True)
    db[META].delete_one({"_id": "swap", "generation": generation})


def drop_staging(db: Database) -> list[str]:
    dropped = []
    for name in db.list_collection_names(filter={"name": {"$regex": f"^{STAGING_PREFIX}"}}):
        with pymongo.timeout(SWAP_TIMEOUT_S):
            db.drop_collection(name)
        dropped.append(name)
    return dropped


def recover_locked(db: Database) -> list[str]:
    """With the seeding lock held: finish a swap PostgreSQL committed, or drop what a killed run left."""
    actions: list[str] = []
    journal = db[META].find_one({"_id": "swap"})
    if journal is not None:
        if journal["generation"] == pg_generation():
            for name in journal["collections"]:
                rename_into_place(db, name, journal["generation"])  # renamed ones: only the validator again
            finish_swap(db, journal["generation"])
            actions.append(f"finished the interrupted swap to generation {journal['generation']}")
        else:
            db[META].delete_one({"_id": "swap"})
            actions.append(f"discarded the swap to generation {journal['generation']} "
                           "(PostgreSQL never committed it; the previous data stayed live)")
    dropped = drop_staging(db)
    if dropped:
        actions.append("removed staging leftovers: " + ", ".join(sorted(dropped)))
    return actions


def recover(db: Database | None = None) -> list[str]:
    """What an interrupted reseed or reset left, put right (see the module doc). Cheap when there is
    nothing to do (one listCollections, one find). Skipped while a reseed or reset runs."""
    probe = db if db is not None else mongo.get_db()  # the check on the app's client: no new connection
    names = probe.list_collection_names()
    staging = any(n.startswith(STAGING_PREFIX) for n in names)
    if not staging and (META not in names or probe[META].find_one({"_id": "swap"}, {"_id": 1}) is None):
        return []
    db = db if db is not None else maintenance_db()
    with try_lock() as held:
        if held is None:
            return ["a reseed or reset is running; nothing to recover now"]
        actions = recover_locked(db)
    for line in actions:
        log.warning("data generations: %s", line)
    return actions

