"""Threads for health checks: reused daemon threads and one attempt in flight per check.

A check that is still waiting is not started again: the next report waits on the same attempt
("single flight"), so a blackholed store costs at most one stuck thread per check, however many tabs
refresh the health page. Check threads are daemon threads, reused: a stuck check never delays the
exit of the CLI, and a healthy report costs about one round trip per store, not a thread start."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable
from typing import Any

CHECKS = ("postgresql", "mongodb", "consistency")


class _CheckThreads:
    """Reused daemon threads; a new one is started only when every thread is busy (e.g. stuck on a
    blackholed store), so a stuck check never makes another wait. Starting a thread costs ~0.1 ms,
    about a third of a healthy check."""

    def __init__(self, keep_idle: int = 8) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []
        self._keep_idle = keep_idle

    def submit(self, fn: Callable[[], Any]) -> cf.Future:
        future: cf.Future = cf.Future()
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(inbox,), daemon=True, name="health-check").start()
        inbox.put((fn, future))
        return future

    def _work(self, inbox: queue.SimpleQueue) -> None:
        while True:
            fn, future = inbox.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting report
                    future.set_exception(exc)
            del fn, future
            with self._lock:
                if len(self._idle) >= self._keep_idle:
                    return
                self._idle.append(inbox)


threads = _CheckThreads()
_flights_lock = threading.Lock()
_flights: dict[tuple[int, str], cf.Future] = {}  # (targets serial, check) -> attempt


def single_flight(key: tuple[int, str], fn: Callable[[], Any]) -> cf.Future:
    """The running attempt for ``key`` if there is one, else a new one."""
    with _flights_lock:
        running = _flights.get(key)
        if running is not None and not running.done():
            return running
        future = threads.submit(fn)
        _flights[key] = future
        return future


def forget_flights(serial: int) -> None:
    """Drop the attempts of one set of targets (they are being closed)."""
    with _flights_lock:
        for name in CHECKS:
            _flights.pop((serial, name), None)
