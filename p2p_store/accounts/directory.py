"""Accounts joined with their Mongo profiles, and role changes across both stores as one unit."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from p2p_store import access, audit, outbox, vocabulary
from p2p_store.errors import DomainError, InvalidInput, NotFound
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import Event, User
from p2p_store.vocabulary import ROLES

MAX_SEARCH = 200  # characters of a search box
MAX_PAGE_SIZE = 200
EXPORT_LIMIT = 10_000  # rows in a CSV download
SORTABLE = {"full_name": User.full_name, "email": User.email, "company": User.company, "role": User.role,
            "is_active": User.is_active, "last_login_at": User.last_login_at, "created_at": User.created_at}


@dataclass(frozen=True)
class AccountPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max((self.total + self.page_size - 1) // self.page_size, 1)


def clean_text(value: object, *, field: str, max_len: int = MAX_SEARCH) -> str:
    """User text made safe to use: a string, no control characters, bounded length."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text.")
    value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in "\t\n").strip()
    if len(value) > max_len:
        raise InvalidInput(f"{field} is too long (at most {max_len} characters).")
    return value


def _like_pattern(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def known_industries() -> list[str]:
    return list(vocabulary.industries())


def _filters(search: str, role: str | None, active: bool | None, ids: list[uuid.UUID] | None) -> list[Any]:
    conds: list[Any] = []
    if search:
        pattern = _like_pattern(search)
        conds.append(or_(User.full_name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\"),
                         User.company.ilike(pattern, escape="\\")))
    if role:
        conds.append(User.role == role)
    if active is not None:
        conds.append(User.is_active == active)
    if ids is not None:
        conds.append(User.id.in_(ids))
    return conds


def _validated(search: object, role: object, industry: object, sort: object) -> tuple[str, str | None, str | None, str]:
    search = clean_text(search, field="Search")
    if role in ("", None):
        role = None
    elif role not in ROLES:
        raise InvalidInput(f"Unknown role {str(role)[:40]!r}; pick one of {', '.join(ROLES)}.")
    if industry in ("", None):
        industry = None
    elif not isinstance(industry, str) or industry not in known_industries():
        raise InvalidInput("Unknown industry; pick one from the list.")
    if sort not in SORTABLE:
        raise InvalidInput(f"Cannot sort by {str(sort)[:40]!r}.")
    return search, role, industry, sort  # type: ignore[return-value]


def _industry_ids(industry: str | None) -> list[uuid.UUID] | None:
    if industry is None:
        return None
    cursor = mongo.get_db()[mongo.PROFILES].find({"industry": industry}, {"_id": 1}).limit(EXPORT_LIMIT)
    return [u for u in (access.as_uuid(d["_id"]) for d in cursor) if u is not None]


_PROFILE_FIELDS = {"industry": 1, "city": 1, "expertise": 1, "role": 1, "job_title": 1}
_IN_BATCH = 50  # ids per $in: the embedded server's $in cost grows with ids × candidates
_SCAN_ABOVE = 200  # more ids than this: one projected pass over all profiles is cheaper than many $in


def _profiles_for(ids: list[str]) -> dict[str, dict[str, Any]]:
    """Profiles of these accounts, in a bounded number of indexed round trips."""
    coll = mongo.get_db()[mongo.PROFILES]
    if len(ids) > _SCAN_ABOVE:
        wanted = set(ids)
        return {d["_id"]: d for d in coll.find({}, _PROFILE_FIELDS).limit(EXPORT_LIMIT * 2) if d["_id"] in wanted}
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _IN_BATCH):
        found.update((d["_id"], d) for d in coll.find({"_id": {"$in": ids[start:start + _IN_BATCH]}}, _PROFILE_FIELDS))
    return found


