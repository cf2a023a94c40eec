"""The figure cache (issue #17): figures that need a whole-collection pass, served stale-while-revalidate.

A value older than ``max_age`` is served as it is while ONE background refresh (single-flight per
key) recomputes it; callers show the time "as of". :func:`invalidate` (called after any write the
person makes, and after a reseed in this process) marks every figure out of date; the next read of
one starts its refresh and waits for it up to ``wait_s``, so the writer's next run sees the new
figures. Refreshes start on that read, not at the write: at scale 100 refreshing every figure after
every write (the drift report, the map's view and the collection sizes each read a whole collection)
held the embedded server's lock for seconds after each click, so the very next run, which seldom
reads a figure, waited behind them (a deactivate 2.9 s; ten sessions timed out, #17), and writes in
a row each paid for them again.

A figure remembers which data it was computed on (the live MongoDB database and its generation id,
#19): after a reseed or reset in any process, the next read treats it as written. Otherwise another
replica's writes show at most ``max_age`` + one refresh later. That age depends on what a figure
reads: 60 s for figures that read accounts, which people change from any replica; 10 minutes for
figures over the forum and the use cases only, which the app writes by a reseed alone (seen at once,
above), so their age bounds only writes made outside the app — at scale 100 refreshing them every
minute was a pass over 10,000 cases (the map) and the Overview's five aggregations (~1.9 s) each
minute under the embedded server's lock, while nothing had changed (#17). See docs/architecture.md.

It lives with the stores because collection sizes are figures too: on the embedded
MongoDB-protocol server ``estimatedDocumentCount`` is not metadata but a scan of the whole
collection under the server's lock (measured: 0.3 s for 50,000 replies), so no page run may call
it; :func:`collection_sizes` is the one place that does. Never imports streamlit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from p2p_store.stores import mongo

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_AGE_S = 60.0  # a figure that reads accounts, older than this, is refreshed in the background
QUIET_MAX_AGE_S = 600.0  # the same for figures over what only a reseed writes (forum, use cases; see above)
WAIT_AFTER_WRITE_S = 5.0  # how long a read after invalidate() waits for the refresh it started
SIZE_MAX_TIME_MS = 20_000  # per count; a refresh in the background may take its time, never forever
# What a figure reads, and what a write touched: a write marks out of date only the figures that read
# what it touched (a role change does not recompute the map's 5,000 cases, #17).
# Scopes are sets, so a figure that reads two is ``FORUM | ACCOUNTS``.
ACCOUNTS, FORUM, USE_CASES = frozenset({"accounts"}), frozenset({"forum"}), frozenset({"use_cases"})
EVERYTHING = ACCOUNTS | FORUM | USE_CASES


@dataclass(frozen=True, slots=True)
class Cached:
    """A cached figure: the value, when it was computed (UTC) and whether a refresh is under way."""

    value: Any
    as_of: datetime
    refreshing: bool = False


@dataclass(slots=True)
class _Entry:
    value: Any = None
    computed_at: float = 0.0  # time.monotonic()
    as_of: datetime | None = None
    generation: int = -1
    source: str | None = None  # the live data it was computed on (mongo.live_source)
    future: Future | None = None


def _live_source() -> str | None:
    """The live data's identity, ``<database>@<generation>`` (the page run's own, when pinned), None
    when unknown."""
    try:
        source = mongo.live_source()
        if source is None:  # the process's first read: open the client, then read the pointer
            mongo.get_client()
            source = mongo.live_source()
        return source
    except Exception:  # noqa: BLE001 - a store that is down: the computation reports it
        return None


class FigureCache:
    """Stale-while-revalidate, single-flight per key, thread-safe; process-wide (one per replica)."""

    def __init__(self, *, max_age_s: float = MAX_AGE_S, quiet_max_age_s: float = QUIET_MAX_AGE_S,
                 wait_s: float = WAIT_AFTER_WRITE_S) -> None:
        self.max_age_s, self.quiet_max_age_s, self.wait_s = max_age_s, quiet_max_age_s, wait_s
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._writes = dict.fromkeys(EVERYTHING, 0)  # per scope: how many times a write touched it
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="figures")

    def _generation(self, reads: frozenset[str]) -> int:
        """The writes so far to what a figure reads (each count only grows, so neither does the sum)."""
        return sum(self._writes[scope] for scope in reads)

    def _start(self, key: str, entry: _Entry, compute: Callable[[], Any], reads: frozenset[str]) -> Future:
        """Start (or join) the one refresh of ``key``. Caller holds the lock."""
        if entry.future is not None and not entry.future.done():
            return entry.future
        generation = self._generation(reads)

        def run() -> Any:
            source = _live_source()
            value = compute()
            with self._lock:
                if generation >= entry.generation:
                    entry.value, entry.generation, entry.source = value, generation, source
                    entry.computed_at, entry.as_of = time.monotonic(), datetime.now(UTC)
            return value

        entry.future = self._pool.submit(run)
        return entry.future

    def get(self, key: str, compute: Callable[[], T], reads: frozenset[str] = EVERYTHING) -> Cached:
        """The figure under ``key``, computed by ``compute`` from what ``reads`` names: cached when
        there is one (refreshed in the background when stale), computed now when there is none.
        Errors of a first computation propagate; errors of a background refresh are logged and the
        old value stays."""
        live = _live_source()
        max_age = self.max_age_s if reads & ACCOUNTS else self.quiet_max_age_s
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            have = entry.as_of is not None
            current = entry.generation == self._generation(reads) and (live is None or entry.source in (None, live))
            stale = have and (not current or time.monotonic() - entry.computed_at > max_age)
            future = self._start(key, entry, compute, reads) if (not have or stale) else None
        if not have:
            future.result()  # nobody has a value yet: wait (single-flight: concurrent readers share it)
        elif not current and future is not None:
            try:  # the person wrote: wait a little for figures that include their write
                future.result(timeout=self.wait_s)
            except Exception:  # noqa: BLE001 - a timeout or a failed refresh: serve the old value
                log.warning("figure %s: refresh after a write not done, serving the earlier value", key)
        with self._lock:
            refreshing = entry.future is not None and not entry.future.done()
            return Cached(entry.value, entry.as_of, refreshing)

    def invalidate(self, touched: frozenset[str] = EVERYTHING) -> None:
        """After a write to ``touched`` (all by default): every figure that reads any of it is out of
        date. Nothing is computed now; the next read of such a figure refreshes it (once, however
        many writes came before) and waits for it up to ``wait_s``."""
        unknown = set(touched) - EVERYTHING
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}")
        with self._lock:
            for scope in touched:
                self._writes[scope] += 1

    def clear(self) -> None:
        """Forget every figure (tests and benchmarks: the next read computes)."""
        with self._lock:
            self._entries.clear()


FIGURES = FigureCache()


def invalidate(touched: frozenset[str] = EVERYTHING) -> None:
    """Call after any write (role change, account change, reseed) with what it touched (``ACCOUNTS``:
    accounts and profiles; ``FORUM``; ``USE_CASES``; all by default): see :class:`FigureCache`."""
    FIGURES.invalidate(touched)


def _sizes() -> dict[str, int]:
    db = mongo.get_db()
    return {name: int(db[name].estimated_document_count(maxTimeMS=SIZE_MAX_TIME_MS))
            for name in mongo.COLLECTION_NAMES}


def collection_sizes() -> Cached:
    """Documents per application collection (``{name: count}``), from the figure cache."""
    return FIGURES.get("collection_sizes", _sizes, EVERYTHING)


def collection_size(name: str) -> int:
    """One application collection's size from the figure cache; any other collection counted now."""
    sizes = collection_sizes().value
    if name in sizes:
        return sizes[name]
    return int(mongo.get_db()[name].estimated_document_count(maxTimeMS=SIZE_MAX_TIME_MS))
