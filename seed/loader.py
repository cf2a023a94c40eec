"""The one seeding path: reseed and reset of both stores, for the CLI, the admin page and the tests.

Blue/green (#19): the new data is built beside the live data and swapped in only when complete.

1. prepare: the dataset in memory (one argon2 hash per distinct password, seed/dataset.py);
2. load: in the MongoDB database that is not live (blue or green), the generation before the live one is
   cleared, the collections are created with their validators, filled in bulk (``insert_many``
   batches), then indexed (measured on the embedded server, scale 20: loading bare then indexing
   5.6 s for the 10,000 replies, indexes first 8.4 s);
3. swap: a journal in MongoDB, the PostgreSQL rows replaced in one transaction (``COPY``) that also
   writes the new generation id, then the MongoDB pointer flipped to the new database
   (p2p_store/stores/generation.py): milliseconds, whatever the size.

Pages read the previous data until the swap. A failure or a kill at any point before the PostgreSQL
commit leaves the previous data live with its indexes and validators (the half-built database is
cleared by the next reseed); after it, the next reseed or ``python -m p2p_store up`` flips the
pointer from the journal, and the health report shows the two generations meanwhile.

Long steps run on the maintenance client (no socket timeout, each step bounded by
``pymongo.timeout`` sized for the work) and retry what is safe to retry (#19.3).

Two runs at once do not interleave: a PostgreSQL advisory lock is held for the whole run and a
second caller is refused with a message.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymongo
import pymongo.errors
from pymongo.database import Database
from sqlalchemy import Connection, select, text

from p2p_store import access, audit
from p2p_store.errors import DomainError, InvalidInput, Refused
from p2p_store.settings import Settings, get_settings
from p2p_store.stores import figures, generation, mongo, pg
from p2p_store.stores.models import SystemConfig, User
from p2p_store.stores.retry import retrying
from seed.dataset import Dataset, full_dataset

LOCK_KEY = generation.LOCK_KEY  # pg_advisory_lock key shared by reseed, reset and recovery
MONGO_BATCH = 1000  # documents per insert_many
LAST_SEED_KEY = "last_seed"
USER_COLUMNS = ["id", "email", "full_name", "company", "role", "password_hash", "is_active", "created_at"]
DATA_TABLES = ["user_sessions", "sign_in_failures", "users"]  # the event log is kept (#16)
MONGO_PLAN = [  # (collection, Dataset attribute), in writing order
    (mongo.PROFILES, "profiles"),
    (mongo.USE_CASES, "use_cases"),
    (mongo.FORUM_POSTS, "forum_posts"),
    (mongo.FORUM_REPLIES, "forum_replies"),
]
FAULT_ENV = "P2P_SEED_FAULT"  # tests: the process SIGKILLs itself at this phase (see _fault)
PAUSE_ENV = "P2P_SEED_PAUSE"  # tests: a file path; while it exists, a reseed holding the lock waits (see _pause)
PG_MAINTENANCE_TIMEOUT = "10min"  # statement_timeout inside the swap transaction (pages keep 15 s)


class SeedFailed(DomainError):
    """A reseed or reset stopped before its swap; the previous data is live and unchanged."""


@dataclass(frozen=True)
class Progress:
    """One step of long work: ``done`` of ``total`` items of ``collection`` in ``store``."""

    store: str
    collection: str
    done: int
    total: int


ProgressCallback = Callable[[Progress], None]


def _noop(_: Progress) -> None:
    pass


def _fault(phase: str) -> None:
    """Test hook: ``P2P_SEED_FAULT=<phase>`` makes this process kill itself (SIGKILL, no clean-up)
    at that point: preparing, clearing, loading, indexing, swapping, committed."""
    if os.environ.get(FAULT_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def _pause() -> None:
    """Test hook: ``P2P_SEED_PAUSE=<file>`` makes a reseed or reset that holds the lock wait while that
    file exists (at most two minutes), so a test can act in another process meanwhile (#17)."""
    path = os.environ.get(PAUSE_ENV)
    deadline = time.monotonic() + 120
    while path and os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def _guard(settings: Settings, actor_id: Any, what: str) -> None:
    if settings.is_production:
        raise Refused(f"{what} is disabled in production (P2P_ENV=production); nothing was changed.")
    if actor_id is None:  # the operator at the command line
        return
    with pg.new_session() as session:
        access.require_admin(session, actor_id, what=what.lower())


@contextmanager
def _exclusive(what: str) -> Iterator[Connection]:
    """Hold the seeding advisory lock on a dedicated connection, or refuse at once."""
    with generation.try_lock() as conn:
        if conn is None:
            raise Refused(f"Another reseed or reset is running; {what.lower()} was not started. "
                          "Try again when it finishes.")
        yield conn


def current_counts(*, fresh: bool = True) -> dict[str, int]:
    """Rows per table and documents per collection. ``fresh=False`` takes the collection sizes from
    the figure cache (``p2p_store/stores/figures.py``): on the embedded server a count is a scan."""
    with pg.new_session() as session:
        counts = {"users": session.execute(text("SELECT count(*) FROM users")).scalar_one()}
    if not fresh:
        return counts | {name: figures.collection_size(name) for name, _ in MONGO_PLAN}
    db = mongo.get_db()
    for name, _ in MONGO_PLAN:
        counts[name] = db[name].estimated_document_count()
    return counts


def _clear(target: Database, progress: ProgressCallback) -> float:
    """The generation before the live one, cleared from ``target``. Returns the seconds it took."""
    start = time.perf_counter()
    steps = 0
    progress(Progress("mongodb", "clearing", 0, 0))

    def step(_: str) -> None:
        nonlocal steps
        steps += 1
        progress(Progress("mongodb", "clearing", steps, 0))
        _fault("clearing")

    generation.clear_database(target, step)
    progress(Progress("mongodb", "clearing", steps, steps))
    return time.perf_counter() - start


def _create_empty(target: Database, spec: mongo.CollectionSpec) -> None:
    """``spec``'s collection, new and empty, with its validator. A write still in flight from a killed
    run can land after the clearing and re-create the collection with documents: dropped again."""
    for _ in range(3):
        try:
            target.create_collection(spec.name, validator=spec.validator, validationLevel="strict",
                                     validationAction="error")
        except pymongo.errors.CollectionInvalid:
            pass  # re-created by such a write: dropped below
        else:
            if target[spec.name].find_one({}, {"_id": 1}) is None:
                return
        with pymongo.timeout(generation.CLEAR_STEP_TIMEOUT_S):
            target.drop_collection(spec.name)
        time.sleep(1.0)
    raise SeedFailed(f"{target.name}.{spec.name} kept getting documents after it was cleared; nothing was "
                     "swapped: the previous data is live.")


def _stage(target: Database, data: Dataset, progress: ProgressCallback) -> int:
    """``target``'s collections created with their validators, filled, then indexed. Returns the
    documents written."""
    for spec in mongo.COLLECTIONS:
        _create_empty(target, spec)
    written = 0
    for name, attr in MONGO_PLAN:
        docs = getattr(data, attr)
        coll = target[name]
        progress(Progress("mongodb", name, 0, len(docs)))
        for start in range(0, len(docs), MONGO_BATCH):
            batch = docs[start:start + MONGO_BATCH]
            _insert_batch(coll, batch)
            written += len(batch)
            progress(Progress("mongodb", name, start + len(batch), len(docs)))
            _fault("loading")
    _index(target, data, progress)
    return written


def _insert_batch(collection: Any, batch: list[dict[str, Any]]) -> None:
    """One ``insert_many``, retried on a transient error: a retry first removes what the failed
    attempt may have written (same ids), so it cannot fail on duplicates."""
    ids = [d["_id"] for d in batch]
    attempt = 0

    def insert() -> None:
        nonlocal attempt
        attempt += 1
        with pymongo.timeout(generation.work_budget_s(len(batch))):  # each attempt its own bound
            if attempt > 1:
                collection.delete_many({"_id": {"$in": ids}})
            collection.insert_many(batch, ordered=False)

    retrying(attempts=3)(insert)


def _index(target: Database, data: Dataset, progress: ProgressCallback) -> None:
    """Indexes built over the loaded documents (createIndexes is idempotent: retried)."""
    specs = mongo.COLLECTIONS
    progress(Progress("mongodb", "indexes", 0, len(specs)))
    sizes = {name: len(getattr(data, attr)) for name, attr in MONGO_PLAN}
    for n, spec in enumerate(specs, start=1):
        indexes = list(spec.indexes) + _test_indexes(spec.name)
        coll = target[spec.name]
        try:
            with pymongo.timeout(generation.work_budget_s(sizes.get(spec.name, 0) * len(indexes))):
                retrying(attempts=3)(lambda: coll.create_indexes(indexes))  # noqa: B023 - called at once
        except pymongo.errors.OperationFailure as exc:
            raise SeedFailed(f"Building the indexes of {spec.name} failed ({_short(exc)}); nothing was "
                             "swapped: the previous data is live, with its indexes and validators.") from exc
        progress(Progress("mongodb", "indexes", n, len(specs)))
        _fault("indexing")


def _test_indexes(name: str) -> list[pymongo.IndexModel]:
    """Test hook (``P2P_SEED_FAULT=duplicate-index``): a unique index the data violates."""
    if os.environ.get(FAULT_ENV) == "duplicate-index" and name == mongo.FORUM_REPLIES:
        return [pymongo.IndexModel([("author_id", pymongo.ASCENDING)], name="test_author_unique", unique=True)]
    return []


def _short(exc: BaseException) -> str:
    line = " ".join(str(exc).split())
    return line[:160] + ("…" if len(line) > 160 else "")


def _replace_pg_rows(conn: Connection, users: list[dict[str, Any]], progress: ProgressCallback) -> None:
    """In the caller's transaction: the account tables emptied and refilled. ``DELETE`` rather than
    ``TRUNCATE``: pages keep reading the previous rows until the commit instead of waiting on an
    exclusive lock. Sign-ins of people who are still in the new set survive (same ids), so the admin
    who clicked "reseed" stays signed in."""
    conn.execute(text(f"SET LOCAL statement_timeout = '{PG_MAINTENANCE_TIMEOUT}'"))
    conn.execute(text("CREATE TEMP TABLE kept_sessions ON COMMIT DROP AS SELECT * FROM user_sessions"))
    for table in DATA_TABLES:
        conn.execute(text(f"DELETE FROM {table}"))
    progress(Progress("postgresql", "users", 0, len(users)))
    if users:
        raw = conn.connection.driver_connection  # psycopg 3 connection, same transaction
        with raw.cursor() as cur, cur.copy(f"COPY users ({', '.join(USER_COLUMNS)}) FROM STDIN") as copy:
            for row in users:
                copy.write_row([row[c] for c in USER_COLUMNS])
    progress(Progress("postgresql", "users", len(users), len(users)))
    conn.execute(text("INSERT INTO user_sessions SELECT k.* FROM kept_sessions k JOIN users u ON u.id = k.user_id"))


def _record(conn: Connection, key: str, value: dict[str, Any], actor: str) -> None:
    from sqlalchemy.dialects.postgresql import insert

    stmt = insert(SystemConfig).values(key=key, value=value, description="Written by the seeding code",
                                       updated_by=actor)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                            set_={"value": value, "updated_by": actor,
                                                  "updated_at": text("now()")}))


