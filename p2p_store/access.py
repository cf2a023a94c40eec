"""Who may act: the one place the authorization rules live (docs/architecture.md, "Access").

Every service that changes data asks this module, inside the caller's transaction, with the actor
read fresh from PostgreSQL (never from the page): :func:`actor` (an active account),
:func:`require_admin`, :func:`require_self_or_admin`, :func:`ensure_not_last_admin` and
:func:`check_version` (optimistic locking). Pages may hide controls, but only these checks decide.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2p_store.errors import Conflict, InvalidInput, LastAdmin, PermissionDenied
from p2p_store.stores.models import User

SIGN_IN_INVALID = "Your sign-in is no longer valid; nothing was changed."
ADMINS_ONLY = "Only an admin may do this; nothing was changed."


def as_uuid(value: object) -> uuid.UUID | None:
    """A UUID from whatever a page or link passed, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def actor(session: Session, actor_id: object) -> User:
    """The acting person, if their account exists and is active."""
    uid = as_uuid(actor_id)
    person = session.get(User, uid) if uid else None
    if person is None or not person.is_active:
        raise PermissionDenied(SIGN_IN_INVALID)
    return person


def require_admin(session: Session, actor_id: object, *, what: str | None = None) -> User:
    """The acting person, if they are an active admin. ``what`` names the action in the refusal."""
    uid = as_uuid(actor_id)
    person = session.get(User, uid) if uid else None
    if person is None or person.role != "admin" or not person.is_active:
        raise PermissionDenied(f"Only an admin may {what}; nothing was changed." if what else ADMINS_ONLY)
    return person


def is_admin(session: Session, actor_id: object) -> bool:
    try:
        require_admin(session, actor_id)
    except PermissionDenied:
        return False
    return True


def require_self_or_admin(session: Session, actor_id: object, subject_id: object, *,
                          message: str = "You may change only your own account; nothing was changed.") -> User:
    """The acting person, if they act on themselves or are an active admin."""
    person = actor(session, actor_id)
    if person.role != "admin" and person.id != as_uuid(subject_id):
        raise PermissionDenied(message)
    return person


def ensure_not_last_admin(session: Session, user: User) -> None:
    """Refuse a change that would leave no active admin (demotion, deactivation, deletion of ``user``).

    Locks every other active admin row (FOR UPDATE), so two concurrent demotions cannot both see
    "one left".
    """
    if user.role != "admin" or not user.is_active:
        return
    others = session.scalars(select(User.id).where(User.role == "admin", User.is_active, User.id != user.id)
                             .with_for_update()).all()
    if not others:
        raise LastAdmin(f"{user.full_name} is the last active admin; make someone else admin first.")


def check_version(user: User, expected_version: object | None) -> None:
    """Optimistic locking: refuse when the record changed since the page read it."""
    if expected_version is None:
        return
    try:
        expected = int(expected_version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput("Missing record version; reload the page.") from None
    if user.version != expected:
        raise Conflict(f"{user.full_name}'s account was changed by someone else since you loaded it; "
                       "load the current version and try again.")
