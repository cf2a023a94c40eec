"""The event log as the outbox of MongoDB writes: the projector (#16.5, docs/architecture.md).

PostgreSQL is the truth; a profile's copies of the account fields (role, name, email, company,
active state, and the profile fields an edit carries) are a projection of it. A change commits in
PostgreSQL with its event ``pending``; right after the commit the service calls
:func:`apply_after_commit`, which applies it to MongoDB and marks it ``applied``. If the process
dies between the two, or MongoDB is down, the event stays pending until a projector applies it:
at the app's start (the MongoDB ready path), on a background timer started once per process
(:func:`start_background`), and by ``python -m p2p_store sync``.

Guarantees:
- in order: a projector takes the oldest pending event first, and never skips ahead: it takes it
  ``FOR UPDATE NOWAIT``, and when another projector holds it, this one ends its pass (the other
  applies it and those after it; ``SKIP LOCKED`` let a projector apply a later event while the
  oldest was still being applied — seen in CI as events applied out of order);
- once: each event is locked and marked applied in the same transaction, so two projectors at once
  never take the same event;
- idempotent and never backwards: every profile write is guarded by ``pg_version`` (the account's
  version the event carries); an older event never overwrites a newer projection.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime
from typing import Any

import pymongo.errors
from pymongo import WriteConcern
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from p2p_store.audit import MONGO_FIELDS
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import Event

log = logging.getLogger("p2p_explorer.outbox")
_DURABLE = WriteConcern(w=1, j=True)  # an event is marked applied only after a journaled write
FAULT_ENV = "P2P_FAULT"  # test hook: P2P_FAULT=after_pg_commit kills the process at that point
TIMER_PERIOD_S = 5.0  # seconds between two background passes


def fault_point(name: str) -> None:
    """Die like ``kill -9`` here when the environment asks for it (crash tests only)."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _profiles():
    return mongo.get_db()[mongo.PROFILES].with_options(write_concern=_DURABLE)


def _not_newer(event: Event) -> dict[str, Any]:
    """Profiles this event may still write: none with a newer account version than the event's."""
    return {"_id": event.object_id, "pg_version": {"$not": {"$gt": event.object_version or 0}}}


def project(event: Event) -> str:
    """Apply one account event to its MongoDB profile (idempotent). Returns what happened."""
    if event.object_kind != "account":
        return "nothing to project"
    fields = {k: v for k, v in (event.after or {}).items() if k in MONGO_FIELDS}
    coll = _profiles()
    if event.action == "delete_account":
        res = coll.delete_one(_not_newer(event))
        return "profile deleted" if res.deleted_count else "no profile to delete"
    if event.action in ("create_account", "repair_drift"):
        try:
            coll.update_one(_not_newer(event), {"$set": {**fields, "pg_version": event.object_version or 0},
                                                "$setOnInsert": {"joined_at": datetime.now(UTC), "bio": ""}},
                            upsert=True)
        except pymongo.errors.DuplicateKeyError:
            return "newer profile kept"  # the profile already holds a newer version
        return "profile written"
    res = coll.update_one(_not_newer(event), {"$set": {**fields, "pg_version": event.object_version or 0}})
    return "profile updated" if res.matched_count else "newer profile kept or no profile"


class _Busy(Exception):
    """The oldest pending event is being applied by another projector."""


def _lock_not_available(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available (NOWAIT)


def apply_pending(*, object_id: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    """Apply pending events oldest first, one transaction each; stops at the first MongoDB failure
    (raised), and when another projector is applying the oldest one (see the module doc).
    ``object_id`` limits the pass to one object's events. Returns what was applied."""
    applied: list[dict[str, Any]] = []
    while len(applied) < limit:
        try:
            with pg.new_session() as session, session.begin():
                stmt = select(Event).where(Event.mongo_outcome == "pending")
                if object_id is not None:
                    stmt = stmt.where(Event.object_id == object_id)
                try:
                    event = session.scalar(stmt.order_by(Event.id).limit(1).with_for_update(nowait=True))
                except OperationalError as exc:
                    if _lock_not_available(exc):
                        raise _Busy from exc
                    raise
                if event is None:
                    break
                what = project(event)
                event.mongo_outcome = "applied"
                event.applied_at = func.now()
                applied.append({"id": event.id, "action": event.action, "object_id": event.object_id,
                                "object_email": event.object_email, "result": what})
        except _Busy:
            break  # the other projector applies it, and the ones after it, in order
    return applied


def apply_after_commit(event_id: int, object_id: str) -> str:
    """Right after a service's commit: apply this object's pending events now. ``applied``, or
    ``pending`` when MongoDB did not answer (a projector applies it later)."""
    fault_point("after_pg_commit")
    try:
        done = apply_pending(object_id=object_id)
    except Exception as exc:  # noqa: BLE001 - MongoDB down: the change stands, the projection waits
        log.warning("event %s pending in MongoDB: %s", event_id, type(exc).__name__)
        return "pending"
    if any(d["id"] == event_id for d in done):
        return "applied"
    with pg.new_session() as session:
        return session.scalar(select(Event.mongo_outcome).where(Event.id == event_id)) or "pending"


def pending_summary() -> dict[str, Any]:
    """``{"count": n, "oldest_age_s": s}`` of events still pending in MongoDB (partial index)."""
    with pg.new_session() as session:
        count, oldest = session.execute(select(func.count(), func.min(Event.at))
                                        .where(Event.mongo_outcome == "pending")).one()
    age = round((datetime.now(UTC) - oldest).total_seconds(), 1) if oldest else None
    return {"count": int(count), "oldest_age_s": age}


# ------------------------------------------------------------------ the timer (once per process)

_timer_lock = threading.Lock()
_timer: threading.Thread | None = None
_timer_stop = threading.Event()


def _run_timer(period_s: float) -> None:
    while not _timer_stop.wait(period_s):
        try:
            if pending_summary()["count"]:
                done = apply_pending()
                if done:
                    log.info("projector applied %d pending event(s)", len(done))
        except Exception as exc:  # noqa: BLE001 - a store still down: try again next period
            log.debug("projector pass failed: %s", type(exc).__name__)


def start_background(period_s: float = TIMER_PERIOD_S) -> bool:
    """Start the projector's timer thread once per process (later calls do nothing). True if started."""
    global _timer
    with _timer_lock:
        if _timer is not None and _timer.is_alive():
            return False
        _timer_stop.clear()
        _timer = threading.Thread(target=_run_timer, args=(float(period_s),), name="p2p-outbox", daemon=True)
        _timer.start()
        return True


def stop_background(timeout_s: float = 5.0) -> None:
    global _timer
    with _timer_lock:
        _timer_stop.set()
        if _timer is not None:
            _timer.join(timeout_s)
        _timer = None