def _record_outcome(conn: Connection, key: str, result: dict[str, Any], actor: str) -> None:
    """The one write that records a reseed or reset in PostgreSQL, inside the swap transaction.
    AUDIT: the events branch (#16) adds the reseed/reset event here."""
    _record(conn, key, result, actor)


def _swap(base: Database, target: Database, data: Dataset, gen: str, *, outcome_key: str,
          result: dict[str, Any], actor: str, progress: ProgressCallback) -> dict[str, float]:
    """Journal, PostgreSQL commit, MongoDB pointer (see the module doc). Returns timings."""
    result["generation"] = gen
    generation.write_journal(base, gen, target.name)
    _fault("swapping")
    pg_start = time.perf_counter()
    with pg.get_engine().begin() as conn:
        _replace_pg_rows(conn, data.users, progress)
        generation.write_pg_generation(conn, gen, actor)
        _record_outcome(conn, outcome_key, result, actor)
    pg_end = time.perf_counter()
    _fault("committed")
    progress(Progress("mongodb", "swap", 0, 1))
    generation.point_to(base, gen, target.name)
    progress(Progress("mongodb", "swap", 1, 1))
    swap_end = time.perf_counter()
    return {"pg_seconds": pg_end - pg_start, "swap_seconds": swap_end - pg_start,
            "pointer_seconds": swap_end - pg_end}


