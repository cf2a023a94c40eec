"""Sign-in, sign-out and sign-in sessions against PostgreSQL (argon2 hashes, hashed tokens)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from p2p_store.accounts.passwords import verify_password
from p2p_store.errors import InvalidInput
from p2p_store.settings import get_settings
from p2p_store.stores import pg
from p2p_store.stores.models import SignInFailure, User, UserSession

GENERIC_FAILURE = "Email or password is wrong."
FREE_ATTEMPTS = 5  # failures per email before sign-in is slowed down
LOCKOUT_S = 30  # seconds to wait after each failure beyond FREE_ATTEMPTS
FAILURE_WINDOW = timedelta(minutes=15)  # failures older than this are forgotten
SEEN_EVERY = timedelta(seconds=60)  # how often last_seen_at is written (not on every rerun)
MAX_EMAIL = 254
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class SignedIn:
    """The person behind a session. ``token`` is the clear token; only its hash is stored."""

    user_id: str
    email: str
    full_name: str
    role: str
    token: str
    must_change_password: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def normalise_email(email: object) -> str:
    if not isinstance(email, str):
        raise InvalidInput("Enter an email address.")
    return email.strip().lower()


def _now() -> datetime:
    return datetime.now(UTC)


def _wait_left(session, email: str) -> int:
    row = session.get(SignInFailure, email)
    if row is None or row.failures < FREE_ATTEMPTS or _now() - row.last_failure_at > FAILURE_WINDOW:
        return 0
    return max(int(LOCKOUT_S - (_now() - row.last_failure_at).total_seconds()) + 1, 0)


def _record_failure(email: str) -> None:
    with pg.session_scope() as session:
        stmt = insert(SignInFailure).values(email=email, failures=1, last_failure_at=_now())
        session.execute(stmt.on_conflict_do_update(
            index_elements=["email"],
            set_={"failures": SignInFailure.failures + 1, "last_failure_at": _now()}))


def sign_in(*, email: str, password: str, user_agent: str = "") -> SignedIn:
    """Check the credentials and open a session. Any failure: one generic message (InvalidInput)."""
    email = normalise_email(email)
    if not email or not isinstance(password, str) or not password:
        raise InvalidInput("Enter your email and password.")
    if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD or "\x00" in email:
        raise InvalidInput(GENERIC_FAILURE)
    with pg.new_session() as session:
        wait = _wait_left(session, email)
        if wait:
            raise InvalidInput(f"Too many failed sign-ins for this email. Wait {wait} s and try again.")
        user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        _record_failure(email)
        raise InvalidInput(GENERIC_FAILURE)
    if not user.is_active:
        raise InvalidInput("This account is deactivated. Ask an admin to reactivate it.")
    token = secrets.token_urlsafe(32)
    ttl = timedelta(hours=get_settings().session_ttl_hours)
    with pg.session_scope() as session:
        session.add(UserSession(user_id=user.id, token_hash=_token_hash(token), expires_at=_now() + ttl,
                                user_agent=(user_agent or "")[:200]))
        # Core UPDATE: signing in must not bump the optimistic-lock version of the account.
        session.execute(update(User).where(User.id == user.id).values(last_login_at=_now()))
        session.execute(delete(SignInFailure).where(SignInFailure.email == email))
    return SignedIn(str(user.id), user.email, user.full_name, user.role, token, user.must_change_password)


def resolve_session(*, token: str | None) -> SignedIn | None:
    """The person signed in with this token, or None if it is unknown, expired, or the account is inactive.

    Reads the role fresh from PostgreSQL, so a role change applies on the person's next action.
    """
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    with pg.new_session() as session:
        row = session.execute(
            select(UserSession, User).join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == _token_hash(token))
        ).first()
        if row is None:
            return None
        sess, user = row
        now = _now()
        if sess.expires_at <= now or not user.is_active:
            session.execute(delete(UserSession).where(UserSession.id == sess.id))
            session.commit()
            return None
        if now - sess.last_seen_at > SEEN_EVERY:
            session.execute(update(UserSession).where(UserSession.id == sess.id).values(last_seen_at=now))
            session.commit()
        return SignedIn(str(user.id), user.email, user.full_name, user.role, token, user.must_change_password)


def sign_out(*, token: str | None) -> None:
    """End this sign-in (delete its session row). Unknown tokens are ignored."""
    if not token or not isinstance(token, str):
        return
    with pg.session_scope() as session:
        session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token)))


def user_uuid(user_id: object) -> uuid.UUID | None:
    """Parse an account id; None for anything that is not a UUID (typed errors are the caller's)."""
    try:
        return uuid.UUID(str(user_id))
    except (ValueError, TypeError, AttributeError):
        return None
