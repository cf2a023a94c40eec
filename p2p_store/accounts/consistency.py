"""Agreement between the stores: role drift (PostgreSQL user vs Mongo profile), orphans, bad links."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from p2p_store import audit, outbox
from p2p_store.access import require_admin
from p2p_store.stores import figures, mongo, pg
from p2p_store.stores.models import Event, User


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


def repair_drift(*, actor_id: str) -> list[dict[str, Any]]:
    """Make every profile's copy of the account match PostgreSQL (admins only), one event per person.

    Each repair is an event pending in MongoDB, applied right after the commit by the projector
    (p2p_store/outbox.py), which also creates a missing profile from the account. A profile without
    an account is left in place and reported (deleting a person's profile is a decision for a
    person, not a repair).
    """
    done = []
    with pg.new_session() as session, session.begin():
        actor = require_admin(session, actor_id)
        for row in role_drift():
            if row["problem"] == "profile without account":
                done.append({**row, "action": "left in place (no account to copy from)"})
                continue
            user = session.get(User, uuid.UUID(row["user_id"]))
            if user is None:
                continue
            if row["problem"] == "no profile":
                action = "profile created from account"
            else:
                action = f"profile role {row['mongo_role']} → {user.role}"
            event = audit.record(session, actor_id=actor.id, actor_email=actor.email, action="repair_drift",
                         kind="account", object_id=user.id, object_email=user.email, version=user.version,
                         before={"role": row["mongo_role"]} if row["mongo_role"] is not None else None,
                         after={"email": user.email, "full_name": user.full_name, "company": user.company,
                                "role": user.role, "is_active": user.is_active},
                         mongo="pending", note=action)
            done.append({**row, "email": user.email, "action": action, "event_id": event.id})
    for row in done:
        if "event_id" in row:
            row["mongo_outcome"] = outbox.apply_after_commit(row["event_id"], row["user_id"])
    return done


def cached_drift_report() -> figures.Cached:
    """:func:`drift_report` from the figure cache: it reads every account and every profile, so a page
    run never waits for it (#17); refreshed at once after any write, within a minute otherwise."""
    return figures.FIGURES.get("role_drift", drift_report, figures.ACCOUNTS)


def drift_report() -> list[dict[str, Any]]:
    """Role drift rows with names and emails, for the drift panel."""
    rows = role_drift()
    if not rows:
        return []
    ids = [r["user_id"] for r in rows]
    with pg.new_session() as session:
        names = {str(u.id): (u.full_name, u.email) for u in session.scalars(
            select(User).where(User.id.in_([uuid.UUID(i) for i in ids if is_uuid(i)])))}
    prof = {d["_id"]: (d.get("full_name"), d.get("email")) for d in mongo.get_db()[mongo.PROFILES].find(
        {"_id": {"$in": ids}}, {"full_name": 1, "email": 1})}
    out = []
    for r in rows:
        name, email = names.get(r["user_id"]) or prof.get(r["user_id"]) or ("?", "?")
        out.append({"name": name, "email": email, **r})
    return out


# Saudi Arabia's bounding box (degrees): a point outside it is misplaced, one that fits only with
# lon/lat swapped was stored the wrong way round.
SAUDI_LON = (34.4, 55.7)
SAUDI_LAT = (16.3, 32.2)


def _inside(lon: float, lat: float) -> bool:
    return SAUDI_LON[0] <= lon <= SAUDI_LON[1] and SAUDI_LAT[0] <= lat <= SAUDI_LAT[1]


def deleted_account_ids() -> set[str]:
    """Ids of accounts deleted on purpose (from the audit): their posts are "former member", not orphans."""
    with pg.new_session() as session:
        return set(session.scalars(select(Event.object_id).where(Event.action == "delete_account")))


def unknown_forum_authors() -> list[dict[str, Any]]:
    """Authors of posts/replies with neither an account nor a deletion record."""
    db = mongo.get_db()
    known = set(_pg_roles()) | deleted_account_ids()
    out = []
    for name in (mongo.FORUM_POSTS, mongo.FORUM_REPLIES):
        for row in db[name].aggregate([{"$group": {"_id": "$author_id", "n": {"$sum": 1}}}]):
            if row["_id"] not in known:
                out.append({"collection": name, "author_id": row["_id"], "documents": row["n"]})
    return out


def broken_use_case_links() -> list[dict[str, Any]]:
    """Basic/detailed links that point nowhere or do not point back."""
    docs = {d["_id"]: d for d in mongo.get_db()[mongo.USE_CASES].find(
        {"$or": [{"detailed_version_id": {"$type": "string"}}, {"basic_version_id": {"$type": "string"}}]},
        {"title": 1, "detailed_version_id": 1, "basic_version_id": 1})}
    out = []
    for d in docs.values():
        for field, back in (("detailed_version_id", "basic_version_id"), ("basic_version_id", "detailed_version_id")):
            other_id = d.get(field)
            if other_id and (other_id not in docs or docs[other_id].get(back) != d["_id"]):
                out.append({"use_case": d["_id"], "title": d.get("title"), "field": field, "points_to": other_id})
    return out


def misplaced_use_cases() -> list[dict[str, Any]]:
    """Use cases with missing coordinates, coordinates outside Saudi Arabia, or lon/lat swapped."""
    out = []
    for d in mongo.get_db()[mongo.USE_CASES].find({}, {"title": 1, "location": 1}):
        coords = (d.get("location") or {}).get("coordinates")
        if not coords or len(coords) != 2 or not all(isinstance(c, int | float) for c in coords):
            out.append({"use_case": d["_id"], "title": d.get("title"), "problem": "no coordinates"})
        elif not _inside(*coords):
            problem = "lon/lat swapped" if _inside(coords[1], coords[0]) else "outside Saudi Arabia"
            out.append({"use_case": d["_id"], "title": d.get("title"), "problem": problem, "coordinates": coords})
    return out
