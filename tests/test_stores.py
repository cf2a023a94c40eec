"""Both stores for real: pools, restarts, late and missing stores, auth, validators, unique keys, CLI.

Runs against the embedded servers of the test session, or against ``DATABASE_URL`` / ``MONGODB_URL``
when they are set (CI runs this file a second time with ``DATABASE_URL`` on the system PostgreSQL).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pymongo
import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError
from pymongo.uri_parser import parse_uri
from sqlalchemy import create_engine, delete, make_url, pool, text
from sqlalchemy.exc import IntegrityError

from p2p_store.errors import StoreUnavailable
from p2p_store.stores import local, mongo, pg, ready, retry
from p2p_store.stores.models import User
from tests.app_process import stop_app

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_ID_PREFIX = "zz-test-stores-"  # every document a test here writes; removed by the test itself


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_secantus(port: int, storage: Path) -> subprocess.Popen:
    """A private SecantusDB (no auth) on ``port``, separate from the session's stores."""
    storage.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(storage), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )


def _run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "p2p_store", *args], cwd=REPO_ROOT, env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def _backend_pids(engine, count: int) -> list[int]:
    """Check out ``count`` pooled connections at once and return their server process ids."""
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(count)]
        return [conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in conns]


def _restore_embedded_stores(settings) -> None:
    """After a test that stopped the session's embedded servers: if one is still down (the test
    failed), start it from a fresh process so one failure does not cascade into the tests after it."""
    root = local.data_dir(settings)
    down = (not settings.database_url and not local.local_postgres_running(root)) or (
        not settings.mongodb_url and not local.local_mongo_running(root))
    if down:
        _run_cli("up")


def _now() -> datetime:
    return datetime.now(UTC)


def _test_id() -> str:
    return TEST_ID_PREFIX + uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------- PostgreSQL pool


def test_pool_serves_60_threads_at_once(stores):
    engine = pg.get_engine()
    status = pg.pool_status()
    assert status["size"] == 20 and status["max_overflow"] == 40
    threads = status["size"] + status["max_overflow"]  # 60: the pool's whole capacity
    # Every thread holds its connection until all 60 are out, so the pool really serves them at once.
    all_out = threading.Barrier(threads, timeout=30)
    seen: dict[str, int] = {}

    def work(_: int) -> float:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if all_out.wait() == 0:
                seen.update(pg.pool_status())
            all_out.wait()  # nobody gives back a connection before the figures were read
            return float(conn.execute(text("SELECT 0.05 FROM pg_sleep(0.05)")).scalar_one())

    with cf.ThreadPoolExecutor(max_workers=threads) as executor:
        results = list(executor.map(work, range(threads)))

    assert results == [0.05] * threads
    assert seen["checked_out"] == threads
    assert seen["overflow"] == status["max_overflow"]
    after = pg.pool_status()
    assert set(after) == {"size", "checked_out", "overflow", "max_overflow"}
    assert after["checked_out"] == 0
    assert all(isinstance(v, int) for v in after.values())


def test_pg_pool_recovers_after_server_restart(stores, settings):
    engine = pg.get_engine()
    before = _backend_pids(engine, 3)
    if settings.database_url:
        # An external server is not ours to restart: end the pool's connections on the server instead.
        killer = create_engine(engine.url, poolclass=pool.NullPool)
        try:
            with killer.connect() as conn:
                ended = conn.execute(text("SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM unnest(:pids) AS pid"),
                                     {"pids": before}).scalar_one()
            assert ended
        finally:
            killer.dispose()
    else:
        root = local.data_dir(settings)
        try:
            local.stop_local_postgres(root)
            assert not local.local_postgres_running(root)
            # Same socket directory, so the pool's URL stays valid.
            assert make_url(local.ensure_local_postgres(root)) == engine.url
            assert local.local_postgres_running(root)
        finally:
            _restore_embedded_stores(settings)
    # The very next operation succeeds, without a retry: pre-ping replaces the dead connections.
    assert pg.ping()
    after = _backend_pids(engine, 3)
    assert not set(after) & set(before)


def test_pg_pool_recovers_when_its_connections_are_killed(stores):
    engine = pg.get_engine()
    victims = _backend_pids(engine, 5)
    killer = create_engine(engine.url, poolclass=pool.NullPool)
    try:
        with killer.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid, 5000) FROM unnest(:pids) AS pid"), {"pids": victims})
    finally:
        killer.dispose()
    for _ in range(5):
        assert pg.ping()
    with pg.session_scope() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1


