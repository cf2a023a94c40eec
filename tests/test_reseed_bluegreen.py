"""Blue/green reseed (#19) on the real stores: kill -9 in every phase, reads during a reseed, a failing
index build, a generation mismatch reported by health and repaired."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from p2p_store.stores import generation, mongo
from seed import loader

DEMO_COUNTS = {"users": 3, "profiles": 3, "forum_posts": 4, "forum_replies": 28, "use_cases": 17}
SCALE1_COUNTS = {"users": 103, "profiles": 103, "forum_posts": 54, "forum_replies": 528, "use_cases": 117}


def seed_process(*args: str, fault: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != loader.FAULT_ENV}
    if fault:
        env[loader.FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-m", "seed", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def journal_left() -> bool:
    return mongo.base_db()[generation.META].find_one({"_id": "swap"}) is not None


def assert_schema_intact() -> None:
    """Every live collection has all its indexes and its validator, and the validator is enforced."""
    from pymongo.errors import WriteError

    db = mongo.get_db()
    infos = {c["name"]: c for c in db.list_collections()}
    for spec in mongo.COLLECTIONS:
        assert spec.name in infos, spec.name
        assert infos[spec.name]["options"].get("validator") == spec.validator, spec.name
        names = {ix["name"] for ix in db[spec.name].list_indexes()}
        assert {ix.document["name"] for ix in spec.indexes} <= names, (spec.name, names)
        assert "test_author_unique" not in names
    with pytest.raises(WriteError):
        db[mongo.FORUM_POSTS].insert_one({"_id": "malformed", "title": 5})


def generations() -> dict:
    return generation.state()


@pytest.mark.parametrize("phase", ["preparing", "clearing", "loading", "indexing", "swapping"])
def test_kill_before_the_commit_leaves_the_previous_set_complete(demo, phase):
    if phase == "clearing":
        loader.reseed()  # so the database not live holds a generation to clear
    before = generations()
    proc = seed_process("--scale", "1", fault=phase)
    assert proc.returncode == -9, proc.stderr  # it really died by SIGKILL at that phase
    assert loader.current_counts() == DEMO_COUNTS  # exactly the old set
    assert_schema_intact()
    assert generations() == before | {"swap_pending": phase == "swapping"}  # still pointing at the old set
    # The next `up` removes the unfinished journal; the next reseed builds over the half-built database.
    up = subprocess.run([sys.executable, "-m", "p2p_store", "up"], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert not journal_left()
    assert generations() == before
    assert loader.current_counts() == DEMO_COUNTS
    assert_schema_intact()
    assert loader.reseed(scale=1)["counts"] == {k: v for k, v in SCALE1_COUNTS.items()}
    assert loader.current_counts() == SCALE1_COUNTS
    assert_schema_intact()


def test_kill_after_the_commit_is_reported_then_finished_by_up(demo):
    from p2p_store import health

    proc = seed_process("--scale", "1", fault="committed")
    assert proc.returncode == -9, proc.stderr
    assert_schema_intact()  # the live collections keep their indexes and validators
    state = generations()
    assert not state["match"] and state["swap_pending"]
    report = health.build_report(consistency_max_age_s=0)
    consistency = report["checks"]["consistency"]
    assert consistency["status"] == "degraded" and report["status"] == "degraded"
    assert consistency["generation"]["match"] is False
    assert consistency["generation"]["postgresql"] == state["postgresql"]
    assert "generation" in consistency["error"]

    up = subprocess.run([sys.executable, "-m", "p2p_store", "up"], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    assert loader.current_counts() == SCALE1_COUNTS  # exactly the new set: the swap was finished
    assert_schema_intact()
    assert generations()["match"] and generations()["postgresql"] == state["postgresql"]
    assert not journal_left()
    report = health.build_report(consistency_max_age_s=0)
    assert report["checks"]["consistency"]["generation"]["match"] is True


def test_generation_mismatch_is_repaired_by_python_m_seed(demo):
    from p2p_store import health

    assert seed_process("--scale", "1", fault="committed").returncode == -9
    assert not generations()["match"]
    proc = seed_process()
    assert proc.returncode == 0, proc.stderr
    assert loader.current_counts() == DEMO_COUNTS
    state = generations()
    assert state["match"] and not state["swap_pending"]
    report = health.build_report(consistency_max_age_s=0)
    assert report["checks"]["consistency"]["generation"]["match"] is True
    assert report["checks"]["consistency"]["status"] == "healthy"


def test_a_failing_index_build_leaves_the_old_set_live_with_a_clear_message(demo, monkeypatch):
    before = generations()
    monkeypatch.setenv(loader.FAULT_ENV, "duplicate-index")  # a unique index over duplicate author ids
    with pytest.raises(loader.SeedFailed, match="indexes of forum_replies failed.*previous data is live"):
        loader.reseed(scale=1)
    assert loader.current_counts() == DEMO_COUNTS
    assert_schema_intact()
    assert generations() == before  # the pointer still names the old set's database


def test_cli_says_what_failed_and_that_the_old_set_is_live(demo):
    proc = seed_process("--scale", "1", fault="duplicate-index")
    assert proc.returncode == 1
    assert "previous data is live" in proc.stderr
    assert loader.current_counts() == DEMO_COUNTS


def test_reads_during_a_scale_20_reseed_see_old_then_new_never_a_half_collection(demo):
    """The Data admin page's read (current counts, on the app's client with its page timeouts) during a
    scale-20 reseed: each collection holds exactly the old or exactly the new count, and once new stays
    new. No read fails: the new set is built in the other database, and the swap flips a pointer."""
    new = {"users": 2003, "profiles": 2003, "forum_posts": 1004, "forum_replies": 10028, "use_cases": 2017}
    marks: dict[str, float] = {}
    outcome: dict[str, object] = {}

    def on_progress(event: loader.Progress) -> None:
        if event.collection == "swap" and event.done == 0:
            marks.setdefault("swap_start", time.monotonic())

    def run() -> None:
        try:
            outcome["result"] = loader.reseed(scale=20, progress=on_progress)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome["error"] = exc
        marks["end"] = time.monotonic()

    seeder = threading.Thread(target=run, daemon=True)
    seeder.start()
    seen: list[dict[str, int]] = []
    failed: list[tuple[float, float, str]] = []  # (started, ended, error)
    while seeder.is_alive():
        started = time.monotonic()
        try:
            seen.append(loader.current_counts())
        except Exception as exc:  # noqa: BLE001 - asserted below
            failed.append((started, time.monotonic(), type(exc).__name__))
        time.sleep(0.05)
    seeder.join()
    assert "error" not in outcome, outcome.get("error")
    assert len(seen) > 20
    assert seen[0] == DEMO_COUNTS
    assert loader.current_counts() == new
    for name in DEMO_COUNTS:
        values = [counts[name] for counts in seen]
        assert set(values) <= {DEMO_COUNTS[name], new[name]}, (name, sorted(set(values)))
        flipped = values.index(new[name]) if new[name] in values else len(values)
        assert all(v == new[name] for v in values[flipped:]), name  # never back to old
    assert failed == []
    assert outcome["result"]["swap_s"] < 5  # the PostgreSQL commit and one pointer write (figures: bench_reseed.py)


def test_ensure_schema_heals_a_missing_index_and_validator_and_is_a_no_op_after(demo):
    db = mongo.get_db()
    db[mongo.FORUM_REPLIES].drop_index("author")
    db.command("collMod", mongo.FORUM_POSTS, validator={})
    changed = mongo.ensure_schema()
    assert changed == ["forum_posts: validator set", "forum_replies: indexes author"]
    assert mongo.ensure_schema() == []
    assert_schema_intact()


def test_reseed_and_reset_keep_the_audit_table(demo):
    from sqlalchemy import text

    from p2p_store.stores import pg

    with pg.get_engine().begin() as conn:
        before = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        conn.execute(text("INSERT INTO events (actor_email, action, object_kind, object_id, object_email, "
                          "pg_outcome, mongo_outcome, request_id) SELECT email, 'change_role', 'account', id::text, "
                          "email, 'applied', 'n/a', 'test' FROM users LIMIT 1"))
    loader.reset()
    loader.reseed()
    with pg.get_engine().connect() as conn:  # the earlier event kept, plus one event each for reset and reseed (#16)
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == before + 3


def test_a_run_inside_one_generation_reads_the_set_live_at_its_start_while_another_process_swaps(demo):
    """A page run (app.py wraps each in ``mongo.one_generation()``) reads one generation: a reseed that
    another process swaps in meanwhile shows on the next run, and the old set stays complete in the
    other database until the reseed after it."""
    live = mongo.get_db().name
    with mongo.one_generation():
        assert seed_process("--scale", "1").returncode == 0
        assert mongo.get_db().name == live
        assert mongo.get_db()[mongo.FORUM_REPLIES].count_documents({}) == DEMO_COUNTS["forum_replies"]
    assert mongo.get_db().name != live  # the next run: the other database, now live
    assert loader.current_counts() == SCALE1_COUNTS
    assert_schema_intact()
    old = mongo.get_client()[live]  # the previous generation, kept whole until the next reseed clears it
    assert old[mongo.FORUM_REPLIES].count_documents({}) == DEMO_COUNTS["forum_replies"]
    loader.reseed()
    assert mongo.get_db().name == live and loader.current_counts() == DEMO_COUNTS


def test_the_pointer_names_only_the_two_databases(demo, settings):
    """A pointer naming any other database (an edited document) is not followed: blue is read."""
    base = mongo.base_db()
    saved = base[generation.META].find_one({"_id": "generation"})
    try:
        base[generation.META].update_one({"_id": "generation"}, {"$set": {"database": "admin"}})
        assert mongo.get_db().name == settings.mongodb_db
    finally:
        base[generation.META].replace_one({"_id": "generation"}, saved)


def test_cached_figures_follow_a_swap_made_by_another_process(demo):
    """The figure cache (p2p_store/stores/figures.py) remembers the database a figure was computed on:
    after another process swaps, the next read here waits for the new figure instead of serving the
    old one for up to a minute."""
    from p2p_store.stores import figures

    assert figures.collection_sizes().value[mongo.FORUM_REPLIES] == DEMO_COUNTS["forum_replies"]
    assert seed_process("--scale", "1").returncode == 0
    assert figures.collection_sizes().value[mongo.FORUM_REPLIES] == SCALE1_COUNTS["forum_replies"]
