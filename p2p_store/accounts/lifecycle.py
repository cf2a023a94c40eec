"""The whole life of an account, always in both stores at once: create, edit, deactivate/reactivate,
delete, reset a password, change one's own password, and sign-in sessions.

Pattern of every write: PostgreSQL transaction (row locked, version checked, audit row), then the
Mongo profile; a failed profile write rolls PostgreSQL back, and a failed PostgreSQL commit after
the profile write puts the profile back, so the two stores never disagree.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymongo.errors
from pymongo import WriteConcern
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2p_store import access, vocabulary
from p2p_store.accounts.auth import SignedIn, _token_hash
from p2p_store.accounts.directory import clean_text
from p2p_store.accounts.passwords import hash_password, temporary_password, verify_password
from p2p_store.errors import InvalidInput, NotFound, PermissionDenied, StoreUnavailable
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import RoleChange, User, UserSession
from p2p_store.vocabulary import ROLES

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 10
MAX_EXPERTISE = 10
_DURABLE = WriteConcern(w=1, j=True)
STORE_DOWN = "MongoDB did not answer, so nothing was changed in either store. Try again when it is back."


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


def _audit(session: Session, actor: User, user: User | None, action: str, *, note: str, mongo_outcome: str,
           user_id: uuid.UUID | None = None, email: str | None = None, old_role: str | None = None,
           new_role: str | None = None) -> None:
    session.add(RoleChange(changed_by_id=actor.id, changed_by_email=actor.email,
                           user_id=user.id if user else user_id, user_email=user.email if user else (email or ""),
                           action=action, old_role=old_role, new_role=new_role, pg_outcome="applied",
                           mongo_outcome=mongo_outcome, note=note[:2000]))


def _profiles():
    return mongo.get_db()[mongo.PROFILES].with_options(write_concern=_DURABLE)


@contextmanager
def _mongo_step() -> Iterator[None]:
    """A Mongo read or write inside a PostgreSQL transaction: if it fails, the transaction rolls back."""
    try:
        yield
    except pymongo.errors.DuplicateKeyError:
        raise InvalidInput("An account with this email exists.") from None
    except pymongo.errors.PyMongoError as exc:
        raise StoreUnavailable(STORE_DOWN) from exc


def _profile_doc(uid: uuid.UUID, fields: AccountFields, role: str) -> dict[str, Any]:
    return {"_id": str(uid), "email": fields.email, "full_name": fields.full_name, "company": fields.company,
            "role": role, "industry": fields.industry, "city": fields.city, "region": fields.region,
            "job_title": fields.job_title, "expertise": fields.expertise, "bio": "",
            "joined_at": datetime.now(UTC)}


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
        with _mongo_step():
            # upsert: a leftover profile with this id (an earlier half-finished create) is replaced
            _profiles().replace_one({"_id": str(uid)}, _profile_doc(uid, fields, role), upsert=True)
        _audit(session, actor, user, "create_account", note=f"created as {role}", mongo_outcome="applied",
               new_role=role)
        try:
            session.flush()
        except Exception:
            _profiles().delete_one({"_id": str(uid)})
            raise
    return {"id": str(uid), "email": fields.email, "full_name": fields.full_name, "role": role,
            "temporary_password": password}


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
        before = {"full_name": user.full_name, "email": user.email, "company": user.company}
        with _mongo_step():
            old_profile = _profiles().find_one({"_id": str(user.id)}) or {}
        user.full_name, user.email, user.company = fields.full_name, fields.email, fields.company
        session.flush()
        update = {"email": fields.email, "full_name": fields.full_name, "company": fields.company,
                  "industry": fields.industry, "city": fields.city,
                  # a city not in the list keeps the region it had (#15.6: an Arabic spelling never clears it)
                  "region": fields.region or (old_profile.get("region", "") if fields.city else ""),
                  "job_title": fields.job_title, "expertise": fields.expertise, "role": user.role}
        with _mongo_step():
            _profiles().update_one({"_id": str(user.id)}, {"$set": update}, upsert=True)
        changed = {k: (old_profile.get(k, before.get(k)), v) for k, v in update.items()
                   if old_profile.get(k, before.get(k)) != v and k != "role"}
        note = "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in changed.items()) or "no change"
        _audit(session, actor, user, "update_account", note=note, mongo_outcome="applied")
        try:
            session.flush()
        except Exception:
            if old_profile:
                _profiles().replace_one({"_id": str(user.id)}, old_profile)
            raise
        return {"id": str(user.id), "version": user.version, "changes": note}


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
        with _mongo_step():
            _profiles().update_one({"_id": str(user.id)}, {"$set": {"is_active": active}})
        _audit(session, actor, user, "reactivate" if active else "deactivate",
               note=f"{ended} sign-in(s) ended" if not active else "", mongo_outcome="applied")
        return {"id": str(user.id), "is_active": active, "sessions_ended": ended, "version": user.version}


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
        with _mongo_step():
            profile = _profiles().find_one({"_id": str(user.id)})
        uid, email, name, role = user.id, user.email, user.full_name, user.role
        session.delete(user)
        session.flush()
        with _mongo_step():
            _profiles().delete_one({"_id": str(uid)})
        _audit(session, actor, None, "delete_account", user_id=uid, email=email, old_role=role,
               note=f"deleted {name}; posts kept as former member", mongo_outcome="applied")
        try:
            session.flush()
        except Exception:
            if profile:
                _profiles().insert_one(profile)
            raise
    return {"id": str(uid), "email": email, "full_name": name}


def reset_password(*, actor_id: str, user_id: str) -> dict[str, Any]:
    """A new one-time temporary password (shown once); every sign-in of that person ends. Admins only."""
    password = temporary_password()
    with pg.new_session() as session, session.begin():
        actor = access.require_admin(session, actor_id)
        user = _locked_user(session, user_id)
        user.password_hash = hash_password(password)
        user.must_change_password = True
        ended = session.execute(delete(UserSession).where(UserSession.user_id == user.id)).rowcount
        _audit(session, actor, user, "reset_password", note=f"{ended} sign-in(s) ended", mongo_outcome="n/a")
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
        user.password_hash = hash_password(new_password)
        user.must_change_password = False

        session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                  UserSession.token_hash != _token_hash(me.token)))
        _audit(session, user, user, "change_password", note="by the person", mongo_outcome="n/a")
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
        session.delete(target)
        _audit(session, actor, owner, "end_session", note=f"sign-in since {target.created_at:%Y-%m-%d %H:%M}",
               mongo_outcome="n/a")
    return True
