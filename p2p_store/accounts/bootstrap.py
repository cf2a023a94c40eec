"""The way back in (#15.4): ``python -m p2p_store create-admin`` creates or reactivates an admin account
in both stores, from the command line (no acting admin exists by definition), audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import WriteConcern
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from p2p_store import audit, vocabulary
from p2p_store.accounts.lifecycle import MIN_PASSWORD, validate_fields
from p2p_store.accounts.passwords import hash_password
from p2p_store.errors import InvalidInput
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import User, UserSession

CLI_ACTOR = "command line (create-admin)"


def no_active_admin() -> bool:
    """True when nobody can administer the app (the sign-in page then names the way back in)."""
    with pg.new_session() as session:
        return session.scalar(select(User.id).where(User.role == "admin", User.is_active).limit(1)) is None


def _audit(session: Session, user: User, action: str, old_role: str | None, note: str) -> None:
    """The event of this change (p2p_store/audit.py); MongoDB is written here directly, so not pending."""
    audit.record(session, actor_id=None, actor_email=CLI_ACTOR, action=action, kind="account", object_id=user.id,
                 object_email=user.email, version=user.version, before={"role": old_role} if old_role else None,
                 after={"role": "admin", "is_active": True}, note=note)


def create_admin(*, email: str, password: str, full_name: str | None = None) -> dict[str, Any]:
    """Create an admin, or make an existing account an active admin with this password (its open
    sign-ins end). Both stores change; the PostgreSQL transaction commits only after MongoDB did."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise InvalidInput(f"The password needs at least {MIN_PASSWORD} characters.")
    name_given = bool(full_name and full_name.strip())
    fields = validate_fields(full_name=full_name if name_given else email.split("@")[0], email=email)
    profiles = mongo.get_db()[mongo.PROFILES].with_options(write_concern=WriteConcern(w=1, j=True))
    with pg.new_session() as session, session.begin():
        user = session.scalar(select(User).where(User.email == fields.email).with_for_update())
        if user is None:
            user = User(id=vocabulary.user_id_for(fields.email), email=fields.email, full_name=fields.full_name,
                        company="", role="admin", password_hash=hash_password(password), is_active=True,
                        must_change_password=False)
            session.add(user)
            session.flush()
            action, old_role, created = "create_account", None, True
        else:
            old_role, created = user.role, False
            action = "reactivate" if not user.is_active else "change_role"
            user.role, user.is_active, user.must_change_password = "admin", True, False
            user.password_hash = hash_password(password)
            if name_given:
                user.full_name = fields.full_name
            session.execute(delete(UserSession).where(UserSession.user_id == user.id))
            session.flush()
        profiles.update_one({"_id": str(user.id)}, {
            "$set": {"email": user.email, "full_name": user.full_name, "role": "admin", "is_active": True},
            "$setOnInsert": {"company": user.company, "industry": "", "city": "", "region": "", "job_title": "",
                             "expertise": [], "bio": "", "joined_at": datetime.now(UTC)}}, upsert=True)
        _audit(session, user, action, old_role, "create-admin from the command line; password set there")
        return {"id": str(user.id), "email": user.email, "full_name": user.full_name, "created": created,
                "old_role": old_role}
