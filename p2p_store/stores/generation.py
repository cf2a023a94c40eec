"""Data generations of the two stores, and the blue/green swap's bookkeeping (#19).

A reseed or reset builds the new data beside the live data: in MongoDB, in the database that is not
live (blue ``MONGODB_DB`` or green ``<MONGODB_DB>_green``), its collections created with their
validators, filled, then indexed; in PostgreSQL, rows inside one transaction. The swap writes one
**generation id** into both stores:

- PostgreSQL: the ``system_configs`` row ``data_generation``, in the transaction that replaces the rows;
- MongoDB: the **pointer** ``{_id: "generation", generation, database}`` in the blue database's
  ``_generation`` collection, which names the live database (``p2p_store/stores/mongo.py`` reads it).

The order is: a **swap journal** in MongoDB (``{_id: "swap"}``: the generation and the database
built for it), then the PostgreSQL commit, then the pointer. Flipping the pointer is one small
write, so the swap takes milliseconds at any size (renaming collections into place took 20 s at
scale 100 on the embedded server, which copies every document under its global lock). So:

- killed before the PostgreSQL commit: both stores serve the previous set, untouched; the journal is
  a leftover, removed by :func:`recover` (next reseed, ``up``), the half-built database is cleared by
  the next reseed;
- killed after it: PostgreSQL holds the new set and says so; the journal names the same generation,
  so :func:`recover` points MongoDB at the complete database built for it (roll forward). Until
  then :func:`state` reports the stores on different generations (the health report shows it).

The database not live keeps the previous generation until the next reseed clears it (an index at a
time, then the collection, so a reader of the live one meets short stalls, not one long one): a
process that read the pointer just before a swap finishes its page run on complete, if old, data.

Long maintenance work runs on :func:`maintenance_db`, a client without a socket timeout; each step
is bounded by ``pymongo.timeout`` sized for the work (a client-side deadline and the server's
``maxTimeMS``), so a long index build never trips the 15 s socket timeout pages use (#19.3).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import MongoClient
from pymongo.database import Database
from sqlalchemy import Connection, text

from p2p_store.settings import Settings, get_settings
from p2p_store.stores import local, mongo, pg

log = logging.getLogger(__name__)

LOCK_KEY = 424242  # pg_advisory_lock key held by every reseed, reset and recovery
META = mongo.POINTER  # in the blue database: {_id: "generation"} (the pointer) and, during a swap, {_id: "swap"}
PG_KEY = "data_generation"  # system_configs key
CLEAR_STEP_TIMEOUT_S = 600.0  # one index or collection drop (the embedded server deletes row by row)


def new_id() -> str:
    """A generation id: UTC time (sortable, readable) and a random tail."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def other_database(base: Database, settings: Settings | None = None) -> Database:
    """The database that is not live: where the next reseed builds."""
    settings = settings or get_settings()
    live = mongo.live_name(base, settings)
    return base.client[next(n for n in settings.mongodb_dbs if n != live)]


def clear_database(db: Database, progress: Callable[[str], None] | None = None) -> list[str]:
    """Every collection of ``db`` dropped, its secondary indexes first, one at a time: the embedded
    server deletes under its global lock, so this splits the stall a reader may meet into pieces
    (measured at scale 100: the use cases' drop alone 5.5 s, most of it the 2dsphere index; deleting
    in batches by ``_id`` was 20 times slower, a range on ``_id`` is a collection scan there). Safe to
    repeat after a kill. Returns the collections dropped."""
    dropped = []
    for name in db.list_collection_names():
        if name == META or name.startswith("system."):  # the pointer lives in blue; never cleared
            continue
        for index in db[name].list_indexes():
            if index["name"] != "_id_":
                with pymongo.timeout(CLEAR_STEP_TIMEOUT_S):
                    db[name].drop_index(index["name"])
                if progress:
                    progress(f"{name}.{index['name']}")
        with pymongo.timeout(CLEAR_STEP_TIMEOUT_S):
            db.drop_collection(name)
        dropped.append(name)
        if progress:
            progress(name)
    return dropped


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


def mongo_generation(base: Database | None = None) -> str | None:
    base = base if base is not None else mongo.base_db()
    doc = base[META].find_one({"_id": "generation"})
    return doc.get("generation") if doc else None


def state(base: Database | None = None) -> dict[str, Any]:
    """``{"postgresql": id, "mongodb": id, "database": live name, "match": bool, "swap_pending": bool}``
    (cheap reads: the PostgreSQL row, the pointer, the journal)."""
    base = base if base is not None else mongo.base_db()
    in_pg = pg_generation()
    pointer = base[META].find_one({"_id": "generation"}) or {}
    return {"postgresql": in_pg, "mongodb": pointer.get("generation"),
            "database": pointer.get("database") or base.name, "match": in_pg == pointer.get("generation"),
            "swap_pending": base[META].find_one({"_id": "swap"}, {"_id": 1}) is not None}


# ------------------------------------------------------------------ lock, journal, pointer, recovery


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


def write_journal(base: Database, generation: str, database: str) -> None:
    """The swap about to happen: ``database`` (complete, indexed) becomes live as ``generation``."""
    base[META].replace_one({"_id": "swap"}, {"_id": "swap", "generation": generation, "database": database,
                                             "at": datetime.now(UTC)}, upsert=True)


def point_to(base: Database, generation: str, database: str) -> None:
    """The swap in MongoDB: the pointer names ``database`` as live, then the journal goes."""
    base[META].replace_one({"_id": "generation"}, {"_id": "generation", "generation": generation,
                                                   "database": database, "at": datetime.now(UTC)}, upsert=True)
    base[META].delete_one({"_id": "swap", "generation": generation})
    mongo.remember_live(base.name, database)


def recover_locked(base: Database) -> list[str]:
    """With the seeding lock held: finish a swap PostgreSQL committed, or discard one it never did."""
    actions: list[str] = []
    journal = base[META].find_one({"_id": "swap"})
    if journal is None:
        return actions
    if journal["generation"] == pg_generation() and journal.get("database") in get_settings().mongodb_dbs:
        point_to(base, journal["generation"], journal["database"])
        actions.append(f"finished the interrupted swap to generation {journal['generation']} "
                       f"(MongoDB database {journal['database']})")
    else:
        base[META].delete_one({"_id": "swap"})
        actions.append(f"discarded the swap to generation {journal['generation']} "
                       "(PostgreSQL never committed it; the previous data stayed live)")
    return actions


def recover(base: Database | None = None) -> list[str]:
    """What an interrupted reseed or reset left, put right (see the module doc). Cheap when there is
    nothing to do (one find). Skipped while a reseed or reset runs."""
    probe = base if base is not None else mongo.base_db()  # the check on the app's client: no new connection
    if probe[META].find_one({"_id": "swap"}, {"_id": 1}) is None:
        return []
    base = base if base is not None else maintenance_db()
    with try_lock() as held:
        if held is None:
            return ["a reseed or reset is running; nothing to recover now"]
        actions = recover_locked(base)
    for line in actions:
        log.warning("data generations: %s", line)
    return actions
