"""The MongoDB handle (``STORE``: one ``MongoClient`` per process, docs/architecture.md "Stores"),
and the one place that knows collections,
their ``$jsonSchema`` validators and their indexes (created idempotently at start-up).

The data lives in one of two databases, blue (``MONGODB_DB``) and green (``<MONGODB_DB>_green``): a
reseed builds the new set in the one not live and then flips a pointer, so the swap is one small
write whatever the size of the data (#19). ``get_db()`` is the live one: the pointer is read on each
call, or once per page run inside :func:`one_generation` (the app wraps every page run in it, so a
run reads one generation and pays one round trip for the lookup).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, GEOSPHERE, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.monitoring import ConnectionPoolListener

from p2p_store.settings import Settings
from p2p_store.stores import local
from p2p_store.stores.handle import StoreHandle
from p2p_store.vocabulary import ROLES

PROFILES = "profiles"
FORUM_POSTS = "forum_posts"
FORUM_REPLIES = "forum_replies"
USE_CASES = "use_cases"

_STR = {"bsonType": "string"}
_STR_LIST = {"bsonType": "array", "items": {"bsonType": "string"}}
_INT = {"bsonType": ["int", "long"], "minimum": 0}
_DATE = {"bsonType": "date"}
_POINT = {
    "bsonType": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"enum": ["Point"]},
        "coordinates": {"bsonType": "array", "minItems": 2, "maxItems": 2,
                        "items": {"bsonType": ["double", "int", "long"]}},
    },
}


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    validator: dict[str, Any]
    indexes: list[IndexModel] = field(default_factory=list)


def _schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"$jsonSchema": {"bsonType": "object", "required": required, "properties": properties}}


COLLECTIONS: list[CollectionSpec] = [
    CollectionSpec(
        PROFILES,
        _schema(
            ["_id", "email", "full_name", "role"],
            {"_id": _STR, "email": _STR, "full_name": {"bsonType": "string", "minLength": 1},
             "company": _STR, "role": {"enum": list(ROLES)}, "industry": _STR, "city": _STR, "region": _STR,
             "expertise": _STR_LIST, "bio": _STR, "job_title": _STR, "joined_at": _DATE},
        ),
        [IndexModel([("email", ASCENDING)], name="email_unique", unique=True),
         IndexModel([("role", ASCENDING)], name="role"),
         IndexModel([("industry", ASCENDING), ("full_name", ASCENDING)], name="industry_name"),
         IndexModel([("city", ASCENDING)], name="city")],
    ),
    CollectionSpec(
        FORUM_POSTS,
        _schema(
            ["_id", "title", "body", "category", "author_id", "status", "created_at", "last_activity_at"],
            {"_id": _STR, "title": {"bsonType": "string", "minLength": 1, "maxLength": 300},
             "body": _STR, "category": _STR, "tags": _STR_LIST, "author_id": _STR,
             "status": {"enum": ["open", "closed"]}, "views": _INT, "upvotes": _INT,
             "reply_count": _INT, "is_pinned": {"bsonType": "bool"}, "has_best_answer": {"bsonType": "bool"},
             "created_at": _DATE, "last_activity_at": _DATE},
        ),
        [IndexModel([("is_pinned", DESCENDING), ("last_activity_at", DESCENDING), ("_id", DESCENDING)],
                    name="pinned_activity"),
         IndexModel([("is_pinned", DESCENDING), ("views", DESCENDING), ("_id", DESCENDING)], name="pinned_views"),
         IndexModel([("is_pinned", DESCENDING), ("upvotes", DESCENDING), ("_id", DESCENDING)],
                    name="pinned_upvotes"),
         IndexModel([("category", ASCENDING), ("last_activity_at", DESCENDING)], name="category_activity"),
         IndexModel([("tags", ASCENDING)], name="tags"),
         IndexModel([("author_id", ASCENDING)], name="author"),
         IndexModel([("created_at", ASCENDING)], name="created")],
    ),
    CollectionSpec(
        FORUM_REPLIES,
        _schema(
            ["_id", "post_id", "path", "depth", "author_id", "body", "created_at"],
            {"_id": _STR, "post_id": _STR, "parent_id": {"bsonType": ["string", "null"]}, "path": _STR,
             "depth": _INT, "author_id": _STR, "body": {"bsonType": "string", "minLength": 1},
             "upvotes": _INT, "is_best_answer": {"bsonType": "bool"}, "created_at": _DATE},
        ),
        [IndexModel([("post_id", ASCENDING), ("path", ASCENDING)], name="post_path"),
         IndexModel([("author_id", ASCENDING)], name="author"),
         IndexModel([("created_at", ASCENDING)], name="created")],
    ),
    CollectionSpec(
        USE_CASES,
        _schema(
            ["_id", "slug", "kind", "title", "company", "industry", "city", "region"],
            {"_id": _STR, "slug": _STR, "kind": {"enum": ["basic", "detailed"]},
             "title": {"bsonType": "string", "minLength": 1}, "company": _STR, "industry": _STR,
             "technologies": _STR_LIST, "description": _STR, "city": _STR, "region": _STR,
             "location": _POINT, "submitted_by": _STR, "created_at": _DATE,
             "detailed_version_id": {"bsonType": ["string", "null"]},
             "basic_version_id": {"bsonType": ["string", "null"]}},
        ),
        [IndexModel([("location", GEOSPHERE)], name="location_2dsphere"),
         IndexModel([("slug", ASCENDING)], name="slug_unique", unique=True),
         IndexModel([("industry", ASCENDING), ("title", ASCENDING)], name="industry_title"),
         IndexModel([("city", ASCENDING)], name="city"),
         IndexModel([("region", ASCENDING)], name="region"),
         IndexModel([("kind", ASCENDING)], name="kind"),
         IndexModel([("technologies", ASCENDING)], name="technologies"),
         IndexModel([("created_at", ASCENDING)], name="created")],
    ),
]
COLLECTION_NAMES = [spec.name for spec in COLLECTIONS]


class PoolCounter(ConnectionPoolListener):
    """Counts checked-out connections (pymongo has no public gauge for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_use = 0

    def _add(self, n: int) -> None:
        with self._lock:
            self.in_use = max(self.in_use + n, 0)

    def connection_checked_out(self, event: Any) -> None:
        self._add(1)

    def connection_checked_in(self, event: Any) -> None:
        self._add(-1)

    def pool_cleared(self, event: Any) -> None:
        pass

    def pool_created(self, event: Any) -> None: ...
    def pool_ready(self, event: Any) -> None: ...
    def pool_closed(self, event: Any) -> None: ...
    def connection_created(self, event: Any) -> None: ...
    def connection_ready(self, event: Any) -> None: ...
    def connection_closed(self, event: Any) -> None: ...
    def connection_check_out_started(self, event: Any) -> None: ...
    def connection_check_out_failed(self, event: Any) -> None: ...


def make_client(url: str, settings: Settings, *, listener: PoolCounter | None = None) -> MongoClient:
    """A client with the seed story's pool (max 20, min 5) and bounded waits, so nothing hangs 30 s."""
    return MongoClient(
        url,
        maxPoolSize=settings.mongo_max_pool_size,
        minPoolSize=settings.mongo_min_pool_size,
        serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
        connectTimeoutMS=min(settings.mongo_server_selection_timeout_ms, 5000),
        socketTimeoutMS=settings.mongo_timeout_ms,
        appname="p2p-explorer",
        tz_aware=True,
        event_listeners=[listener] if listener else [],
    )


class MongoStore(StoreHandle[MongoClient]):
    """The MongoDB handle: one client, its pool listener, the app database."""

    name, label = "mongodb", "MongoDB"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.pool_counter = PoolCounter()

    def url(self, settings: Settings | None = None) -> str:
        return local.mongodb_url(settings or self.settings)

    def external_url(self) -> str | None:
        return self.settings.mongodb_url

    def embedded_running(self) -> bool:
        return local.local_mongo_running(local.data_dir(self.settings))

    def _open(self, settings: Settings) -> MongoClient:
        return make_client(self.url(settings), settings, listener=self.pool_counter)

    def _close(self, pool: MongoClient) -> None:
        pool.close()

    def reset(self) -> None:
        super().reset()
        self.pool_counter.in_use = 0

    def db(self, settings: Settings | None = None) -> Database:
        """The live database (blue or green)."""
        settings = settings or self.settings
        client = self.pool(settings)
        pinned = _pinned.get()
        if pinned in settings.mongodb_dbs:
            return client[pinned]
        return client[live_name(client[settings.mongodb_db], settings)]

    def base_db(self, settings: Settings | None = None) -> Database:
        """The configured database (blue): home of the live pointer, whichever of the two is live."""
        settings = settings or self.settings
        return self.pool(settings)[settings.mongodb_db]

    def ping(self) -> str:
        return ping(self.db())

    def pool_figures(self) -> dict[str, Any]:
        return {"max_size": self.settings.mongo_max_pool_size, "min_size": self.settings.mongo_min_pool_size,
                "in_use": self.pool_counter.in_use}


STORE = MongoStore()


def get_client(settings: Settings | None = None) -> MongoClient:
    """The process-wide client (starts the embedded server if ``MONGODB_URL`` is unset)."""
    return STORE.pool(settings)


def current_client() -> MongoClient | None:
    """The client if one was created in this process (never creates one, never starts a store)."""
    return STORE.current()


def get_db(settings: Settings | None = None) -> Database:
    """The live database (see the module doc)."""
    return STORE.db(settings)


def base_db(settings: Settings | None = None) -> Database:
    return STORE.base_db(settings)


# ------------------------------------------------------------------ which database is live (#19)

POINTER = "_generation"  # collection in the blue database: {_id: "generation", generation, database}
POINTER_WAIT_S = 1.0  # seconds a pointer read may take when the last live database is known
_pinned: ContextVar[str | None] = ContextVar("p2p_live_mongodb_database", default=None)
_pinned_source: ContextVar[str | None] = ContextVar("p2p_live_mongodb_source", default=None)
_last_known: dict[str, str] = {}  # blue database name → the live one last read (used when a read fails)
_last_source: dict[str, str] = {}  # blue database name → the live data's identity last read (see live_source)


def _read_pointer(base: Database, settings: Settings) -> tuple[str, str | None]:
    """The live database's name and the live data's identity, ``<database>@<generation id>``, from
    the pointer in ``base`` (one find by ``_id``). No pointer (a fresh store, or data from before
    #19): blue. A failed read: the last one read or written in this process, else blue (identity
    unknown); the operation that follows meets the same failure and reports it."""
    known = _last_known.get(base.name)
    try:
        # Bounded (server selection included) when there is a fallback: a store that is down costs a
        # page run one short wait here, and the operation that follows reports it.
        with pymongo.timeout(POINTER_WAIT_S) if known else nullcontext():
            doc = base[POINTER].find_one({"_id": "generation"}, {"database": 1, "generation": 1})
    except pymongo.errors.PyMongoError:
        return known or base.name, _last_source.get(base.name)
    name = (doc or {}).get("database") or base.name
    if name not in settings.mongodb_dbs:  # only ever one of the two
        name = base.name
    source = f"{name}@{(doc or {}).get('generation') or ''}"
    _last_known[base.name], _last_source[base.name] = name, source
    return name, source


def live_name(base: Database, settings: Settings) -> str:
    """The live database's name (see :func:`_read_pointer`)."""
    return _read_pointer(base, settings)[0]


def live_source() -> str | None:
    """What the live data is: ``<database>@<generation id>``, which changes with every reseed or
    reset in any process, even when the same database is live again (blue, green, blue). The page
    run's own when pinned (:func:`one_generation`); else read now; None when no client exists yet in
    this process or the pointer could never be read. The figure cache keys its values by it (#17)."""
    pinned = _pinned_source.get()
    if pinned is not None:
        return pinned
    client = STORE.current()
    if client is None:
        return None
    settings = STORE.settings
    return _read_pointer(client[settings.mongodb_db], settings)[1]


def remember_live(base_name: str, database: str) -> None:
    """The process that flips the pointer knows the new live database at once (its fallback, above)."""
    _last_known[base_name] = database
    _last_source.pop(base_name, None)  # its identity is read again with the pointer


@contextmanager
def one_generation(settings: Settings | None = None) -> Iterator[None]:
    """Inside: ``get_db()`` is the database that was live on entry (one pointer read, none when no
    client exists yet in this process: then each call reads it). A page run sees one generation even
    when a reseed in another process swaps meanwhile; its next run sees the new one."""
    name = source = None
    client = STORE.current()
    if client is not None:
        settings = settings or STORE.settings
        name, source = _read_pointer(client[settings.mongodb_db], settings)
    token, source_token = _pinned.set(name), _pinned_source.set(source)
    try:
        yield
    finally:
        _pinned.reset(token)
        _pinned_source.reset(source_token)


def close_client() -> None:
    STORE.reset()


def ping(db: Database | None = None) -> str:
    """A ``ping`` round trip; returns the server version."""
    db = db if db is not None else get_db()
    db.client.admin.command("ping")
    return str(db.client.server_info().get("version", "?"))


def pool_status(settings: Settings | None = None) -> dict[str, Any]:
    if settings is None:
        return STORE.pool_figures()
    return {"max_size": settings.mongo_max_pool_size, "min_size": settings.mongo_min_pool_size,
            "in_use": STORE.pool_counter.in_use}


def _validator_current(options: dict[str, Any], spec: CollectionSpec) -> bool:
    return (options.get("validator") == spec.validator and options.get("validationLevel", "strict") == "strict"
            and options.get("validationAction", "error") == "error")


def ensure_schema(db: Database | None = None) -> list[str]:
    """Create collections, validators and indexes if missing (idempotent). Returns what it changed.

    Cheap when all exist (#19.5): one ``listCollections`` (the validators come with it, so a
    ``collMod`` is sent only when one differs) and one ``listIndexes`` per collection. An index build
    runs under ``pymongo.timeout`` sized for the collection (client deadline and the server's
    ``maxTimeMS`` instead of the 15 s socket timeout pages use, #19.3) and is retried on a transient
    error (``createIndexes`` is idempotent).
    """
    from p2p_store.stores.retry import retrying

    db = db if db is not None else get_db()
    options = {c["name"]: c.get("options", {}) for c in db.list_collections()}
    changed: list[str] = []
    for spec in COLLECTIONS:
        if spec.name not in options:
            try:
                db.create_collection(spec.name, validator=spec.validator, validationLevel="strict",
                                     validationAction="error")
            except pymongo.errors.CollectionInvalid:  # created meanwhile by another process
                db.command("collMod", spec.name, validator=spec.validator)
            changed.append(f"{spec.name}: created")
        elif not _validator_current(options[spec.name], spec):
            db.command("collMod", spec.name, validator=spec.validator, validationLevel="strict",
                       validationAction="error")
            changed.append(f"{spec.name}: validator set")
        # Only the missing ones: re-sending an existing 2dsphere spec conflicts with the server's
        # stored form (it adds 2dsphereIndexVersion), and skipping is cheaper anyway.
        have = {ix["name"] for ix in db[spec.name].list_indexes()}
        missing = [ix for ix in spec.indexes if ix.document["name"] not in have]
        if missing:
            documents = db[spec.name].estimated_document_count()
            budget_s = max(60.0, documents / 1000 * 5.0 * len(missing))  # measured ~0.1 s per 1,000 per index
            with pymongo.timeout(budget_s):
                retrying(attempts=3)(lambda: db[spec.name].create_indexes(missing))  # noqa: B023 - called at once
            changed.append(f"{spec.name}: indexes " + ", ".join(ix.document["name"] for ix in missing))
    return changed
