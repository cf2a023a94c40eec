"""Headline figures and chart series for the overview page, and the figure cache behind every
figure that needs a whole-collection pass (issue #17).

Choice per figure (see docs/benchmarks.md):

- Accounts by role: exact and live on every run, a ``GROUP BY role`` answered by ``ix_users_role``
  (an index-only pass, ~2 ms at 10,000 accounts), so a role change shows at once on every replica.
- Posts and replies totals: the collections' estimated counts (metadata, no scan), live.
- Use cases basic/detailed, posts per category, use cases per industry, activity per month, the
  forum's facet counts, the map's filter choices: whole-collection aggregations, served from
  :data:`FIGURES`, a stale-while-revalidate cache: a value older than ``max_age`` is served as it is
  while ONE background refresh (single-flight per key) recomputes it; pages show the time "as of".
  :func:`invalidate` (called after any write the person makes) starts the refresh at once and the
  next read waits for it up to ``wait_s``, so the writer's next run sees the new figures. Another
  replica sees them at most ``max_age`` + one refresh later (60 s + the aggregation time).

Every MongoDB read here carries ``maxTimeMS`` (:data:`MAX_TIME_MS`). Never imports streamlit.
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

from p2p_store.accounts import directory
from p2p_store.stores import mongo

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_TIME_MS = 20_000  # per aggregation; a refresh in the background may take its time, never forever
MAX_AGE_S = 60.0  # a figure older than this is refreshed in the background (the replica lag bound)
WAIT_AFTER_WRITE_S = 5.0  # how long a read after invalidate() waits for the refresh it started


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
    future: Future | None = None


class FigureCache:
    """Stale-while-revalidate, single-flight per key, thread-safe; process-wide (one per replica)."""

    def __init__(self, *, max_age_s: float = MAX_AGE_S, wait_s: float = WAIT_AFTER_WRITE_S) -> None:
        self.max_age_s, self.wait_s = max_age_s, wait_s
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._computers: dict[str, Callable[[], Any]] = {}
        self._generation = 0
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="figures")

    def _start(self, key: str, entry: _Entry, compute: Callable[[], Any]) -> Future:
        """Start (or join) the one refresh of ``key``. Caller holds the lock."""
        if entry.future is not None and not entry.future.done():
            return entry.future
        generation = self._generation

        def run() -> Any:
            value = compute()
            with self._lock:
                if generation >= entry.generation:
                    entry.value, entry.generation = value, generation
                    entry.computed_at, entry.as_of = time.monotonic(), datetime.now(UTC)
            return value

        entry.future = self._pool.submit(run)
        return entry.future

    def get(self, key: str, compute: Callable[[], T]) -> Cached:
        """The figure under ``key``: cached when there is one (refreshed in the background when
        stale), computed now when there is none. Errors of a first computation propagate; errors of a
        background refresh are logged and the old value stays."""
        with self._lock:
            self._computers[key] = compute
            entry = self._entries.setdefault(key, _Entry())
            have = entry.as_of is not None
            current = entry.generation == self._generation
            stale = have and (not current or time.monotonic() - entry.computed_at > self.max_age_s)
            future = self._start(key, entry, compute) if (not have or stale) else None
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

    def invalidate(self) -> None:
        """After a write: every figure is out of date; refreshes start now, in the background."""
        with self._lock:
            self._generation += 1
            for key, entry in self._entries.items():
                if entry.as_of is not None and key in self._computers:
                    self._start(key, entry, self._computers[key])

    def clear(self) -> None:
        """Forget every figure (tests and benchmarks: the next read computes)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


FIGURES = FigureCache()


def invalidate() -> None:
    """Call after any write (role change, account change, reseed): see :class:`FigureCache`."""
    FIGURES.invalidate()


# ------------------------------------------------------------------ the figures


def _aggregate(collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(mongo.get_db()[collection].aggregate(pipeline, maxTimeMS=MAX_TIME_MS))


def _use_case_kinds() -> dict[str, int]:
    return {d["_id"]: d["n"] for d in _aggregate(mongo.USE_CASES, [{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])}


def headline_figures() -> dict[str, Any]:
    """Accounts by role (exact, live), posts and replies (estimated counts, live), use cases
    basic/detailed (cached, see the module doc); ``as_of`` is the time of the cached part."""
    db = mongo.get_db()
    kinds = FIGURES.get("use_case_kinds", _use_case_kinds)
    roles = directory.count_by_role()
    return {
        "accounts": sum(roles.values()), "accounts_by_role": roles,
        "posts": db[mongo.FORUM_POSTS].estimated_document_count(maxTimeMS=MAX_TIME_MS),
        "replies": db[mongo.FORUM_REPLIES].estimated_document_count(maxTimeMS=MAX_TIME_MS),
        "use_cases": sum(kinds.value.values()), "use_cases_basic": kinds.value.get("basic", 0),
        "use_cases_detailed": kinds.value.get("detailed", 0), "as_of": kinds.as_of,
    }


def _posts_per_category() -> list[dict[str, Any]]:
    rows = _aggregate(mongo.FORUM_POSTS,
                      [{"$group": {"_id": "$category", "posts": {"$sum": 1}}}, {"$sort": {"posts": -1}}])
    return [{"category": r["_id"], "posts": r["posts"]} for r in rows]


def posts_per_category() -> list[dict[str, Any]]:
    return FIGURES.get("posts_per_category", _posts_per_category).value


def _activity_by_month() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, label in ((mongo.FORUM_POSTS, "posts"), (mongo.FORUM_REPLIES, "replies")):
        rows = _aggregate(name, [
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m", "date": "$created_at"}}, "n": {"$sum": 1}}},
            {"$sort": {"_id": 1}}])
        out.extend({"month": r["_id"], "kind": label, "count": r["n"]} for r in rows)
    return out


def activity_by_month() -> list[dict[str, Any]]:
    """Posts and replies created per month (one ``$group`` per collection, cached)."""
    return FIGURES.get("activity_by_month", _activity_by_month).value


def industries() -> list[dict[str, Any]]:
    """Use cases per industry (``use_cases.counts_by_industry``, cached)."""
    from p2p_store.community import use_cases

    return FIGURES.get("use_cases_by_industry", use_cases.counts_by_industry).value


def overview() -> dict[str, Any]:
    """Everything the overview shows, with ``as_of`` (the oldest cached part) and ``refreshing``."""
    parts = {"categories": FIGURES.get("posts_per_category", _posts_per_category),
             "activity": FIGURES.get("activity_by_month", _activity_by_month)}
    from p2p_store.community import use_cases

    parts["industries"] = FIGURES.get("use_cases_by_industry", use_cases.counts_by_industry)
    figures = headline_figures()
    stamps = [p.as_of for p in parts.values()] + [figures.pop("as_of")]
    return {"figures": figures, **{k: p.value for k, p in parts.items()},
            "as_of": min(stamps), "refreshing": any(p.refreshing for p in parts.values())}


def forum_facets() -> Cached:
    """The forum's filter choices with counts (``forum.facet_counts``, one ``$facet`` pass, cached)."""
    from p2p_store.community import forum

    return FIGURES.get("forum_facets", forum.facet_counts)


def use_case_facets() -> Cached:
    """The map's filter choices (``use_cases.facet_values``, one pass, cached)."""
    from p2p_store.community import use_cases

    return FIGURES.get("use_case_facets", use_cases.facet_values)
