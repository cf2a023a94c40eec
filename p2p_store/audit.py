"""The event log: the one writer and the one reader of ``events`` (#13 "audit", #16).

Every change writes exactly one event in the same PostgreSQL transaction as the change: who
(actor), what (action, object kind/id/email, the record version after the change), the fields
``before`` and ``after`` (JSON; never a password), the outcome in each store and a request id.
The table is append-only for every login (a trigger, migration ``0002_events``); the only update it
allows is ``mongo_outcome`` pending → applied, which is how the event log doubles as the outbox of
MongoDB writes (see :mod:`p2p_store.outbox`).

Reads: :func:`list_events` (filters + keyset paging on ``id``, on the ``ix_events_*`` indexes),
:func:`export_events` (exactly the filtered rows, CSV formula-safe or JSON) and
:func:`person_history` (a person's timeline with a readable diff of each event).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.orm import Session

from p2p_store.errors import InvalidInput, NotFound
from p2p_store.stores import pg
from p2p_store.stores.models import Event

# MongoDB profile fields an account event may carry in ``after``: what the projector copies.
MONGO_FIELDS = ("email", "full_name", "company", "role", "is_active", "industry", "city", "region",
                "job_title", "expertise")
OUTCOMES = ("pending", "applied", "n/a")
ACTION_LABELS = {
    "create_account": "account created", "update_account": "profile edited", "change_role": "role changed",
    "deactivate": "deactivated", "reactivate": "reactivated", "reset_password": "password reset",
    "end_session": "sign-in ended", "delete_account": "account deleted", "repair_drift": "drift repaired",
    "edit_config": "config edited", "reseed": "reseed", "reset": "reset", "change_own_password": "own password set",
}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
EXPORT_LIMIT = 10_000  # rows in one download
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # cells a spreadsheet would run as a formula

_request_id: ContextVar[str | None] = ContextVar("p2p_request_id", default=None)
_reverts: ContextVar[int | None] = ContextVar("p2p_reverts_event", default=None)


@contextmanager
def request(request_id: str | None = None) -> Iterator[str]:
    """Events written inside share one request id (a bulk role change, one click of a page)."""
    rid = request_id or str(uuid.uuid4())
    token = _request_id.set(rid)
    try:
        yield rid
    finally:
        _request_id.reset(token)


@contextmanager
def reverting(event_id: int) -> Iterator[None]:
    """Events written inside are the revert of ``event_id`` (used by :mod:`p2p_store.undo`)."""
    token = _reverts.set(int(event_id))
    try:
        yield
    finally:
        _reverts.reset(token)


def jsonable(value: Any) -> Any:
    """A value as JSONB holds it (datetimes as ISO text, UUIDs as text)."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


# ------------------------------------------------------------------ the writer


def record(session: Session, *, actor_id: uuid.UUID | None, actor_email: str, action: str, kind: str,
           object_id: object, object_email: str = "", version: int | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           mongo: str = "n/a", note: str = "") -> Event:
    """Add one event to the caller's transaction (flushed, so its id is known). ``mongo`` is
    ``pending`` when the change must reach the MongoDB profile (the outbox), else ``n/a``."""
    if mongo not in ("pending", "n/a"):
        raise ValueError(f"an event starts pending or n/a, not {mongo!r}")
    event = Event(actor_id=actor_id, actor_email=actor_email, action=action, object_kind=kind,
                  object_id=str(object_id)[:100], object_email=object_email or "", object_version=version,
                  before=jsonable(before), after=jsonable(after), pg_outcome="applied", mongo_outcome=mongo,
                  request_id=_request_id.get() or str(uuid.uuid4()), reverts_id=_reverts.get(), note=note[:2000])
    session.add(event)
    session.flush()
    return event


def record_seed(conn: Connection, *, action: str, actor_email: str, after: dict[str, Any]) -> None:
    """The event of a reseed or reset, in the loader's transaction. Both stores are rewritten
    wholesale, so events still pending in MongoDB are settled (their accounts were replaced)."""
    settled = conn.execute(update(Event).where(Event.mongo_outcome == "pending")
                           .values(mongo_outcome="applied", applied_at=func.now())).rowcount
    conn.execute(insert(Event).values(
        actor_email=actor_email, action=action, object_kind="data", object_id="all", after=jsonable(after),
        pg_outcome="applied", mongo_outcome="n/a", request_id=_request_id.get() or str(uuid.uuid4()),
        note=f"{settled} pending event(s) superseded" if settled else ""))


# ------------------------------------------------------------------ the reader


