"""Sign-in, sessions and throttling against PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from p2p_store.accounts import auth
from p2p_store.errors import InvalidInput
from p2p_store.stores import pg
from p2p_store.stores.models import User, UserSession

SARA = "sara.hassan@advanced-electronics.sa"


def _sessions() -> int:
    with pg.new_session() as session:
        return session.scalar(select(func.count()).select_from(UserSession))


def test_sign_in_creates_a_hashed_session_and_sign_out_ends_it(demo):
    me = auth.sign_in(email=" Sara.Hassan@Advanced-Electronics.sa ", password="Member@2025!")
    assert me.role == "member" and me.full_name == "Sara Hassan"
    with pg.new_session() as session:
        stored = session.scalars(select(UserSession.token_hash)).all()
    assert me.token not in stored and len(stored) == 1
    assert auth.resolve_session(token=me.token).email == SARA
    auth.sign_out(token=me.token)
    assert auth.resolve_session(token=me.token) is None
    assert _sessions() == 0


def test_wrong_password_and_unknown_email_get_the_same_message(demo):
    with pytest.raises(InvalidInput) as wrong_pw:
        auth.sign_in(email=SARA, password="nope")
    with pytest.raises(InvalidInput) as unknown:
        auth.sign_in(email="nobody@example.com", password="Member@2025!")
    assert str(wrong_pw.value) == str(unknown.value) == auth.GENERIC_FAILURE
    assert _sessions() == 0


def test_repeated_failures_are_slowed_down(demo):
    for _ in range(auth.FREE_ATTEMPTS):
        with pytest.raises(InvalidInput, match="wrong"):
            auth.sign_in(email=SARA, password="guess")
    with pytest.raises(InvalidInput, match="Too many failed sign-ins"):
        auth.sign_in(email=SARA, password="Member@2025!")  # even the right password waits
    assert _sessions() == 0


def test_expired_session_signs_out(demo):
    me = auth.sign_in(email=SARA, password="Member@2025!")
    with pg.session_scope() as session:
        session.execute(update(UserSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert auth.resolve_session(token=me.token) is None
    assert _sessions() == 0


def test_deactivated_account_cannot_sign_in_and_loses_its_sessions(demo):
    me = auth.sign_in(email=SARA, password="Member@2025!")
    with pg.session_scope() as session:
        session.execute(update(User).where(User.email == SARA).values(is_active=False))
    assert auth.resolve_session(token=me.token) is None
    with pytest.raises(InvalidInput, match="deactivated"):
        auth.sign_in(email=SARA, password="Member@2025!")


def test_role_change_applies_on_next_action(demo):
    from p2p_store.accounts import directory

    me = auth.sign_in(email=SARA, password="Member@2025!")
    admin = auth.sign_in(email="ahmed.faisal@advanced-electronics.sa", password="Admin@2025!")
    directory.change_role(actor_id=admin.user_id, user_id=me.user_id, new_role="admin",
                      expected_version=directory.get_account(user_id=me.user_id)["version"])
    assert auth.resolve_session(token=me.token).role == "admin"


@pytest.mark.parametrize("email,password", [("", "x"), (SARA, ""), (None, "x"), (SARA, None), ("a" * 300, "x"),
                                            (SARA, "x" * 5000), ("\x00", "x"), ({"$ne": 1}, "x")])
def test_bad_sign_in_input(demo, email, password):
    with pytest.raises(InvalidInput):
        auth.sign_in(email=email, password=password)
    assert _sessions() == 0


@pytest.mark.parametrize("token", [None, "", "x" * 5000, "' OR 1=1 --", 12])
def test_resolve_session_with_junk(demo, token):
    assert auth.resolve_session(token=token) is None
