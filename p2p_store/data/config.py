"""System configuration (the ``system_configs`` rows, the last-seed record among them): list them,
and let an admin replace a value, with an audit row.

Each edit writes one event (p2p_store/audit.py): ``action="edit_config"``, object kind ``config``,
the key as object id, the old and new value as ``before`` / ``after``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from p2p_store import audit
from p2p_store.access import require_admin
from p2p_store.errors import Conflict, InvalidInput, NotFound
from p2p_store.stores import pg
from p2p_store.stores.models import Event, SystemConfig

MAX_VALUE_CHARS = 20_000  # characters of JSON text an admin may save for one key
MAX_KEY_CHARS = 100  # the column's width
MAX_ROWS = 500  # rows listed
EDIT_ACTION = "edit_config"


def list_configs(*, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """Every configuration row, by key: key, value (parsed JSON), description, updated_at, updated_by."""
    limit = min(max(int(limit), 1), MAX_ROWS)
    with pg.new_session() as session:
        rows = session.scalars(select(SystemConfig).order_by(SystemConfig.key).limit(limit)).all()
    return [{"key": r.key, "value": r.value, "description": r.description, "updated_at": r.updated_at,
             "updated_by": r.updated_by} for r in rows]


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not valid JSON; use null or a number.")


def parse_value(text: object) -> dict[str, Any]:
    """JSON text typed by a person, checked: a string, bounded, a JSON object, no NaN/Infinity."""
    if not isinstance(text, str):
        raise InvalidInput("The value must be JSON text.")
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidInput(f"The value is too long (at most {MAX_VALUE_CHARS:,} characters).")
    if not text.strip():
        raise InvalidInput("The value is empty; type a JSON object such as {\"enabled\": true}.")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"The value is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise InvalidInput("The value is nested too deeply.") from None
    if not isinstance(value, dict):
        raise InvalidInput("The value must be a JSON object (curly braces), e.g. {\"enabled\": true}.")
    if _has_nul(value):  # PostgreSQL's JSONB cannot hold U+0000
        raise InvalidInput("The value contains a NUL character (\\u0000).")
    return value


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_key(key: object) -> str:
    # PostgreSQL text cannot hold NUL, so no stored key has one (asked as it was, the lookup failed
    # as a store error, found by tests/test_hostile_input.py).
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise NotFound("No such configuration key.")
    return key


def update_config(*, actor_id: str, key: str, value_text: str,
                  expected_updated_at: datetime | None = None) -> dict[str, Any]:
    """Replace the value of an existing key (admins only), with an audit row, in one transaction.

    ``expected_updated_at`` is the row's ``updated_at`` when the page read it: if someone changed
    it since, nothing is written (Conflict). Raises PermissionDenied, NotFound, InvalidInput, Conflict.
    """
    with pg.new_session() as session, session.begin():
        actor = require_admin(session, actor_id)  # first: a non-admin learns nothing about keys or values
        key = _check_key(key)
        value = parse_value(value_text)
        row = session.scalar(select(SystemConfig).where(SystemConfig.key == key).with_for_update())
        if row is None:
            raise NotFound(f"No configuration key {key!r}.")
        if expected_updated_at is not None and row.updated_at != expected_updated_at:
            raise Conflict(f"{key!r} was changed by {row.updated_by or 'someone else'} since you loaded it; "
                           "reload and try again.")
        if row.value == value:
            raise InvalidInput(f"{key!r} already has this value; nothing was changed.")
        old_value = row.value
        row.value = value
        row.updated_by = actor.email
        audit.record(session, actor_id=actor.id, actor_email=actor.email, action=EDIT_ACTION, kind="config",
                     object_id=key, before={"value": old_value}, after={"value": value}, mongo="n/a", note=key)
        session.flush()
        session.refresh(row)
        return {"key": row.key, "value": row.value, "updated_at": row.updated_at, "updated_by": row.updated_by}


def list_config_changes(*, limit: int = 50) -> list[dict[str, Any]]:
    """The configuration edits, newest first: when, admin, key."""
    limit = min(max(int(limit), 1), 500)
    with pg.new_session() as session:
        rows = session.scalars(select(Event).where(Event.action == EDIT_ACTION)
                               .order_by(Event.id.desc()).limit(limit)).all()
    return [{"when": r.at, "admin": r.actor_email, "key": r.object_id} for r in rows]
