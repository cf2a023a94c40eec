"""Crash-safe writes across the two stores (#16.5, the event log is the outbox), on real servers:
the app process killed (SIGKILL) between the PostgreSQL commit and the MongoDB write, and MongoDB
stopped while changes are made and started again with the projector's timer running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from p2p_store import outbox
from p2p_store.accounts import consistency, directory
from p2p_store.stores import local, mongo, pg
from p2p_store.stores.models import Event, User
from seed.dataset import user_id_for
from tests.conftest import REPO_ROOT

AHMED = str(user_id_for("ahmed.faisal@advanced-electronics.sa"))
SARA = str(user_id_for("sara.hassan@advanced-electronics.sa"))
MOHAMMED = str(user_id_for("mohammed.rashid@gulfplastics.sa"))

CHANGE_ROLE = """
import sys
from p2p_store.accounts import directory
directory.change_role(actor_id=sys.argv[1], user_id=sys.argv[2], new_role=sys.argv[3], expected_version=int(sys.argv[4]))
print("survived the fault point")
"""


@pytest.fixture
def embedded(settings, demo):
    if settings.mongodb_url or settings.database_url:
        pytest.skip("stops the embedded servers (DATABASE_URL/MONGODB_URL are set)")
    outbox.stop_background()  # an earlier AppTest's app started this process's timer; each test runs its own
    yield settings.data_dir.resolve()
    outbox.stop_background()
    local.ensure_local_mongo(settings.data_dir.resolve())


def _pg_user(uid: str) -> User:
    with pg.new_session() as session:
        return session.get(User, uid)


def _profile_role(uid: str) -> str:
    return mongo.get_db()[mongo.PROFILES].find_one({"_id": uid})["role"]


def _events(ids: list[int]) -> list[Event]:
    with pg.new_session() as session:
        return list(session.scalars(select(Event).where(Event.id.in_(ids)).order_by(Event.id)))


def test_killed_between_postgresql_commit_and_mongodb_write_then_started_again(embedded):
    version = _pg_user(SARA).version
    env = dict(os.environ, P2P_FAULT="after_pg_commit")
    proc = subprocess.run(check=False, args=[sys.executable, "-c", CHANGE_ROLE, AHMED, SARA, "admin", str(version)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "survived" not in proc.stdout
    # Committed in PostgreSQL with its event pending; the profile was never written.
    assert _pg_user(SARA).role == "admin" and _profile_role(SARA) == "member"
    with pg.new_session() as session:
        event = session.scalar(select(Event).where(Event.object_id == SARA).order_by(Event.id.desc()).limit(1))
    assert (event.action, event.mongo_outcome, event.after) == ("change_role", "pending", {"role": "admin"})
    assert outbox.pending_summary()["count"] == 1

    # Started again: the start-up pass of the projector (what the app's ready path and `sync` run).
    started = subprocess.run(check=False, args=[sys.executable, "-m", "p2p_store", "sync"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    assert started.stdout.count(f"applied event {event.id}:") == 1
    assert consistency.drift_counts() == {"role_drift": 0, "orphans": 0}  # nobody pressed "repair"
    assert _profile_role(SARA) == "admin"
    [after] = _events([event.id])
    assert after.mongo_outcome == "applied" and after.applied_at is not None
    assert outbox.apply_pending() == []  # applied exactly once: nothing left for a second pass


def test_mongo_stopped_three_changes_accepted_then_applied_in_order_by_the_timer(embedded):
    period_s = 1.0
    outbox.start_background(period_s=period_s)
    local.stop_local_mongo(embedded)
    ids = []
    try:
        for uid, role in ((SARA, "admin"), (MOHAMMED, "member"), (SARA, "user")):
            done = directory.change_role(actor_id=AHMED, user_id=uid, new_role=role,
                                         expected_version=_pg_user(uid).version)
            assert done["mongo_outcome"] == "pending"  # accepted, shown as pending in MongoDB
            ids.append(done["event_id"])
        assert outbox.pending_summary()["count"] == 3
    finally:
        local.ensure_local_mongo(embedded)
    back = time.monotonic()
    # Within the timer's period (plus the driver's reconnect and one pass's own time).
    deadline = back + period_s + 10
    while time.monotonic() < deadline and outbox.pending_summary()["count"]:
        time.sleep(0.1)
    took = time.monotonic() - back
    events = _events(ids)
    assert [e.mongo_outcome for e in events] == ["applied"] * 3, f"still pending after {took:.1f} s"
    applied_at = [e.applied_at for e in events]
    assert applied_at == sorted(applied_at)  # in order
    assert (_profile_role(SARA), _profile_role(MOHAMMED)) == ("user", "member")
    assert consistency.drift_counts() == {"role_drift": 0, "orphans": 0}
    print(f"three pending events applied {took:.1f} s after MongoDB came back (timer period {period_s} s)")