# --------------------------------------------------------------------------- MongoDB client


def test_mongo_client_recovers_after_server_restart(stores, settings, tmp_path):
    private: list[subprocess.Popen] = []
    if settings.mongodb_url:
        # An external server is not ours to restart: prove the app's client settings on a private one.
        port = _free_port()
        private.append(_start_secantus(port, tmp_path / "mongo"))
        client = mongo.make_client(f"mongodb://127.0.0.1:{port}/?directConnection=true", settings)

        def restart() -> None:
            stop_app(private[-1])
            private.append(_start_secantus(port, tmp_path / "mongo"))
    else:
        root = local.data_dir(settings)
        client = mongo.get_client()
        url = local.mongodb_url(settings)

        def restart() -> None:
            local.stop_local_mongo(root)
            assert not local.local_mongo_running(root)
            # The port is kept in server.json, so the open client's URL stays valid.
            assert local.ensure_local_mongo(root, settings.mongodb_db) == url

    # The app user may write its own database only (#14): the probe is a collection there.
    probe = client[settings.mongodb_db]["p2p_test_restart_probe"]
    marker = _test_id()
    try:
        retry.wait_for("MongoDB", lambda: client.admin.command("ping"), attempts=8, give_up_after_s=30)
        probe.with_options(write_concern=pymongo.WriteConcern(j=True)).insert_one({"_id": marker})
        restart()
        found = retry.retrying(attempts=5)(lambda: probe.find_one({"_id": marker}))
        assert found == {"_id": marker}  # the server came back with its data
        # ...and after that first operation the client is healthy again without any retry.
        client.admin.command("ping")
        probe.insert_one({"_id": marker + "-after"})
        assert probe.count_documents({}) == 2
    finally:
        if not private:
            _restore_embedded_stores(settings)
        with contextlib.suppress(Exception):
            probe.drop()
        if private:
            client.close()
        for proc in private:
            stop_app(proc)


# --------------------------------------------------------------------------- waiting for stores


def test_wait_for_a_store_that_starts_3s_late(tmp_path):
    port = _free_port()
    started: list[subprocess.Popen] = []
    late = threading.Timer(3.0, lambda: started.append(_start_secantus(port, tmp_path / "late")))
    client = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true",
                         serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    t0 = time.monotonic()
    late.start()
    try:
        retry.wait_for("MongoDB", lambda: client.admin.command("ping"), attempts=30, max_wait_s=0.5,
                       give_up_after_s=30)
        elapsed = time.monotonic() - t0
    finally:
        late.cancel()
        late.join()
        client.close()
        for proc in started:
            stop_app(proc)
    assert started, "the late server was never started"
    assert 3.0 <= elapsed < 30


def test_ensure_ready_tolerates_stores_that_start_late(stores, settings):
    """The session's embedded stores are stopped and come back 3 s later; ensure_ready waits."""
    root = local.data_dir(settings)
    late = []
    if not settings.database_url:
        late.append((local.stop_local_postgres, local.ensure_local_postgres))
    if not settings.mongodb_url:
        late.append((local.stop_local_mongo, local.ensure_local_mongo))
    for stop, _ in late:
        stop(root)
    errors: list[BaseException] = []

    def start_late() -> None:
        for _, ensure in late:
            try:
                ensure(root)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

    timer = threading.Timer(3.0, start_late)
    t0 = time.monotonic()
    timer.start()
    try:
        versions = ready.ensure_ready(attempts=5, give_up_after_s=30)["versions"]
        elapsed = time.monotonic() - t0
    finally:
        timer.join()
        _restore_embedded_stores(settings)  # back for the tests after this one, whatever happened here
    assert not errors
    assert set(versions) == {"postgresql", "mongodb"}
    assert all(versions.values())
    if late:
        assert elapsed >= 3.0