def _with_profiles(users: list[User]) -> list[dict[str, Any]]:
    profiles = _profiles_for([str(u.id) for u in users])
    rows = []
    for u in users:
        p = profiles.get(str(u.id), {})
        rows.append({"id": str(u.id), "full_name": u.full_name, "email": u.email, "company": u.company,
                     "role": u.role, "industry": p.get("industry", ""), "city": p.get("city", ""),
                     "expertise": ", ".join(p.get("expertise", [])), "job_title": p.get("job_title", ""),
                     "is_active": u.is_active, "last_login_at": u.last_login_at, "created_at": u.created_at,
                     "version": u.version, "profile_role": p.get("role")})
    return rows


def _query(search: str, role: str | None, active: bool | None, ids: list[uuid.UUID] | None,
           sort: str, descending: bool) -> Select:
    order = SORTABLE[sort].desc().nulls_last() if descending else SORTABLE[sort].asc().nulls_last()
    return select(User).where(and_(True, *_filters(search, role, active, ids))).order_by(order, User.id)


def list_accounts(*, search: str = "", role: str | None = None, industry: str | None = None,
                  active: bool | None = None, sort: str = "full_name", descending: bool = False,
                  page: int = 1, page_size: int = 25) -> AccountPage:
    """One page of accounts joined with their profiles, filtered and sorted (search: name/email/company)."""
    search, role, industry, sort = _validated(search, role, industry, sort)
    page_size = min(max(int(page_size), 1), MAX_PAGE_SIZE)
    page = max(int(page), 1)
    ids = _industry_ids(industry)
    with pg.new_session() as session:
        total = session.scalar(select(func.count()).select_from(User)
                               .where(and_(True, *_filters(search, role, active, ids)))) or 0
        users = list(session.scalars(_query(search, role, active, ids, sort, descending)
                                     .offset((page - 1) * page_size).limit(page_size)))
    return AccountPage(_with_profiles(users), total, page, page_size)


def export_accounts(*, search: str = "", role: str | None = None, industry: str | None = None,
                    active: bool | None = None, sort: str = "full_name", descending: bool = False) -> list[dict]:
    """All accounts of the current filtered view (at most EXPORT_LIMIT), for a CSV download."""
    search, role, industry, sort = _validated(search, role, industry, sort)
    with pg.new_session() as session:
        users = list(session.scalars(_query(search, role, _bool(active), _industry_ids(industry), sort, descending)
                                     .limit(EXPORT_LIMIT)))
    rows = _with_profiles(users)
    from p2p_store.data.export import neutralise_cell  # formula cells neutralised for the CSV (#14)

    for row in rows:
        row.pop("version", None)
        row.pop("profile_role", None)
        row.update({k: neutralise_cell(v) for k, v in row.items()})
    return rows


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def count_by_role() -> dict[str, int]:
    with pg.new_session() as session:
        counts = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
    return {role: int(counts.get(role, 0)) for role in ROLES}


def get_account(*, user_id: str) -> dict[str, Any]:
    uid = access.as_uuid(user_id)
    if uid is None:
        raise NotFound("No such account.")
    with pg.new_session() as session:
        user = session.get(User, uid)
        if user is None:
            raise NotFound("No such account.")
    return _with_profiles([user])[0]


def people_choices() -> list[dict[str, Any]]:
    """Id, name, email, role and version of every account, for pickers (bounded)."""
    with pg.new_session() as session:
        rows = session.execute(select(User.id, User.full_name, User.email, User.role, User.version, User.is_active)
                               .order_by(User.full_name).limit(EXPORT_LIMIT)).all()
    return [{"id": str(r.id), "full_name": r.full_name, "email": r.email, "role": r.role, "version": r.version,
             "is_active": r.is_active} for r in rows]


