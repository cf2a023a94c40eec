"""The app the README way, for the browser tests and the browser benchmarks: ``streamlit run app.py``
in a process of its own on a free port, ready when ``/_stcore/health`` answers, stopped cleanly.
One place for the command line, the readiness wait and the stop (they were written four times)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[1]
# Debian's Chromium in a container: no sandbox, software WebGL, nothing fetched from the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(env: dict[str, str], *, log: IO[bytes] | int = subprocess.DEVNULL,
              port: int | None = None) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` with ``env`` (no file watcher: tests never edit the source);
    returns the process and its URL at once — :func:`wait_health` waits for it."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.fileWatcherType", "none", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_health(url: str, proc: subprocess.Popen | None = None, deadline_s: float = 90) -> None:
    """Until ``/_stcore/health`` answers 200; raises when it does not within ``deadline_s`` or when
    ``proc`` ends first."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"streamlit ended with exit code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /_stcore/health within {deadline_s} s")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
