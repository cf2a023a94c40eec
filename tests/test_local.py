"""The embedded default (p2p_store.stores.local) in its own data dir: private credentials, a server left by
an exited parent, a stale state file, a port already taken, a stale postmaster.pid.

These tests start their own servers under a separate temporary root, never the session's data dir,
and stop them at the end.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri
from sqlalchemy import create_engine, pool, text

from p2p_store.stores import local

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def root():
    path = Path(tempfile.mkdtemp(prefix="p2p-local-test-"))
    try:
        yield path
    finally:
        local.stop_local_mongo(path)
        local.stop_local_postgres(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def first_url(root):
    """The embedded MongoDB-protocol server, started by a process that has exited since."""
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from p2p_store.stores import local; "
         "print(local.ensure_local_mongo(Path(sys.argv[1])))", str(root)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def _mongo_dir(root: Path) -> Path:
    return root / "mongo"


def _state(root: Path) -> dict:
    return json.loads((_mongo_dir(root) / "server.json").read_text())


def _port(url: str) -> int:
    return parse_uri(url)["nodelist"][0][1]


def _answers(url: str) -> bool:
    client = MongoClient(url, serverSelectionTimeoutMS=3000)
    try:
        return client.admin.command("ping")["ok"] == 1
    finally:
        client.close()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not psutil.pid_exists(proc.pid)
    return proc.pid


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still running")


def test_credentials_file_is_private(root, first_url):
    mongo_dir = _mongo_dir(root)
    credentials = mongo_dir / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE((mongo_dir / "server.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(mongo_dir.stat().st_mode) == 0o700
    creds = json.loads(credentials.read_text())
    assert creds["user"] == local.MONGO_APP_USER and len(creds["password"]) >= 16
    assert parse_uri(first_url)["password"] == creds["password"]
    log_file = mongo_dir / "server.log"
    assert not log_file.exists() or creds["password"] not in log_file.read_text(errors="replace")


def test_server_left_by_an_exited_parent_is_reused(root, first_url):
    state = _state(root)
    assert psutil.pid_exists(state["pid"])  # the server outlived the process that started it
    started = time.monotonic()
    assert local.ensure_local_mongo(root) == first_url
    assert time.monotonic() - started < 3.0  # reused, not restarted
    assert _state(root)["pid"] == state["pid"]
    assert _answers(first_url)


def test_stale_state_file_pointing_at_a_dead_pid(root, first_url):
    # A server killed outright leaves server.json naming a process that is gone.
    dead = _state(root)["pid"]
    psutil.Process(dead).kill()
    _wait_gone(dead)
    assert not local.local_mongo_running(root)
    assert _state(root)["pid"] == dead

    url = local.ensure_local_mongo(root)

    assert _answers(url)
    state = _state(root)
    assert state["pid"] != dead and psutil.pid_exists(state["pid"])
    assert state["port"] == _port(url)


def test_port_already_taken_makes_it_choose_another(root, first_url, caplog):
    local.ensure_local_mongo(root)
    port = _state(root)["port"]
    local.stop_local_mongo(root)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the stopped server's sockets may linger
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with caplog.at_level(logging.WARNING, logger="p2p_store.stores.local"):
            url = local.ensure_local_mongo(root)
    finally:
        squatter.close()

    new_port = _port(url)
    assert new_port != port
    assert _answers(url)
    assert _state(root)["port"] == new_port
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(str(port) in msg and str(new_port) in msg and "taken" in msg for msg in warnings), warnings


def test_postgres_is_reused_and_survives_a_stale_postmaster_pid(root, caplog):
    url = local.ensure_local_postgres(root)
    started = time.monotonic()
    assert local.ensure_local_postgres(root) == url
    assert time.monotonic() - started < 2.0  # reused, not restarted
    pid_file = root / "pg" / "postmaster.pid"
    lines = pid_file.read_text().splitlines(keepends=True)
    local.stop_local_postgres(root)
    assert not local.local_postgres_running(root)
    # A killed server leaves its postmaster.pid behind, naming a process that is gone.
    lines[0] = f"{_dead_pid()}\n"
    pid_file.write_text("".join(lines))

    with caplog.at_level(logging.WARNING, logger="p2p_store.stores.local"):
        assert local.ensure_local_postgres(root) == url

    assert local.local_postgres_running(root)
    assert any("stale postmaster.pid" in r.getMessage() for r in caplog.records)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == local.PG_DATABASE
    finally:
        engine.dispose()