def test_wait_for_a_mongo_that_never_comes_gives_up_within_its_bound():
    port = _free_port()  # nobody listens here
    client = MongoClient(f"mongodb://app:s3cret-pw@127.0.0.1:{port}/?directConnection=true",
                         serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    give_up_after_s, max_wait_s = 1.0, 0.5
    t0 = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable) as excinfo:
            retry.wait_for("MongoDB", lambda: client.admin.command("ping"), attempts=50, max_wait_s=max_wait_s,
                           give_up_after_s=give_up_after_s)
    finally:
        client.close()
    elapsed = time.monotonic() - t0
    # Bound: the time limit, plus at most one back-off sleep and one probe (0.3 s) past it.
    assert give_up_after_s <= elapsed < give_up_after_s + max_wait_s + 0.3 + 1.0
    message = str(excinfo.value)
    assert excinfo.value.store == "MongoDB"
    assert message.startswith("MongoDB: not reachable")
    assert "\n" not in message and "s3cret-pw" not in message


def test_wait_for_a_postgres_that_never_comes_gives_up_within_its_bound():
    port = _free_port()
    engine = create_engine(f"postgresql+psycopg://app:s3cret-pw@127.0.0.1:{port}/p2p", poolclass=pool.NullPool,
                           connect_args={"connect_timeout": 1})

    def probe() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    attempts = 3
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable) as excinfo:
        retry.wait_for("PostgreSQL", probe, attempts=attempts, max_wait_s=0.5, give_up_after_s=30)
    elapsed = time.monotonic() - t0
    engine.dispose()
    # Bound: two back-off sleeps of 0.5 s between 3 attempts, each refused at once (1 s connect timeout).
    assert 1.0 <= elapsed < 1.0 + attempts * 1.0
    message = str(excinfo.value)
    assert message.startswith("PostgreSQL: not reachable after 3 attempts")
    assert "\n" not in message and "s3cret-pw" not in message


# --------------------------------------------------------------------------- MongoDB auth


@pytest.mark.skipif(bool(os.environ.get("MONGODB_URL")),
                    reason="checks the embedded MongoDB-protocol server, which is not started when MONGODB_URL is set")
def test_embedded_mongo_refuses_unauthenticated_access(stores, settings):
    host, port = parse_uri(local.mongodb_url(settings))["nodelist"][0]
    assert host == "127.0.0.1"  # loopback only
    anonymous = MongoClient(host, port, directConnection=True, serverSelectionTimeoutMS=2000)
    wrong_password = MongoClient(host, port, username=local.MONGO_APP_USER, password="not-the-password",
                                 authSource="admin", directConnection=True, serverSelectionTimeoutMS=2000)
    try:
        with pytest.raises(OperationFailure) as excinfo:
            anonymous[settings.mongodb_db][mongo.PROFILES].find_one()
        assert excinfo.value.code == 13  # Unauthorized
        with pytest.raises(OperationFailure) as excinfo:
            anonymous[settings.mongodb_db][mongo.PROFILES].insert_one({"_id": _test_id()})
        assert excinfo.value.code == 13
        with pytest.raises(OperationFailure) as excinfo:
            wrong_password[settings.mongodb_db][mongo.PROFILES].find_one()
        assert excinfo.value.code == 18  # AuthenticationFailed
    finally:
        anonymous.close()
        wrong_password.close()


# --------------------------------------------------------------------------- MongoDB validators and unique indexes


def _valid(collection: str) -> dict:
    """A document each collection's validator accepts (fields named as in p2p_store.stores.mongo)."""
    doc_id = _test_id()
    now = _now()
    return {
        mongo.PROFILES: {"_id": doc_id, "email": f"{doc_id}@example.test", "full_name": "Test Person",
                         "company": "Test Co", "role": "member", "expertise": ["PLC"], "joined_at": now},
        mongo.FORUM_POSTS: {"_id": doc_id, "title": "A title", "body": "A body", "category": "Automation",
                            "tags": ["plc"], "author_id": "someone", "status": "open", "views": 0, "upvotes": 0,
                            "is_pinned": False, "created_at": now, "last_activity_at": now},
        mongo.FORUM_REPLIES: {"_id": doc_id, "post_id": "post", "parent_id": None, "path": "0001", "depth": 0,
                              "author_id": "someone", "body": "A reply", "created_at": now},
        mongo.USE_CASES: {"_id": doc_id, "slug": doc_id, "kind": "basic", "title": "A use case",
                          "company": "Test Co", "industry": "Plastics", "city": "Jeddah", "region": "Makkah",
                          "location": {"type": "Point", "coordinates": [39.17, 21.54]}},
    }[collection]


