"""Sign-in, sessions and throttling against PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

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


# ------------------------------------------------------------------ #14.3 race, #15.1 sessions


def _failure_rows() -> list[tuple[str, int]]:
    from p2p_store.stores.models import SignInFailure

    with pg.new_session() as session:
        return [(r.key, r.failures) for r in session.scalars(select(SignInFailure))]


def test_twenty_parallel_wrong_guesses_reach_the_hash_at_most_the_allowed_number_of_times(demo, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from p2p_store.accounts import passwords

    checked = []
    lock = threading.Lock()
    real_verify = passwords.verify_password

    def counting_verify(stored, typed):
        with lock:
            checked.append(typed)
        return real_verify(stored, typed)

    monkeypatch.setattr(auth, "verify_password", counting_verify)
    barrier = threading.Barrier(20)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            auth.sign_in(email=SARA, password=f"wrong-guess-{i}")
        except InvalidInput as exc:
            return str(exc)
        return "signed in"

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    assert len(checked) <= auth.FREE_ATTEMPTS, f"{len(checked)} guesses reached the hash"
    assert sum("Too many" in a for a in answers) >= 20 - auth.FREE_ATTEMPTS
    assert "signed in" not in answers
    # nothing typed is stored: only keyed hashes (64 hex digits) and the burst row
    rows = _failure_rows()
    assert {key for key, _ in rows} == {auth.account_key(SARA), auth._BURST_KEY}
    assert all(SARA not in key and "wrong" not in key for key, _ in rows)
    assert dict(rows)[auth.account_key(SARA)] == 20


def test_ten_people_signing_in_to_one_account_at_once_all_get_in(demo):
    """A demo room: ten browsers sign in as Sara at the same moment with the right password. Each is
    signed in; none is told "too many failed sign-ins" (every attempt claimed a slot before any
    success freed one, so the sixth and later were refused, #17), and no failure is left counted."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(10)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            return auth.sign_in(email=SARA, password="Member@2025!").token
        except InvalidInput as exc:
            return f"refused: {exc}"

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(attempt, range(10)))
    assert not [a for a in answers if a.startswith("refused")], answers
    assert len(set(answers)) == 10  # ten sessions
    assert auth.account_key(SARA) not in dict(_failure_rows())


def test_failed_sign_in_stores_no_typed_text(demo):
    typed = "Password-typed-into-the-email-box!"
    with pytest.raises(InvalidInput):
        auth.sign_in(email=typed, password="x")
    with pg.new_session() as session:  # every column of every row, as text
        dump = session.execute(text("SELECT string_agg(row_to_json(f)::text, ',') FROM sign_in_failures f")).scalar()
    assert typed.lower() not in (dump or "").lower() and typed not in (dump or "")
    assert auth.account_key(typed) in dump


def test_burst_across_accounts_is_refused_without_checking(demo, monkeypatch):
    monkeypatch.setattr(auth, "BURST_ATTEMPTS", 3)
    for i in range(3):
        with pytest.raises(InvalidInput, match="wrong"):
            auth.sign_in(email=f"spray{i}@example.com", password="x")
    with pytest.raises(InvalidInput, match="Too many sign-in attempts"):
        auth.sign_in(email=SARA, password="Member@2025!")


def test_one_browser_keeps_one_session_row(demo):
    me = auth.sign_in(email=SARA, password="Member@2025!")
    for _ in range(10):  # reloads resolve the same cookie
        assert auth.resolve_session(token=me.token).user_id == me.user_id
    again = auth.sign_in(email=SARA, password="Member@2025!", replace_token=me.token)
    assert _sessions() == 1
    assert auth.resolve_session(token=me.token) is None and auth.resolve_session(token=again.token)


def test_idle_session_ends(demo):
    me = auth.sign_in(email=SARA, password="Member@2025!")
    with pg.session_scope() as session:
        session.execute(update(UserSession).values(last_seen_at=datetime.now(UTC) - timedelta(hours=3)))
    assert auth.resolve_session(token=me.token) is None
    assert _sessions() == 0


def test_password_change_revokes_other_sessions(demo):
    from p2p_store.accounts import lifecycle

    here = auth.sign_in(email=SARA, password="Member@2025!")
    there = auth.sign_in(email=SARA, password="Member@2025!")
    lifecycle.change_own_password(me=here, current_password="Member@2025!", new_password="A-new-password-1")
    assert auth.resolve_session(token=there.token) is None
    assert auth.resolve_session(token=here.token) is not None


@pytest.mark.parametrize("mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t + "x",
                                    lambda t: t.upper(), lambda t: "Bearer " + t])
def test_tampered_token_is_unknown(demo, mangle):
    me = auth.sign_in(email=SARA, password="Member@2025!")
    assert auth.resolve_session(token=mangle(me.token)) is None
