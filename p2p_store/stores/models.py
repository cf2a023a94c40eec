"""PostgreSQL schema (SQLAlchemy 2 typed ORM). The source of truth for accounts, roles and sign-ins.

The schema is created only by Alembic (``migrations/``); ``alembic check`` proves the two agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from p2p_store.vocabulary import ROLES  # noqa: F401 - re-exported for the models' users

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONB, uuid.UUID: UUID(as_uuid=True)}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class User(TimestampMixin, Base):
    """An account. ``version`` is bumped by every update (optimistic locking for role edits)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'member', 'user')", name="role_allowed"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    full_name: Mapped[str] = mapped_column(String(120))
    company: Mapped[str] = mapped_column(String(160), server_default="")
    role: Mapped[str] = mapped_column(String(16), index=True, server_default="user")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default="false")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}


class UserSession(Base):
    """A sign-in. Only the SHA-256 of the token is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_agent: Mapped[str] = mapped_column(String(512), server_default="")

    user: Mapped[User] = relationship(back_populates="sessions")


class SystemConfig(Base):
    """Key/value settings of the platform (the last-seed record among them)."""

    __tablename__ = "system_configs"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    description: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    updated_by: Mapped[str | None] = mapped_column(String(254))


class Event(Base):
    """The append-only event log, and the outbox of MongoDB writes (#16, docs/architecture.md).

    One row per change: who (actor), what (action, object kind/id/email), the fields ``before`` and
    ``after`` (JSON, never a password), the outcome in each store and the request id. A trigger
    (migration 0002_events) refuses UPDATE, DELETE and TRUNCATE, except the one transition
    ``mongo_outcome`` pending → applied (with ``applied_at``). ``object_version`` is the account's
    version after the change: the projector never lets an older event overwrite a newer profile.
    No foreign keys: the log outlives the accounts it mentions.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_object_id_id", "object_id", "id"),
        Index("ix_events_object_email_id", "object_email", "id"),
        Index("ix_events_actor_email_id", "actor_email", "id"),
        Index("ix_events_action_id", "action", "id"),
        Index("ix_events_at", "at"),
        Index("ix_events_pending", "id", postgresql_where=text("mongo_outcome = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(32))
    object_kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(100))
    object_email: Mapped[str] = mapped_column(String(254), server_default="")
    object_version: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    pg_outcome: Mapped[str] = mapped_column(String(16), server_default="applied")
    mongo_outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(36))
    reverts_id: Mapped[int | None] = mapped_column(BigInteger)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, server_default="")


class SignInFailure(Base):
    """Sign-in attempts per account in the current window, keyed by an HMAC of the normalised email
    (never what was typed, #14.3); one row keyed ``*all*`` counts bursts across accounts."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
