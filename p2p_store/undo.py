"""Undo from the event log (#16.3): revert a role change, a profile edit, a (de)activation or a
config edit from its event, through the same services as any change (authorization in
p2p_store/access.py, the last-admin rule, both stores through the outbox, optimistic version).

A revert is refused, with nothing written, when:
- the person asking is not an active admin;
- the event is of a kind that cannot be reverted (a delete: the password and sign-ins are gone, and
  the id may belong to a new account by now);
- the object changed since: a field the event set no longer holds the value it set (the event is
  stale), or the account was changed again between the preview and the click (version check).
The revert is itself an event, pointing at the event it reverts (``reverts_id``).
"""

from __future__ import annotations

import json
from typing import Any

from p2p_store import access, audit
from p2p_store.accounts import directory, lifecycle
from p2p_store.data import config
from p2p_store.errors import Conflict, InvalidInput, NotFound
from p2p_store.stores import pg
from p2p_store.stores.models import SystemConfig, User

REVERTIBLE = ("change_role", "update_account", "deactivate", "reactivate", "edit_config")
PROFILE_FIELDS = ("full_name", "email", "company", "industry", "city", "job_title", "expertise")


def _admin_first(actor_id: object) -> None:
    with pg.new_session() as session:
        access.require_admin(session, actor_id, what="revert a change")


def _current_account(event: dict[str, Any]) -> dict[str, Any]:
    try:
        return directory.get_account(user_id=event["object_id"])
    except NotFound:
        raise NotFound("That account no longer exists; nothing was changed.") from None


def _comparable(field: str, value: Any) -> Any:
    if field == "expertise" and isinstance(value, list):
        return ", ".join(value)
    return value


def _current_values(event: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The object's present value of every field the event changed, and the account's version."""
    if event["object_kind"] == "config":
        with pg.new_session() as session:
            row = session.get(SystemConfig, event["object_id"])
        if row is None:
            raise NotFound("That configuration key no longer exists; nothing was changed.")
        return {"value": row.value}, None
    account = _current_account(event)
    return {k: account.get(k) for k in (event["after"] or {})}, account["version"]


def _blocked(event: dict[str, Any]) -> str | None:
    """Why this event cannot be reverted at all, or None."""
    if event["action"] == "delete_account":
        with pg.new_session() as session:
            uid = access.as_uuid(event["object_id"])
            reused = uid is not None and session.get(User, uid) is not None
        if reused:
            return "That account's id now belongs to a new account, so the delete cannot be reverted."
        return "A deleted account cannot be restored from the log (its password and sign-ins are gone)."
    if event["action"] not in REVERTIBLE:
        return f"A {audit.ACTION_LABELS.get(event['action'], event['action'])} event cannot be reverted."
    return None


def preview_revert(*, actor_id: str, event_id: object) -> dict[str, Any]:
    """What a revert of this event would change: ``changes`` [{field, now, after_revert}], or the
    reason it cannot (``blocked``). Admins only; reads, writes nothing."""
    _admin_first(actor_id)
    event = audit.get_event(event_id)
    reason = _blocked(event)
    if reason:
        return {"event": event, "blocked": reason, "changes": []}
    try:
        now, version = _current_values(event)
    except NotFound as exc:
        return {"event": event, "blocked": str(exc), "changes": []}
    stale = [k for k, v in (event["after"] or {}).items()
             if _comparable(k, now.get(k)) != _comparable(k, v) and k != "region"]
    if stale:
        reason = (f"The {', '.join(stale)} changed since this event (now {', '.join(repr(now[k]) for k in stale)}); "
                  "reverting it would overwrite the later change. Nothing was changed.")
        return {"event": event, "blocked": reason, "changes": [], "stale": True}
    changes = [{"field": k, "now": now.get(k), "after_revert": (event["before"] or {}).get(k)}
               for k in (event["after"] or {}) if k != "region"]
    return {"event": event, "blocked": None, "changes": changes, "version": version}


def revert_event(*, actor_id: str, event_id: object) -> dict[str, Any]:
    """Revert one event (see the module's doc for when it is refused). Returns the service's result."""
    plan = preview_revert(actor_id=actor_id, event_id=event_id)
    if plan["blocked"]:
        raise (Conflict if plan.get("stale") else InvalidInput)(plan["blocked"])
    event, version = plan["event"], plan["version"]
    before = event["before"] or {}
    with audit.reverting(event["id"]):
        if event["action"] == "change_role":
            return directory.change_role(actor_id=actor_id, user_id=event["object_id"], new_role=before["role"],
                                         expected_version=version)
        if event["action"] in ("deactivate", "reactivate"):
            return lifecycle.set_active(actor_id=actor_id, user_id=event["object_id"],
                                        active=bool(before["is_active"]), expected_version=version)
        if event["action"] == "update_account":
            account = _current_account(event)
            fields = {k: account.get(k, "") for k in PROFILE_FIELDS}
            fields.update({k: before[k] for k in PROFILE_FIELDS if k in before and before[k] is not None})
            return lifecycle.update_account(actor_id=actor_id, user_id=event["object_id"], expected_version=version,
                                            **fields)
        return config.update_config(actor_id=actor_id, key=event["object_id"],
                                    value_text=json.dumps(before["value"]))