def change_role(*, actor_id: str, user_id: str, new_role: str, expected_version: int) -> dict[str, Any]:
    """Change a person's role: PostgreSQL and its event (pending in MongoDB) in one transaction, then
    the profile's copy right after the commit (#16 outbox, p2p_store/outbox.py). MongoDB down does not
    refuse the change: ``mongo_outcome`` is then ``pending`` and a projector applies it later.
    Raises PermissionDenied, InvalidInput, NotFound, Conflict, LastAdmin.
    """
    if new_role not in ROLES:
        raise InvalidInput(f"Unknown role {str(new_role)[:40]!r}; pick one of {', '.join(ROLES)}.")
    uid = access.as_uuid(user_id)
    if uid is None:
        raise NotFound("No such account.")
    try:
        expected_version = int(expected_version)
    except (TypeError, ValueError):
        raise InvalidInput("Missing record version; reload the page.") from None
    with pg.new_session() as session, session.begin():
        actor = access.require_admin(session, actor_id)
        user = session.scalar(select(User).where(User.id == uid).with_for_update())
        if user is None:
            raise NotFound("No such account.")
        access.check_version(user, expected_version)
        old_role = user.role
        if old_role == new_role:
            raise InvalidInput(f"{user.full_name} already has the role {new_role}.")
        access.ensure_not_last_admin(session, user)
        user.role = new_role
        session.flush()  # bumps version; fails here if a concurrent writer got in first
        event_id = audit.record(session, actor_id=actor.id, actor_email=actor.email, action="change_role",
                                kind="account", object_id=uid, object_email=user.email, version=user.version,
                                before={"role": old_role}, after={"role": new_role}, mongo="pending").id
        new_version = user.version
        name = user.full_name
    mongo_outcome = outbox.apply_after_commit(event_id, str(uid))
    return {"user_id": str(uid), "full_name": name, "old_role": old_role, "new_role": new_role,
            "version": new_version, "mongo_outcome": mongo_outcome, "event_id": event_id}


def change_roles(*, actor_id: str, people: list[dict[str, Any]], new_role: str) -> list[dict[str, Any]]:
    """Bulk role change: each person is one unit of work; returns an outcome line per person."""
    outcomes = []
    with audit.request():  # one request id for the whole bulk change
        outcomes.extend(_change_each(actor_id, people, new_role))
    return outcomes


def _change_each(actor_id: str, people: list[dict[str, Any]], new_role: str) -> list[dict[str, Any]]:
    outcomes = []
    for person in people:
        try:
            done = change_role(actor_id=actor_id, user_id=person["id"], new_role=new_role,
                               expected_version=person["version"])
            outcomes.append({"id": person["id"], "ok": True, "message": f"{done['full_name']}: "
                             f"{done['old_role']} → {done['new_role']}"})
        except DomainError as exc:
            outcomes.append({"id": person["id"], "ok": False, "message": str(exc)})
    return outcomes


def list_role_changes(*, person: str = "", admin: str = "", limit: int = 200) -> list[dict[str, Any]]:
    """The event log, newest first, in the Users page's shape; ``person`` / ``admin`` filter by email or
    id substring. Reads through p2p_store/audit.py's table (#16)."""
    person = clean_text(person, field="Person filter")
    admin = clean_text(admin, field="Admin filter")
    stmt = select(Event).order_by(Event.id.desc())
    if person:
        pattern = _like_pattern(person)
        stmt = stmt.where(or_(Event.object_email.ilike(pattern, escape="\\"),
                              Event.object_id.ilike(pattern, escape="\\")))
    if admin:
        stmt = stmt.where(Event.actor_email.ilike(_like_pattern(admin), escape="\\"))
    with pg.new_session() as session:
        rows = session.scalars(stmt.limit(min(max(int(limit), 1), 1000))).all()
    return [{"when": r.at, "admin": r.actor_email, "person": r.object_email or r.object_id, "action": r.action,
             "old_role": (r.before or {}).get("role"), "new_role": (r.after or {}).get("role"),
             "postgresql": r.pg_outcome, "mongodb": r.mongo_outcome,
             "note": r.note or audit.readable(r.before, r.after)} for r in rows]
