"""Agreement between the stores: role drift (PostgreSQL user vs Mongo profile), orphans, bad links."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from p2p_store import mongo, pg
from p2p_store.models import User


def _pg_roles() -> dict[str, str]:
    with pg.new_session() as session:
        return {str(uid): role for uid, role in session.execute(select(User.id, User.role))}


def _profile_roles() -> dict[str, str]:
    cursor = mongo.get_db()[mongo.PROFILES].find({}, {"role": 1})
    return {doc["_id"]: doc.get("role") for doc in cursor}


def role_drift() -> list[dict[str, Any]]:
    """People whose role differs between the stores, and accounts/profiles missing their other half."""
    pg_roles, profile_roles = _pg_roles(), _profile_roles()
    rows = []
    for uid, role in pg_roles.items():
        if uid not in profile_roles:
            rows.append({"user_id": uid, "pg_role": role, "mongo_role": None, "problem": "no profile"})
        elif profile_roles[uid] != role:
            rows.append({"user_id": uid, "pg_role": role, "mongo_role": profile_roles[uid],
                         "problem": "role differs"})
    for uid, role in profile_roles.items():
        if uid not in pg_roles:
            rows.append({"user_id": uid, "pg_role": None, "mongo_role": role, "problem": "profile without account"})
    return rows


def drift_counts() -> dict[str, int]:
    """``{"role_drift": n, "orphans": m}`` for the health report (two projections, no joins)."""
    rows = role_drift()
    drift = sum(1 for r in rows if r["problem"] == "role differs")
    return {"role_drift": drift, "orphans": len(rows) - drift}


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except (ValueError, TypeError, AttributeError):
        return False
