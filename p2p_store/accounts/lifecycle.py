"""The whole life of an account, always in both stores at once: create, edit, deactivate/reactivate,
delete, reset a password, change one's own password, and sign-in sessions.

Pattern of every write (#16, the transactional outbox): one PostgreSQL transaction (row locked,
access and version checked, the change and its event, pending in MongoDB), then right after the
commit :func:`p2p_store.outbox.apply_after_commit` copies it to the profile and marks the event
applied. MongoDB down is not a refusal: the change stands and shows as "pending in MongoDB" until
a projector applies it (p2p_store/outbox.py).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pymongo.errors
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2p_store import access, audit, outbox, vocabulary
from p2p_store.accounts.auth import SignedIn, _token_hash
from p2p_store.accounts.directory import clean_text
from p2p_store.accounts.passwords import hash_password, temporary_password, verify_password
from p2p_store.errors import InvalidInput, NotFound, PermissionDenied
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import User, UserSession
from p2p_store.vocabulary import ROLES

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 10
MAX_EXPERTISE = 10
PROFILE_ONLY = ("industry", "city", "region", "job_title", "expertise")  # fields MongoDB alone holds


@dataclass(frozen=True)
class AccountFields:
    """Validated account + profile fields."""

    full_name: str
    email: str
    company: str
    industry: str
    city: str
    region: str
    job_title: str
    expertise: list[str]


def known_cities() -> list[str]:
    return [c["name"] for c in vocabulary.cities()]


def validate_fields(*, full_name: object, email: object, company: object = "", industry: object = "",
                    city: object = "", job_title: object = "", expertise: object = "") -> AccountFields:
    """Check every field; InvalidInput names the first bad one."""
    full_name = clean_text(full_name, field="Name", max_len=120)
    if not full_name:
        raise InvalidInput("Name is required.")
    email = clean_text(email, field="Email", max_len=254).lower()
    if not EMAIL_RE.match(email):
        raise InvalidInput("Email does not look like an email address (name@company.com).")
    company = clean_text(company, field="Company", max_len=160)
    industry = clean_text(industry, field="Industry", max_len=80)
    if industry and industry not in vocabulary.industries():
        raise InvalidInput("Industry must be one of the listed industries.")
    city = clean_text(city, field="City", max_len=80)
    job_title = clean_text(job_title, field="Job title", max_len=120)
    if isinstance(expertise, str):
        items = [clean_text(x, field="Expertise", max_len=60) for x in expertise.split(",")]
    elif isinstance(expertise, list | tuple):
        items = [clean_text(x, field="Expertise", max_len=60) for x in expertise]
    else:
        raise InvalidInput("Expertise must be text, separated by commas.")
    items = [x for x in items if x]
    if len(items) > MAX_EXPERTISE:
        raise InvalidInput(f"At most {MAX_EXPERTISE} areas of expertise.")
    return AccountFields(full_name, email, company, industry, city, vocabulary.region_of(city), job_title, items)


def _check_role(role: object) -> str:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {str(role)[:40]!r}; pick one of {', '.join(ROLES)}.")
    return str(role)


def _locked_user(session: Session, user_id: object, expected_version: object | None = None) -> User:
    """The account row locked for this transaction, version-checked when the page sent one."""
    uid = access.as_uuid(user_id)
    user = session.scalar(select(User).where(User.id == uid).with_for_update()) if uid else None
    if user is None:
        raise NotFound("No such account.")
    access.check_version(user, expected_version)
    return user


def _event(session: Session, actor: User, user: User, action: str, *, before: dict[str, Any] | None,
           after: dict[str, Any] | None, mongo: str = "pending", note: str = "",
           version: int | None = None) -> int:
    """The one event of this change (p2p_store/audit.py), in the same transaction; returns its id."""
    return audit.record(session, actor_id=actor.id, actor_email=actor.email, action=action, kind="account",
                        object_id=user.id, object_email=user.email,
                        version=user.version if version is None else version, before=before, after=after,
                        mongo=mongo, note=note).id


def _current_profile(user_id: uuid.UUID) -> dict[str, Any] | None:
    """The profile as MongoDB has it now, or None when MongoDB does not answer (the edit still goes
    ahead; the event then records the profile-only fields' old values as unknown)."""
    try:
        return mongo.get_db()[mongo.PROFILES].find_one({"_id": str(user_id)}) or {}
    except pymongo.errors.PyMongoError:
        return None


def _email_taken(session: Session, email: str, except_id: uuid.UUID | None = None) -> bool:
    stmt = select(User.id).where(User.email == email)
    if except_id is not None:
        stmt = stmt.where(User.id != except_id)
    return session.scalar(stmt) is not None


def create_account(*, actor_id: str, full_name: str, email: str, company: str = "", role: str = "user",
                   industry: str = "", city: str = "", job_title: str = "", expertise: str | list[str] = "",
                   ) -> dict[str, Any]:
    """Create an account and its profile (admins only). Returns the account and a one-time temporary
    password, shown once; the person must set their own at first sign-in."""
    fields = validate_fields(full_name=full_name, email=email, company=company, industry=industry, city=city,
                             job_title=job_title, expertise=expertise)
    role = _check_role(role)
    uid = vocabulary.user_id_for(fields.email)
    password = temporary_password()
    with pg.new_session() as session, session.begin():
        actor = access.require_admin(session, actor_id)
        if _email_taken(session, fields.email):
            raise InvalidInput("An account with this email exists.")
        user = User(id=uid, email=fields.email, full_name=fields.full_name, company=fields.company, role=role,
                    password_hash=hash_password(password), is_active=True, must_change_password=True)
        session.add(user)
        try:
            session.flush()
        except IntegrityError:
            raise InvalidInput("An account with this email exists.") from None
        after = {"full_name": fields.full_name, "email": fields.email, "company": fields.company, "role": role,
                 "is_active": True, **{k: getattr(fields, k) for k in PROFILE_ONLY}}
        event_id = _event(session, actor, user, "create_account", before=None, after=after,
                          note=f"created as {role}")
    outcome = outbox.apply_after_commit(event_id, str(uid))
    return {"id": str(uid), "email": fields.email, "full_name": fields.full_name, "role": role,
            "temporary_password": password, "mongo_outcome": outcome}


def update_account(*, actor_id: str, user_id: str, expected_version: int, full_name: str, email: str,
                   company: str = "", industry: str = "", city: str = "", job_title: str = "",
                   expertise: str | list[str] = "") -> dict[str, Any]:
    """Edit an account and its profile. Admins may edit anyone; a person may edit their own fields
    (not their email or role). Optimistic locking on the account's version."""
    fields = validate_fields(full_name=full_name, email=email, company=company, industry=industry, city=city,
                             job_title=job_title, expertise=expertise)
    with pg.new_session() as session, session.begin():
        actor = access.require_self_or_admin(session, actor_id, user_id,
                                             message="You may edit only your own profile; nothing was changed.")
        user = _locked_user(session, user_id, expected_version)
        if actor.role != "admin" and fields.email != user.email:
            raise PermissionDenied("Only an admin may change an email address; nothing was changed.")
        if _email_taken(session, fields.email, except_id=user.id):
            raise InvalidInput("An account with this email exists.")
        profile = _current_profile(user.id)
        old = {"full_name": user.full_name, "email": user.email, "company": user.company}
        if profile is not None:
            old.update({k: profile.get(k, [] if k == "expertise" else "") for k in PROFILE_ONLY})
        new = {"full_name": fields.full_name, "email": fields.email, "company": fields.company,
               **{k: getattr(fields, k) for k in PROFILE_ONLY}}
        if fields.city and not fields.region and old.get("region"):
            new["region"] = old["region"]  # a city not in the list keeps the region it had (#15.6: Arabic spellings)
        changed = [k for k in new if k not in old or old[k] != new[k]]
        user.full_name, user.email, user.company = fields.full_name, fields.email, fields.company
        if changed:
            user.updated_at = func.now()  # a profile-only edit bumps the version too (optimistic locking)
        session.flush()
        before = {k: old.get(k) for k in changed}
        after = {k: new[k] for k in changed}
        note = audit.readable(before, after) or "no change"
        if profile is None:
            note += " (MongoDB did not answer: earlier profile values unknown)"
        event_id = _event(session, actor, user, "update_account", before=before, after=after,
                          mongo="pending" if changed else "n/a", note=note)
        uid, version = user.id, user.version
    outcome = outbox.apply_after_commit(event_id, str(uid)) if changed else "n/a"
    return {"id": str(uid), "version": version, "changes": note, "mongo_outcome": outcome}


def set_active(*, actor_id: str, user_id: str, active: bool, expected_version: int) -> dict[str, Any]:
    """Deactivate (sign-ins end at once; cannot sign in) or reactivate an account. Admins only;
    the last active admin cannot be deactivated."""
    if not isinstance(active, bool):
        raise InvalidInput("Active must be yes or no.")
    with pg.new_session() as session, session.begin():
        actor = access.require_admin(session, actor_id)
        user = _locked_user(session, user_id, expected_version)
        if user.is_active == active:
            raise InvalidInput(f"{user.full_name} is already {'active' if active else 'inactive'}.")
        if not active:
            access.ensure_not_last_admin(session, user)
        user.is_active = active
        ended = 0
        if not active:
            ended = session.execute(delete(UserSession).where(UserSession.user_id == user.id)).rowcount
        session.flush()
        event_id = _event(session, actor, user, "reactivate" if active else "deactivate",
                          before={"is_active": not active}, after={"is_active": active},
                          note=f"{ended} sign-in(s) ended" if not active else "")
        uid, version = user.id, user.version
    outcome = outbox.apply_after_commit(event_id, str(uid))
    return {"id": str(uid), "is_active": active, "sessions_ended": ended, "version": version,
            "mongo_outcome": outcome}


def delete_account(*, actor_id: str, user_id: str, confirm: str) -> dict[str, Any]:
    """Delete an account, its sign-ins (cascade) and its profile (admins only; typed confirmation:
    the person's email). Their forum posts and replies stay, shown as by "former member"."""
    with pg.new_session() as session, session.begin():
        actor = access.require_admin(session, actor_id)
        user = _locked_user(session, user_id)
        if not isinstance(confirm, str) or confirm.strip().lower() != user.email:
            raise InvalidInput(f"Type the account's email ({user.email}) to confirm; nothing was deleted.")
        if user.id == actor.id:
            raise InvalidInput("You cannot delete your own account.")
        access.ensure_not_last_admin(session, user)
        uid, email, name = user.id, user.email, user.full_name
        before = {"full_name": user.full_name, "email": user.email, "company": user.company, "role": user.role,
                  "is_active": user.is_active}
        event_id = _event(session, actor, user, "delete_account", before=before, after=None,
                          note=f"deleted {name}; posts kept as former member")
        session.delete(user)
        session.flush()
    outcome = outbox.apply_after_commit(event_id, str(uid))
    return {"id": str(uid), "email": email, "full_name": name, "mongo_outcome": outcome}


def reset_password(*, actor_id: str, user_id: str) -> dict[str, Any]:
    """A new one-time temporary password (shown once); every sign-in of that person ends. Admins only."""
    password = temporary_password()
    with pg.new_session() as session, session.begin():
        actor = access.require_admin(session, actor_id)
        user = _locked_user(session, user_id)
        was_temporary = user.must_change_password
        user.password_hash = hash_password(password)
        user.must_change_password = True
        ended = session.execute(delete(UserSession).where(UserSession.user_id == user.id)).rowcount
        session.flush()
        _event(session, actor, user, "reset_password", before={"must_change_password": was_temporary},
               after={"must_change_password": True}, mongo="n/a", note=f"{ended} sign-in(s) ended")
        name = user.full_name
    return {"id": str(user_id), "full_name": name, "temporary_password": password, "sessions_ended": ended}


def change_own_password(*, me: SignedIn, current_password: str, new_password: str) -> bool:
    """A person sets their own password (required after a temporary one). Other sign-ins end."""
    if not isinstance(new_password, str) or not isinstance(current_password, str):
        raise InvalidInput("Enter your current and your new password.")
    if len(new_password) < MIN_PASSWORD or len(new_password) > 1024:
        raise InvalidInput(f"The new password needs at least {MIN_PASSWORD} characters.")
    if new_password == current_password:
        raise InvalidInput("The new password must differ from the current one.")
    with pg.new_session() as session, session.begin():
        user = _locked_user(session, me.user_id)
        if not verify_password(user.password_hash, current_password):
            raise InvalidInput("Your current password is wrong.")
        was_temporary = user.must_change_password
        user.password_hash = hash_password(new_password)
        user.must_change_password = False

        session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                  UserSession.token_hash != _token_hash(me.token)))
        session.flush()
        _event(session, user, user, "change_own_password", before={"must_change_password": was_temporary},
               after={"must_change_password": False}, mongo="n/a", note="by the person")
    return True