MALFORMED = [
    (mongo.PROFILES, "missing required fields", lambda d: {"_id": d["_id"], "email": d["email"]}),
    (mongo.PROFILES, "role outside admin/member/user", lambda d: {**d, "role": "superuser"}),
    (mongo.PROFILES, "email not a string", lambda d: {**d, "email": 42}),
    (mongo.FORUM_POSTS, "missing required fields", lambda d: {"_id": d["_id"], "title": d["title"]}),
    (mongo.FORUM_POSTS, "empty title", lambda d: {**d, "title": ""}),
    (mongo.FORUM_POSTS, "negative views", lambda d: {**d, "views": -1}),
    (mongo.FORUM_POSTS, "unknown status", lambda d: {**d, "status": "archived"}),
    (mongo.FORUM_REPLIES, "missing required fields", lambda d: {"_id": d["_id"], "body": d["body"]}),
    (mongo.FORUM_REPLIES, "depth not an integer", lambda d: {**d, "depth": "deep"}),
    (mongo.USE_CASES, "missing required fields", lambda d: {"_id": d["_id"], "slug": d["slug"]}),
    (mongo.USE_CASES, "unknown kind", lambda d: {**d, "kind": "premium"}),
    (mongo.USE_CASES, "location not a Point", lambda d: {**d, "location": {"type": "Polygon",
                                                                            "coordinates": [39.1, 21.5]}}),
]


@pytest.mark.parametrize(("collection", "why", "spoil"), MALFORMED, ids=[f"{c}-{w}" for c, w, _ in MALFORMED])
def test_validator_refuses_a_malformed_document(stores, collection, why, spoil):
    coll = mongo.get_db()[collection]
    bad = spoil(_valid(collection))
    try:
        with pytest.raises(WriteError) as excinfo:
            coll.insert_one(bad)
        assert excinfo.value.code == 121  # DocumentValidationFailure
    finally:
        coll.delete_many({"_id": bad["_id"]})


@pytest.mark.parametrize("collection", mongo.COLLECTION_NAMES)
def test_validator_accepts_a_well_formed_document(stores, collection):
    coll = mongo.get_db()[collection]
    good = _valid(collection)
    try:
        coll.insert_one(good)
        assert coll.find_one({"_id": good["_id"]}) is not None
    finally:
        coll.delete_many({"_id": good["_id"]})


@pytest.mark.parametrize(("collection", "field"), [(mongo.PROFILES, "email"), (mongo.USE_CASES, "slug")])
def test_unique_index_refuses_a_duplicate(stores, collection, field):
    coll = mongo.get_db()[collection]
    first = _valid(collection)
    second = {**_valid(collection), field: first[field]}
    try:
        coll.insert_one(first)
        with pytest.raises(DuplicateKeyError) as excinfo:
            coll.insert_one(second)
        assert excinfo.value.code == 11000
    finally:
        coll.delete_many({"_id": {"$in": [first["_id"], second["_id"]]}})


def test_every_collection_has_its_indexes(stores):
    db = mongo.get_db()
    for spec in mongo.COLLECTIONS:
        names = set(db[spec.name].index_information())
        assert {model.document["name"] for model in spec.indexes} <= names, spec.name
    assert db[mongo.PROFILES].index_information()["email_unique"].get("unique")
    assert db[mongo.USE_CASES].index_information()["slug_unique"].get("unique")


def test_ensure_schema_is_idempotent(stores):
    mongo.ensure_schema()
    mongo.ensure_schema()


# --------------------------------------------------------------------------- PostgreSQL constraints


def _user(email: str, **fields) -> User:
    return User(id=uuid.uuid4(), email=email, full_name="Test Person", password_hash="not-a-real-hash", **fields)


def test_users_email_is_unique(stores):
    email = f"{_test_id()}@example.test"
    try:
        with pg.session_scope() as session:
            session.add(_user(email))
        with pytest.raises(IntegrityError, match="uq_users_email|ix_users_email|unique"):
            with pg.session_scope() as session:
                session.add(_user(email))
    finally:
        with pg.session_scope() as session:
            session.execute(delete(User).where(User.email == email))


@pytest.mark.parametrize(("fields", "why"), [({"role": "superuser"}, "role_allowed"),
                                             ({"email": "Upper@Example.Test"}, "email_lowercase")])
def test_users_check_constraints(stores, fields, why):
    user = _user(f"{_test_id()}@example.test")
    for key, value in fields.items():
        setattr(user, key, value)
    try:
        with pytest.raises(IntegrityError, match=why), pg.session_scope() as session:
            session.add(user)
    finally:
        with pg.session_scope() as session:
            session.execute(delete(User).where(User.id == user.id))