@dataclass(frozen=True)
class EventFilter:
    """What the audit explorer filters by (every field optional; all given must match)."""

    actor: str = ""  # actor email (exact, case-insensitive)
    person: str = ""  # the object's id, or an account's email
    action: str = ""
    outcome: str = ""  # MongoDB outcome: pending / applied / n/a
    since: datetime | None = None  # at >= since
    until: datetime | None = None  # at < until

    def conditions(self) -> list[Any]:
        conds: list[Any] = []
        actor = _clean(self.actor, "Actor").lower()
        person = _clean(self.person, "Person")
        if actor:
            conds.append(Event.actor_email == actor)
        if person:
            conds.append(Event.object_email == person.lower() if "@" in person else Event.object_id == person)
        if self.action:
            if self.action not in ACTION_LABELS:
                raise InvalidInput(f"Unknown action {str(self.action)[:40]!r}.")
            conds.append(Event.action == self.action)
        if self.outcome:
            if self.outcome not in OUTCOMES:
                raise InvalidInput(f"Unknown store outcome {str(self.outcome)[:40]!r}.")
            conds.append(Event.mongo_outcome == self.outcome)
        for bound, name in ((self.since, "since"), (self.until, "until")):
            if bound is not None and not isinstance(bound, datetime):
                raise InvalidInput(f"The time range's {name} must be a date and time.")
        if self.since is not None:
            conds.append(Event.at >= self.since)
        if self.until is not None:
            conds.append(Event.at < self.until)
        return conds


def _clean(value: object, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text.")
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    if len(value) > 254:
        raise InvalidInput(f"{field} is too long (at most 254 characters).")
    return value


def as_row(e: Event) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "actor": e.actor_email, "action": e.action, "object_kind": e.object_kind,
            "object_id": e.object_id, "object_email": e.object_email, "version": e.object_version,
            "before": e.before, "after": e.after, "postgresql": e.pg_outcome, "mongodb": e.mongo_outcome,
            "request_id": e.request_id, "reverts": e.reverts_id, "applied_at": e.applied_at, "note": e.note}


def list_events(filters: EventFilter = EventFilter(), *, before_id: int | None = None,
                limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """One page of events, newest first: ``before_id`` is the last id of the previous page (keyset)."""
    limit = min(max(int(limit), 1), MAX_PAGE_SIZE)
    stmt = select(Event).where(and_(True, *filters.conditions()))
    if before_id is not None:
        stmt = stmt.where(Event.id < int(before_id))
    with pg.new_session() as session:
        return [as_row(e) for e in session.scalars(stmt.order_by(Event.id.desc()).limit(limit))]


def get_event(event_id: object) -> dict[str, Any]:
    try:
        eid = int(event_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NotFound("No such event.") from None
    with pg.new_session() as session:
        event = session.get(Event, eid)
        if event is None:
            raise NotFound("No such event.")
        return as_row(event)


def export_events(filters: EventFilter = EventFilter(), *, limit: int = EXPORT_LIMIT) -> list[dict[str, Any]]:
    """Exactly the filtered rows (newest first, at most ``limit``), flat, for CSV or JSON."""
    stmt = select(Event).where(and_(True, *filters.conditions())).order_by(Event.id.desc())
    with pg.new_session() as session:
        rows = [as_row(e) for e in session.scalars(stmt.limit(min(max(int(limit), 1), EXPORT_LIMIT)))]
    return [{**r, "at": _iso(r["at"]), "applied_at": _iso(r["applied_at"]),
             "before": json.dumps(r["before"], sort_keys=True, ensure_ascii=False) if r["before"] is not None else "",
             "after": json.dumps(r["after"], sort_keys=True, ensure_ascii=False) if r["after"] is not None else ""}
            for r in rows]


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def formula_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: formula_safe("" if v is None else str(v)) for k, v in row.items()})
    return out.getvalue().encode("utf-8")


def to_json(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps([{**r, "before": json.loads(r["before"]) if r["before"] else None,
                        "after": json.loads(r["after"]) if r["after"] else None} for r in rows],
                      ensure_ascii=False, indent=1, default=str).encode("utf-8")


def actor_emails(limit: int = 200) -> list[str]:
    """Distinct actors (for the explorer's picker), by their email index."""
    with pg.new_session() as session:
        return list(session.scalars(select(Event.actor_email).group_by(Event.actor_email)
                                    .order_by(Event.actor_email).limit(limit)))


# ------------------------------------------------------------------ diffs and a person's timeline


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Field by field: ``{"field", "old", "new"}`` for every field whose value differs."""
    before, after = before or {}, after or {}
    return [{"field": k, "old": before.get(k), "new": after.get(k)}
            for k in list(dict.fromkeys([*before, *after])) if before.get(k) != after.get(k)]


def _show(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "∅"
    return str(value)


def readable(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """``role: member → admin; company: A → B`` (one line per event in the timeline)."""
    return "; ".join(f"{d['field']}: {_show(d['old'])} → {_show(d['new'])}" for d in diff(before, after))


def person_history(person_id: object, *, limit: int = 200) -> list[dict[str, Any]]:
    """A person's events, newest first, each with its readable diff (``changes``) and per-field ``diff``."""
    person = _clean(person_id, "Person")
    if not person:
        return []
    rows = list_events(EventFilter(person=person), limit=min(int(limit), MAX_PAGE_SIZE))
    return [{**r, "label": ACTION_LABELS.get(r["action"], r["action"]), "diff": diff(r["before"], r["after"]),
             "changes": readable(r["before"], r["after"])} for r in rows]