def list_sessions(*, actor_id: str, mine_only: bool = False, current_token: str | None = None
                  ) -> list[dict[str, Any]]:
    """Active sign-ins: all of them for an admin, one's own otherwise (or with ``mine_only``);
    ``current`` marks the sign-in of ``current_token``."""

    current_hash = _token_hash(current_token) if current_token else None
    with pg.new_session() as session:
        actor = access.actor(session, actor_id)
        stmt = (select(UserSession, User.full_name, User.email).join(User, User.id == UserSession.user_id)
                .where(UserSession.expires_at > func.now()).order_by(UserSession.last_seen_at.desc()).limit(500))
        if mine_only or actor.role != "admin":
            stmt = stmt.where(UserSession.user_id == actor.id)
        rows = session.execute(stmt).all()
    return [{"session_id": str(s.id), "name": name, "email": email, "since": s.created_at,
             "last_seen": s.last_seen_at, "expires": s.expires_at, "browser": s.user_agent[:60],
             "current": s.token_hash == current_hash} for s, name, email in rows]


def end_session(*, actor_id: str, session_id: str) -> bool:
    """End one sign-in: admins any, a person only their own."""
    sid = access.as_uuid(session_id)
    if sid is None:
        raise NotFound("No such sign-in.")
    with pg.new_session() as session, session.begin():
        target = session.get(UserSession, sid)
        if target is None:
            raise NotFound("No such sign-in (it may have ended already).")
        actor = access.require_self_or_admin(session, actor_id, target.user_id,
                                             message="You may end only your own sign-ins.")
        owner = session.get(User, target.user_id)
        since = f"{target.created_at:%Y-%m-%d %H:%M}"
        session.delete(target)
        if owner is not None:
            _event(session, actor, owner, "end_session", before={"sign_in_since": since}, after={"sign_in_since": None},
                   mongo="n/a", note=f"sign-in since {since}")
    return True