# --------------------------------------------------------------------------- CLI


def test_cli_health_json_has_the_contract_shape(stores):
    proc = _run_cli("health", "--json", timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"status", "timestamp", "version", "uptime_s", "checks"}
    assert report["status"] == "healthy"
    assert datetime.fromisoformat(report["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert isinstance(report["version"], str) and isinstance(report["uptime_s"], int | float)
    checks = report["checks"]
    assert set(checks) == {"postgresql", "mongodb", "consistency"}

    pg_check = checks["postgresql"]
    assert {"status", "latency_ms", "server_version", "pool", "migration", "error"} <= set(pg_check)
    assert pg_check["status"] == "healthy" and pg_check["error"] is None
    assert isinstance(pg_check["latency_ms"], int | float) and pg_check["server_version"]
    assert set(pg_check["pool"]) == {"size", "checked_out", "overflow", "max_overflow"}
    assert set(pg_check["migration"]) == {"current", "head"}
    assert pg_check["migration"]["current"] == pg_check["migration"]["head"] is not None

    mongo_check = checks["mongodb"]
    assert {"status", "latency_ms", "server_version", "pool", "error"} <= set(mongo_check)
    assert mongo_check["status"] == "healthy" and mongo_check["error"] is None
    assert isinstance(mongo_check["latency_ms"], int | float) and mongo_check["server_version"]
    assert set(mongo_check["pool"]) == {"max_size", "min_size", "in_use"}
    assert (mongo_check["pool"]["max_size"], mongo_check["pool"]["min_size"]) == (20, 5)

    consistency = checks["consistency"]
    assert {"status", "role_drift", "orphans"} <= set(consistency)
    assert consistency == {**consistency, "status": "healthy", "role_drift": 0, "orphans": 0}


def test_cli_up_is_idempotent_and_masks_the_password(stores, settings):
    secret = parse_uri(settings.mongodb_url or local.mongodb_url(settings)).get("password")
    for _ in range(2):
        proc = _run_cli("up")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ready in" in proc.stdout
        if secret:
            assert secret not in proc.stdout + proc.stderr


def test_cli_env_prints_export_lines(stores, settings):
    proc = _run_cli("env")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("export DATABASE_URL=") for line in lines)
    assert any(line.startswith("export MONGODB_URL=") for line in lines)
    # the consoles' read-only logins (#14): printed for the embedded servers, absent without one
    assert any(line.startswith("export DATABASE_READONLY_URL=") for line in lines) == (
        not settings.database_url or bool(settings.database_readonly_url))
    assert any(line.startswith("export MONGODB_READONLY_URL=") for line in lines) == (
        not settings.mongodb_url or bool(settings.mongodb_readonly_url))
    # The printed URLs reach the same stores: a shell that evals them gets a working environment.
    exported = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
    db_url, mongo_url = exported["DATABASE_URL"], exported["MONGODB_URL"]
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
    client = MongoClient(mongo_url, serverSelectionTimeoutMS=2000)
    try:
        # the app user may use its own database only (#14): listing all databases is refused
        assert mongo.PROFILES in client[settings.mongodb_db].list_collection_names()
    finally:
        client.close()


# --------------------------------------------------------------------------- least privilege (#14)


def test_app_login_is_least_privilege_or_the_console_is_off(stores, settings):
    """Embedded: the app logs in as the schema owner (no superuser) and the console as the read-only
    login. External (DATABASE_URL, as .ci/run does): whatever login the operator gave, the SQL console
    runs only on DATABASE_READONLY_URL and is off without it (no weaker fallback)."""
    from p2p_store.data import console

    with pg.get_engine().connect() as conn:
        user, superuser = conn.execute(text(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")).one()
    status = console.readonly_role_status()
    if settings.database_url:
        assert status.active == bool(settings.database_readonly_url)
        if not status.active:
            assert "DATABASE_READONLY_URL" in status.message and "README" in status.message
            assert console._readonly_engine() is None  # run_sql refuses: the console is off
    else:
        assert (user, superuser) == (local.PG_OWNER, False)
        assert status.active
        ro = create_engine(local.postgres_readonly_url(settings), poolclass=pool.NullPool)
        try:
            with ro.connect() as conn:
                assert conn.execute(text(
                    "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one() is False
        finally:
            ro.dispose()
