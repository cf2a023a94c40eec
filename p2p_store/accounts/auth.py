"""Sign-in, sign-out and sign-in sessions against PostgreSQL (argon2 hashes, hashed tokens)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from p2p_store.accounts.passwords import verify_password
from p2p_store.errors import InvalidInput
from p2p_store.settings import get_settings
from p2p_store.stores import pg
from p2p_store.stores.models import SignInFailure, User, UserSession

GENERIC_FAILURE = "Email or password is wrong."
# Throttling (#14.3). Every attempt first claims a slot in ONE atomic statement (INSERT … ON CONFLICT
# DO UPDATE … RETURNING), then the password is checked, so parallel guesses cannot all reach the hash.
# Attempts for one account take turns (a transaction-level advisory lock on its keyed hash, held from
# the claim to the outcome), so a success frees its slot before the next attempt claims one: ten
# people signing in to one demo account at once are never told of failures that did not happen (#17).
FREE_ATTEMPTS = 5  # attempts per account (keyed hash of the email) per window before it waits
FAILURE_WINDOW = timedelta(minutes=5)  # a locked account waits at most this long: a bounded lock-out
BURST_ATTEMPTS = 200  # attempts across all accounts per BURST_WINDOW (password spraying)
BURST_WINDOW = timedelta(minutes=1)
_BURST_KEY = "*all*"  # the one counter row for all accounts (a keyed hash is 64 hex digits, never this)
LOCKOUT_S = int(FAILURE_WINDOW.total_seconds())  # kept for callers that name the wait
SEEN_EVERY = timedelta(seconds=60)  # how often last_seen_at is written (not on every rerun)
MAX_EMAIL = 254
MAX_PASSWORD = 1024
MAX_USER_AGENT = 512


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
    return unicodedata.normalize("NFKC", email).strip().lower()


def _now() -> datetime:
    return datetime.now(UTC)


def account_key(email: str) -> str:
    """What the failure counter stores instead of what was typed (#14.3): HMAC-SHA256 of the normalised
    email under the app's secret key. Nothing typed can be read back from it."""
    return hmac.new(get_settings().secret_key_bytes(), normalise_email(email).encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def _claim_attempt(session, key: str, limit: int, window: timedelta) -> int:
    """Count one attempt for ``key`` and return how long to wait (0 = go ahead), atomically.

    One statement checks and increments: a window older than ``window`` starts over at 1. Two parallel
    attempts can never both read the same count."""
    table = SignInFailure.__table__
    now = _now()
    stale = table.c.window_start < now - window
    stmt = insert(SignInFailure).values(key=key, failures=1, window_start=now, last_failure_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
        "failures": case((stale, 1), else_=table.c.failures + 1),
        "window_start": case((stale, now), else_=table.c.window_start),
        "last_failure_at": now,
    }).returning(table.c.failures, table.c.window_start)
    count, started = session.execute(stmt).one()
    if count <= limit:
        return 0
    return max(int((started + window - now).total_seconds()) + 1, 1)


def sign_in(*, email: str, password: str, user_agent: str = "", replace_token: str | None = None) -> SignedIn:
    """Check the credentials and open a session. Any failure: one generic message (InvalidInput).

    ``replace_token``: the session this browser already carries (its cookie); it ends, so one browser
    keeps one session row (#15.1)."""
    email = normalise_email(email)
    if not email or not isinstance(password, str) or not password:
        raise InvalidInput("Enter your email and password.")
    if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD or "\x00" in email:
        raise InvalidInput(GENERIC_FAILURE)
    key = account_key(email)
    with pg.session_scope() as session:  # its own short transaction: the one burst row is not held long
        burst = _claim_attempt(session, _BURST_KEY, BURST_ATTEMPTS, BURST_WINDOW)
    if burst:
        raise InvalidInput(f"Too many sign-in attempts right now. Wait {burst} s and try again.")
    with pg.session_scope() as session:  # the claim and its outcome in one transaction, one attempt at a time
        session.execute(select(func.pg_advisory_xact_lock(int(key[:15], 16))))
        outcome = _check_attempt(session, key, email, password)
        if isinstance(outcome, User):
            signed_in = _open_session(session, outcome, key, user_agent, replace_token)
    if not isinstance(outcome, User):  # raised after the commit, so the claimed slot is kept
        raise InvalidInput(outcome)
    return signed_in


def _check_attempt(session, key: str, email: str, password: str) -> User | str:
    """Claim one of the account's attempts and check the password: the account, or why not."""
    if wait := _claim_attempt(session, key, FREE_ATTEMPTS, FAILURE_WINDOW):
        return f"Too many failed sign-ins for this email. Wait {wait} s and try again."
    user = session.scalar(select(User).where(User.email == email))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return GENERIC_FAILURE  # the claimed slot stays: a failure
    if not user.is_active:
        return "This account is deactivated. Ask an admin to reactivate it."
    return user


def _open_session(session, user: User, key: str, user_agent: str, replace_token: str | None) -> SignedIn:
    """A new session row for ``user`` (replacing this browser's old one); the failure count starts over."""
    token = secrets.token_urlsafe(32)
    if replace_token and isinstance(replace_token, str) and len(replace_token) <= 200:
        session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(replace_token)))
    session.add(UserSession(user_id=user.id, token_hash=_token_hash(token),
                            expires_at=_now() + timedelta(hours=get_settings().session_ttl_hours),
                            user_agent=(user_agent or "")[:MAX_USER_AGENT]))
    # Core UPDATE: signing in must not bump the optimistic-lock version of the account.
    session.execute(update(User).where(User.id == user.id).values(last_login_at=_now()))
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))
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
        idle = timedelta(minutes=get_settings().session_idle_minutes)
        if sess.expires_at <= now or now - sess.last_seen_at > idle or not user.is_active:
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