def _replace(data: Dataset, *, what: str, outcome_key: str, result: dict[str, Any], actor: str,
             progress: ProgressCallback) -> dict[str, Any]:
    """Build ``data`` beside the live set and swap it in (reseed and reset both come here)."""
    base = generation.maintenance_db()
    with _exclusive(what):
        _pause()
        generation.recover_locked(base)  # an earlier run's unfinished swap, before building anew
        gen = generation.new_id()
        target = generation.other_database(base)
        clear_seconds = _clear(target, progress)
        mongo_start = time.perf_counter()
        docs = _stage(target, data, progress)
        staged = time.perf_counter()
        timings = _swap(base, target, data, gen, outcome_key=outcome_key, result=result, actor=actor,
                        progress=progress)
    figures.invalidate()  # every cached figure describes the old set (other processes: the new generation id)
    return {"documents": docs, "clear_seconds": clear_seconds, "stage_seconds": staged - mongo_start, **timings}


def plan(*, scale: int = 0, random_seed: int = 42) -> dict[str, Any]:
    """Dry run: what a reseed would write (counts per table/collection) and what is there now."""
    _check_scale(scale, random_seed)
    return {"would_write": full_dataset(scale, random_seed).counts(), "current": current_counts()}


def _check_scale(scale: int, random_seed: int) -> None:
    if not isinstance(scale, int) or not 0 <= scale <= 200:
        raise InvalidInput("Scale must be a whole number from 0 to 200.")
    if not isinstance(random_seed, int) or not 0 <= random_seed < 2**31:
        raise InvalidInput("Random seed must be a whole number from 0 to 2147483647.")


