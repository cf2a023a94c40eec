"""The whole life of an account in both stores (issue: user management beyond roles)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from p2p_store import outbox
from p2p_store.accounts import auth, consistency, directory, lifecycle
from p2p_store.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    LastAdmin,
    NotFound,
    PermissionDenied,
)
from p2p_store.stores import local, mongo, pg
from p2p_store.stores.models import Event, User
from seed.dataset import user_id_for

AHMED = str(user_id_for("ahmed.faisal@advanced-electronics.sa"))
SARA = str(user_id_for("sara.hassan@advanced-electronics.sa"))
MOHAMMED = str(user_id_for("mohammed.rashid@gulfplastics.sa"))
NEW = {"full_name": "Layla Al-Harbi", "email": "Layla.Harbi@SABIC-demo.sa ", "company": "Eastern Polyolefins Co.",
       "role": "member", "industry": "Petrochemicals", "city": "Jubail", "expertise": "APC, OPC UA"}


def _state() -> tuple[int, int, int]:
    with pg.new_session() as session:
        n_users = session.scalar(select(func.count()).select_from(User))
        n_audit = session.scalar(select(func.count()).select_from(Event))
    return n_users, mongo.get_db()[mongo.PROFILES].count_documents({}), n_audit


def _version(uid: str) -> int:
    return directory.get_account(user_id=uid)["version"]


def test_create_writes_both_stores_and_forces_a_new_password(demo):
    made = lifecycle.create_account(actor_id=AHMED, **NEW)
    assert made["email"] == "layla.harbi@sabic-demo.sa"
    profile = mongo.get_db()[mongo.PROFILES].find_one({"_id": made["id"]})
    assert profile["role"] == "member" and profile["region"] == "Eastern Province"
    assert profile["expertise"] == ["APC", "OPC UA"]
    me = auth.sign_in(email=made["email"], password=made["temporary_password"])
    assert me.must_change_password
    assert lifecycle.change_own_password(me=me, current_password=made["temporary_password"],
                                        new_password="a-long-new-password")
    assert not auth.sign_in(email=made["email"], password="a-long-new-password").must_change_password
    assert directory.list_role_changes(person="layla")[-1]["action"] == "create_account"


@pytest.mark.parametrize("email", ["sara.hassan@advanced-electronics.sa", " SARA.HASSAN@advanced-electronics.sa  "])
def test_duplicate_email_writes_nothing(demo, email):
    before = _state()
    with pytest.raises(InvalidInput, match="an account with this email exists|An account with this email exists"):
        lifecycle.create_account(actor_id=AHMED, **{**NEW, "email": email})
    assert _state() == before


def test_member_may_not_manage_accounts(demo):
    before = _state()
    for call in (lambda: lifecycle.create_account(actor_id=SARA, **NEW),
                 lambda: lifecycle.set_active(actor_id=SARA, user_id=AHMED, active=False,
                                             expected_version=_version(AHMED)),
                 lambda: lifecycle.delete_account(actor_id=SARA, user_id=MOHAMMED,
                                                 confirm="mohammed.rashid@gulfplastics.sa"),
                 lambda: lifecycle.reset_password(actor_id=SARA, user_id=AHMED),
                 lambda: lifecycle.update_account(actor_id=SARA, user_id=AHMED, expected_version=_version(AHMED),
                                                 full_name="X", email="ahmed.faisal@advanced-electronics.sa")):
        with pytest.raises(PermissionDenied):
            call()
    assert _state() == before


def test_member_edits_own_profile_but_not_email(demo):
    done = lifecycle.update_account(actor_id=SARA, user_id=SARA, expected_version=_version(SARA),
                                   full_name="Sara Hassan", email="sara.hassan@advanced-electronics.sa",
                                   company="Advanced Electronics Co.", industry="Automotive", city="Jeddah",
                                   expertise="Edge AI")
    assert "industry" in done["changes"]
    assert mongo.get_db()[mongo.PROFILES].find_one({"_id": SARA})["city"] == "Jeddah"
    with pytest.raises(PermissionDenied):
        lifecycle.update_account(actor_id=SARA, user_id=SARA, expected_version=_version(SARA),
                                full_name="Sara Hassan", email="sara@elsewhere.sa")


def test_edit_with_stale_version_conflicts(demo):
    stale = _version(SARA)
    lifecycle.update_account(actor_id=AHMED, user_id=SARA, expected_version=stale, full_name="Sara H.",
                            email="sara.hassan@advanced-electronics.sa")
    with pytest.raises(Conflict):
        lifecycle.update_account(actor_id=AHMED, user_id=SARA, expected_version=stale, full_name="Sara X",
                                email="sara.hassan@advanced-electronics.sa")
    assert directory.get_account(user_id=SARA)["full_name"] == "Sara H."


def test_deactivated_person_cannot_sign_in_and_loses_open_sign_ins(demo):
    session = auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")
    done = lifecycle.set_active(actor_id=AHMED, user_id=SARA, active=False, expected_version=_version(SARA))
    assert done["sessions_ended"] == 1
    assert auth.resolve_session(token=session.token) is None
    with pytest.raises(InvalidInput, match="deactivated"):
        auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")
    assert directory.list_accounts(active=False).rows[0]["full_name"] == "Sara Hassan"
    lifecycle.set_active(actor_id=AHMED, user_id=SARA, active=True, expected_version=_version(SARA))
    assert auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")


def test_last_active_admin_cannot_be_deactivated_or_deleted(demo):
    lifecycle.set_active(actor_id=AHMED, user_id=MOHAMMED, active=False, expected_version=_version(MOHAMMED))
    with pytest.raises(LastAdmin):
        lifecycle.set_active(actor_id=AHMED, user_id=AHMED, active=False, expected_version=_version(AHMED))


def test_delete_keeps_posts_as_former_member_and_no_orphans(demo):
    posts = mongo.get_db()[mongo.FORUM_POSTS]
    sara_posts = posts.count_documents({"author_id": SARA}) + \
        mongo.get_db()[mongo.FORUM_REPLIES].count_documents({"author_id": SARA})
    assert sara_posts > 0
    with pytest.raises(InvalidInput, match="Type the account's email"):
        lifecycle.delete_account(actor_id=AHMED, user_id=SARA, confirm="yes")
    lifecycle.delete_account(actor_id=AHMED, user_id=SARA, confirm="Sara.Hassan@advanced-electronics.sa")
    with pytest.raises(NotFound):
        directory.get_account(user_id=SARA)
    assert mongo.get_db()[mongo.PROFILES].find_one({"_id": SARA}) is None
    assert posts.count_documents({"author_id": SARA}) + \
        mongo.get_db()[mongo.FORUM_REPLIES].count_documents({"author_id": SARA}) == sara_posts
    assert consistency.drift_counts() == {"role_drift": 0, "orphans": 0}
    assert consistency.unknown_forum_authors() == []


def test_reset_password_ends_sign_ins(demo):
    session = auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")
    done = lifecycle.reset_password(actor_id=AHMED, user_id=SARA)
    assert done["sessions_ended"] == 1 and auth.resolve_session(token=session.token) is None
    with pytest.raises(InvalidInput):
        auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")
    assert auth.sign_in(email="sara.hassan@advanced-electronics.sa",
                        password=done["temporary_password"]).must_change_password


def test_sign_ins_list_and_end(demo):
    mine = auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")
    other = auth.sign_in(email="sara.hassan@advanced-electronics.sa", password="Member@2025!")
    admin = auth.sign_in(email="ahmed.faisal@advanced-electronics.sa", password="Admin@2025!")
    rows = lifecycle.list_sessions(actor_id=SARA, current_token=mine.token)
    assert len(rows) == 2 and sum(r["current"] for r in rows) == 1
    admin_row = next(r for r in lifecycle.list_sessions(actor_id=AHMED) if r["email"].startswith("ahmed"))
    with pytest.raises(PermissionDenied):
        lifecycle.end_session(actor_id=SARA, session_id=admin_row["session_id"])
    other_row = next(r for r in rows if not r["current"])
    lifecycle.end_session(actor_id=SARA, session_id=other_row["session_id"])
    assert auth.resolve_session(token=other.token) is None and auth.resolve_session(token=mine.token)
    assert auth.resolve_session(token=admin.token)


@pytest.mark.parametrize("op", ["create", "edit", "delete"])
def test_mongo_unavailable_change_is_accepted_and_applied_once_back(demo, settings, op):
    """#16: with MongoDB down the change stands in PostgreSQL with one event pending in MongoDB;
    once MongoDB is back the projector makes the stores agree, nothing half-written either way."""
    if settings.mongodb_url:
        pytest.skip("needs the embedded MongoDB-protocol server (MONGODB_URL is set) to stop it")
    root = settings.data_dir.resolve()
    users, profiles, events = _state()
    version = _version(SARA)
    local.stop_local_mongo(root)
    try:
        if op == "create":
            done = lifecycle.create_account(actor_id=AHMED, **NEW)
        elif op == "edit":
            done = lifecycle.update_account(actor_id=AHMED, user_id=SARA, expected_version=version,
                                            full_name="Changed", email="sara.hassan@advanced-electronics.sa")
        else:
            done = lifecycle.delete_account(actor_id=AHMED, user_id=SARA, confirm="sara.hassan@advanced-electronics.sa")
    finally:
        local.ensure_local_mongo(root)
    assert done["mongo_outcome"] == "pending"
    assert outbox.pending_summary()["count"] == 1
    assert len(outbox.apply_pending()) == 1
    assert outbox.apply_pending() == []
    delta = {"create": 1, "edit": 0, "delete": -1}[op]
    assert _state() == (users + delta, profiles + delta, events + 1)
    if op == "edit":
        assert directory.get_account(user_id=SARA)["full_name"] == "Changed"
        assert mongo.get_db()[mongo.PROFILES].find_one({"_id": SARA})["full_name"] == "Changed"
    assert consistency.drift_counts() == {"role_drift": 0, "orphans": 0}


HOSTILE = st.one_of(
    st.text(max_size=300),
    st.sampled_from(['{"$ne": 1}', ".*(", "'; DROP TABLE users; --", "\x00", "a" * 100_000, "$where", "🙂" * 200]),
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=HOSTILE, email=HOSTILE, company=HOSTILE, city=HOSTILE, expertise=HOSTILE)
def test_hostile_input_in_every_field(demo, name, email, company, city, expertise):
    """Either a typed error and nothing written, or a valid account (then removed again)."""
    before = _state()
    try:
        made = lifecycle.create_account(actor_id=AHMED, full_name=name, email=email, company=company, city=city,
                                       expertise=expertise)
    except DomainError:
        assert _state() == before
        return
    lifecycle.delete_account(actor_id=AHMED, user_id=made["id"], confirm=made["email"])
