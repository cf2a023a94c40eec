"""``python -m p2p_store create-admin`` and the sign-in page without an admin (#15.4)."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from p2p_store.accounts import auth, bootstrap
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import Event, User
from tests.conftest import REPO_ROOT

EMAIL = "ops.admin@example.com"


def _create_admin(*args: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "p2p_store", "create-admin", *args, "--password-stdin"],
                          cwd=REPO_ROOT, env=os.environ.copy(), input=password + "\n", capture_output=True,
                          text=True, timeout=120, check=False)


def test_create_admin_after_a_reset_then_sign_in_and_audit(empty_stores):
    assert bootstrap.no_active_admin()
    done = _create_admin("--email", EMAIL, "--name", "Ops Admin", password="A-strong-password-1")
    assert done.returncode == 0, done.stderr
    assert "created" in done.stdout and "A-strong-password-1" not in done.stdout + done.stderr
    assert not bootstrap.no_active_admin()
    me = auth.sign_in(email=EMAIL, password="A-strong-password-1")
    assert me.role == "admin" and me.full_name == "Ops Admin"
    profile = mongo.get_db()[mongo.PROFILES].find_one({"_id": me.user_id})
    assert profile["role"] == "admin" and profile["email"] == EMAIL
    with pg.new_session() as session:
        rows = session.scalars(select(Event).where(Event.object_email == EMAIL)).all()
    assert [(r.action, r.after["role"], r.actor_email) for r in rows] == [
        ("create_account", "admin", bootstrap.CLI_ACTOR)]


def test_create_admin_reactivates_a_deactivated_member(demo):
    sara = "sara.hassan@advanced-electronics.sa"
    with pg.session_scope() as session:
        session.execute(User.__table__.update().where(User.email == sara).values(is_active=False))
    done = _create_admin("--email", sara, password="Another-password-2")
    assert done.returncode == 0, done.stderr
    me = auth.sign_in(email=sara, password="Another-password-2")
    assert me.role == "admin" and me.full_name == "Sara Hassan"
    assert mongo.get_db()[mongo.PROFILES].find_one({"_id": me.user_id})["role"] == "admin"


def test_create_admin_refuses_a_short_password_and_changes_nothing(empty_stores):
    done = _create_admin("--email", EMAIL, password="short")
    assert done.returncode == 1 and "at least" in done.stderr
    assert bootstrap.no_active_admin()


def test_sign_in_page_offers_the_demo_data_when_no_admin_exists(empty_stores):
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert any("No active admin" in w.value for w in at.warning)
    at.button(key="load_demo").click().run()
    assert not at.exception
    assert not bootstrap.no_active_admin()
    assert auth.sign_in(email="ahmed.faisal@advanced-electronics.sa", password="Admin@2025!").is_admin