def reseed(*, scale: int = 0, random_seed: int = 42, actor_id: Any = None, actor_email: str = "cli",
           progress: ProgressCallback | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Replace the data of both stores with the demo set (+ synthetic set for ``scale``), blue/green.

    ``actor_id`` is the signed-in person (must be an active admin); None means the command line.
    Returns counts, timings per phase and store, documents per second and the new generation id.
    """
    settings = settings or get_settings()
    progress = progress or _noop
    _check_scale(scale, random_seed)
    _guard(settings, actor_id, "Reseeding")
    started = time.perf_counter()
    data = full_dataset(scale, random_seed)
    prepared = time.perf_counter()
    _fault("preparing")
    result: dict[str, Any] = {
        "scale": scale, "random_seed": random_seed, "counts": data.counts(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "by": actor_email,
        "prepare_s": round(prepared - started, 3),
    }
    t = _replace(data, what="Reseed", outcome_key=LAST_SEED_KEY, result=result, actor=actor_email,
                 progress=progress)
    mongo_seconds = t["stage_seconds"] + t["pointer_seconds"]
    result.update({
        "duration_s": round(time.perf_counter() - started, 3),
        "postgresql": {"rows": len(data.users), "seconds": round(t["pg_seconds"], 3),
                       "rows_per_s": round(len(data.users) / t["pg_seconds"]) if t["pg_seconds"] else None},
        "mongodb": {"documents": t["documents"], "seconds": round(mongo_seconds, 3),
                    "clear_seconds": round(t["clear_seconds"], 3),  # the generation before, removed first
                    "stage_seconds": round(t["stage_seconds"], 3),
                    "pointer_seconds": round(t["pointer_seconds"], 3),
                    "documents_per_s": round(t["documents"] / mongo_seconds) if mongo_seconds else None},
        "swap_s": round(t["swap_seconds"], 3),
    })
    with pg.get_engine().begin() as conn:  # the timings, known only now
        _record(conn, LAST_SEED_KEY, result, actor_email)
        audit.record_seed(conn, action="reseed", actor_email=actor_email, after=result)  # the log is kept (#16)
    return result


def reset(*, actor_id: Any = None, actor_email: str = "cli", progress: ProgressCallback | None = None,
          settings: Settings | None = None) -> dict[str, Any]:
    """Empty both stores' data, blue/green like a reseed (empty collections with their validators and
    indexes swapped in); system config and the audit table stay."""
    settings = settings or get_settings()
    progress = progress or _noop
    _guard(settings, actor_id, "Resetting")
    started = time.perf_counter()
    result: dict[str, Any] = {"reset": True, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "by": actor_email}
    t = _replace(Dataset(), what="Reset", outcome_key="last_reset", result=result, actor=actor_email,
                 progress=progress)
    result.update({"duration_s": round(time.perf_counter() - started, 3), "swap_s": round(t["swap_seconds"], 3)})
    with pg.get_engine().begin() as conn:
        audit.record_seed(conn, action="reset", actor_email=actor_email, after=result)  # the log is kept (#16)
    return result


def last_seed() -> dict[str, Any] | None:
    with pg.new_session() as session:
        row = session.scalar(select(SystemConfig).where(SystemConfig.key == LAST_SEED_KEY))
        return dict(row.value) if row else None


def seed_if_empty(settings: Settings | None = None) -> dict[str, Any] | None:
    """First start in development: fill empty stores with the demo set, so a newcomer sees data.

    Does nothing in production, when any account exists, or after a deliberate reset.
    """
    settings = settings or get_settings()
    if settings.is_production:
        return None
    with pg.new_session() as session:
        if session.scalar(select(User.id).limit(1)) is not None:
            return None
        if session.get(SystemConfig, "last_reset") is not None:
            return None
    try:
        return reseed(settings=settings, actor_email="first start")
    except Refused:  # another process is seeding right now
        return None
