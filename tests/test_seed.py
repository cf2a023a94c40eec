"""Reseed and reset against the real stores: exact counts, idempotence, a killed run, production refusal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from p2p_store.accounts import consistency
from p2p_store.errors import InvalidInput, PermissionDenied, Refused
from p2p_store.stores import generation, mongo
from seed import loader
from seed.dataset import demo_dataset, full_dataset, user_id_for

DEMO_COUNTS = {"users": 3, "profiles": 3, "forum_posts": 4, "forum_replies": 28, "use_cases": 17}


def test_reseed_gives_the_demo_set(demo):
    assert demo["counts"] == DEMO_COUNTS
    assert loader.current_counts() == DEMO_COUNTS


def test_reseed_twice_gives_the_same_counts_and_no_drift(demo):
    again = loader.reseed()
    assert again["counts"] == DEMO_COUNTS
    assert loader.current_counts() == DEMO_COUNTS
    assert consistency.role_drift() == []


def test_ids_are_deterministic():
    assert user_id_for(" Sara.Hassan@advanced-electronics.sa ") == user_id_for("sara.hassan@advanced-electronics.sa")
    first, second = demo_dataset(), demo_dataset()
    assert [u["id"] for u in first.users] == [u["id"] for u in second.users]
    assert [p["_id"] for p in first.forum_posts] == [p["_id"] for p in second.forum_posts]


def test_demo_data_is_what_the_story_promises(demo):
    db = mongo.get_db()
    cases = list(db[mongo.USE_CASES].find())
    assert sum(c["kind"] == "basic" for c in cases) == 15
    detailed = [c for c in cases if c["kind"] == "detailed"]
    assert len(detailed) == 2
    by_id = {c["_id"]: c for c in cases}
    for d in detailed:  # linked both ways
        assert by_id[d["basic_version_id"]]["detailed_version_id"] == d["_id"]
        assert d["executive_summary"] and d["roi"] and d["implementation_phases"]
    for c in cases:  # inside Saudi Arabia
        lon, lat = c["location"]["coordinates"]
        assert 34.4 < lon < 55.7 and 16.3 < lat < 32.2, c["title"]
    posts = list(db[mongo.FORUM_POSTS].find())
    assert {p["category"] for p in posts} == {"Automation", "Maintenance", "Quality Management", "AI"}
    assert sum(p["is_pinned"] for p in posts) == 1
    replies = list(db[mongo.FORUM_REPLIES].find())
    assert max(r["depth"] for r in replies) >= 2
    assert sum(r["is_best_answer"] for r in replies) >= 1
    roles = {p["email"]: p["role"] for p in db[mongo.PROFILES].find()}
    assert roles == {"ahmed.faisal@advanced-electronics.sa": "admin", "sara.hassan@advanced-electronics.sa": "member",
                     "mohammed.rashid@gulfplastics.sa": "admin"}


def test_passwords_are_hashed(demo):
    from sqlalchemy import select

    from p2p_store.stores import pg
    from p2p_store.stores.models import User

    with pg.new_session() as session:
        hashes = session.scalars(select(User.password_hash)).all()
    assert all(h.startswith("$argon2") for h in hashes)
    assert not any("2025!" in h for h in hashes)


def test_reset_empties_data_but_keeps_indexes_and_validators(demo):
    loader.reset()
    assert loader.current_counts() == {k: 0 for k in DEMO_COUNTS}
    db = mongo.get_db()
    names = {ix["name"] for ix in db[mongo.USE_CASES].list_indexes()}
    assert "location_2dsphere" in names
    from pymongo.errors import WriteError

    with pytest.raises(WriteError):
        db[mongo.FORUM_POSTS].insert_one({"_id": "x", "title": 5})
    loader.reseed()


def test_scale_adds_deterministic_synthetic_data(stores):
    result = loader.reseed(scale=1, random_seed=7)
    assert result["counts"] == {"users": 103, "profiles": 103, "forum_posts": 54, "forum_replies": 528,
                                "use_cases": 117}
    assert loader.current_counts() == result["counts"]
    assert consistency.role_drift() == []
    replies = mongo.get_db()[mongo.FORUM_REPLIES]
    assert replies.find_one({"depth": {"$gt": 4}}) is None
    assert replies.find_one({"depth": 4}) is not None
    assert full_dataset(1, 7).counts() == result["counts"]
    assert loader.last_seed()["scale"] == 1
    loader.reseed()
    assert loader.current_counts() == DEMO_COUNTS


def test_progress_is_reported_per_store_and_collection(stores):
    events = []
    loader.reseed(progress=events.append)
    seen = {(e.store, e.collection) for e in events}
    assert {("postgresql", "users"), ("mongodb", "profiles"), ("mongodb", "forum_replies"),
            ("mongodb", "use_cases"), ("mongodb", "forum_posts")} <= seen
    last = [e for e in events if e.collection == "forum_replies"][-1]
    assert last.done == last.total == 28


def test_production_refuses_and_changes_nothing(demo, settings):
    prod = settings.model_copy(update={"env": "production"})
    before = loader.current_counts()
    with pytest.raises(Refused, match="production"):
        loader.reseed(settings=prod)
    with pytest.raises(Refused, match="production"):
        loader.reset(settings=prod)
    assert loader.current_counts() == before


def test_cli_refuses_in_production(demo):
    env = {**os.environ, "P2P_ENV": "production"}
    proc = subprocess.run([sys.executable, "-m", "seed"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "production" in proc.stderr


def test_a_member_may_not_reseed(demo):
    sara = str(user_id_for("sara.hassan@advanced-electronics.sa"))
    with pytest.raises(PermissionDenied):
        loader.reseed(actor_id=sara)
    with pytest.raises(PermissionDenied):
        loader.reset(actor_id="not-a-uuid")
    assert loader.current_counts() == DEMO_COUNTS


@pytest.mark.parametrize("scale,seed", [(-1, 1), (10_000, 1), (1, -5), ("3", 1)])
def test_bad_scale_is_refused(stores, scale, seed):
    with pytest.raises(InvalidInput):
        loader.reseed(scale=scale, random_seed=seed)


def test_concurrent_reseed_is_refused_while_one_runs(demo):
    from sqlalchemy import text

    from p2p_store.stores import pg

    with pg.get_engine().connect() as conn:  # hold the seeding lock as a running reseed would
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": loader.LOCK_KEY})
        try:
            with pytest.raises(Refused, match="Another reseed"):
                loader.reseed()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": loader.LOCK_KEY})
    assert loader.current_counts() == DEMO_COUNTS


def test_reseed_killed_halfway_leaves_the_previous_set_then_reseed_gives_exact_counts(demo):
    """A real kill -9 of a seeding process in the middle of its Mongo writes (in the database not live)."""
    building = generation.other_database(mongo.base_db())  # where the reseed builds (#19)
    generation.clear_database(building)  # the generation before: so what is counted below is the new one
    proc = subprocess.Popen([sys.executable, "-m", "seed", "--scale", "10", "--json"], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it is writing replies (the largest collection)
        if proc.poll() is not None:
            break
        if building[mongo.FORUM_REPLIES].estimated_document_count() > 500:
            break
        time.sleep(0.05)
    killed_midway = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed_midway, "the seeding process finished before it could be killed"
    assert loader.current_counts() == DEMO_COUNTS  # the live set never saw the half-written one
    result = loader.reseed()
    assert result["counts"] == DEMO_COUNTS
    assert loader.current_counts() == DEMO_COUNTS
    assert generation.state()["match"] and not generation.state()["swap_pending"]
    assert consistency.role_drift() == []
