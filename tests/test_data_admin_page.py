"""AppTest of the Data admin page: reseed with progress, dry run, reset behind a typed word,
production refusal, admin-only access, concurrent reseeds, migrations and system configuration."""

from __future__ import annotations

import os
import threading

import pytest
import streamlit as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from p2p_store.errors import PermissionDenied, Refused
from seed.dataset import user_id_for
from tests.conftest import REPO_ROOT

AHMED = "ahmed.faisal@advanced-electronics.sa"
SARA = "sara.hassan@advanced-electronics.sa"
AHMED_ID = str(user_id_for(AHMED))
SARA_ID = str(user_id_for(SARA))
DEMO_COUNTS = {"users": 3, "profiles": 3, "forum_posts": 4, "forum_replies": 28, "use_cases": 17}
PAGE = "app_pages/data_admin.py"


def signed_in(email: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.button(key=f"demo_{email}").click().run()
    assert not at.exception
    return at


def on_data_admin(email: str = AHMED) -> AppTest:
    at = signed_in(email)
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def counts() -> dict[str, int]:
    from seed.loader import current_counts

    return current_counts()


def metric_values(at: AppTest) -> list[str]:
    return [m.value for m in at.metric][:5]  # accounts, profiles, use cases, posts, replies


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def table_with(at: AppTest, column: str):
    """The first table on screen with this column (the page's tables differ by their columns)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


# ------------------------------------------------------------------ reseed


def test_admin_reseeds_from_the_page_with_progress_and_exact_counts(demo):
    from seed import loader

    loader.reseed(scale=1)  # something else than the demo set, so the page's reseed replaces it
    at = on_data_admin()
    assert metric_values(at) == ["103", "103", "117", "54", "528"]
    assert at.number_input(key="seed_random").value == 42  # the random seed is on screen
    assert at.segmented_control(key="seed_scale").value == 0

    at.button(key="seed_open").click().run()
    assert not at.exception
    dialog_table = table_with(at, "After")  # the confirmation states counts before and after
    assert dict(zip(dialog_table["Data"], dialog_table["Now"], strict=True))["Accounts"] == 103
    assert dict(zip(dialog_table["Data"], dialog_table["After"], strict=True)) == {
        "Accounts": 3, "Profiles": 3, "Use cases": 17, "Forum posts": 4, "Forum replies": 28}

    at.button(key="seed_confirm").click().run()
    assert not at.exception, at.exception
    assert counts() == DEMO_COUNTS
    # One progress bar per store and collection, each at its end.
    assert progress_texts(at) == ["PostgreSQL · Accounts: 3 of 3", "MongoDB · Profiles: 3 of 3",
                                  "MongoDB · Use cases: 17 of 17", "MongoDB · Forum posts: 4 of 4",
                                  "MongoDB · Forum replies: 28 of 28"]
    assert all(p.value == 100 for p in at.get("progress"))
    assert metric_values(at) == ["3", "3", "17", "4", "28"]  # caches cleared: the new data at once
    written = table_with(at, "Written")
    assert dict(zip(written["Data"], written["Written"], strict=True)) == {
        "Accounts": 3, "Profiles": 3, "Use cases": 17, "Forum posts": 4, "Forum replies": 28}
    assert [s.label.split(" in ")[0] for s in at.status] == ["Reseeded"]  # with its duration
    assert "(scale 0, random seed 42)" in at.status[0].label
    assert loader.last_seed()["by"] == AHMED

    at.run()  # the admin who clicked stays signed in
    assert not at.exception
    assert [t.value for t in at.title] == ["Data admin"]


def test_dry_run_shows_what_a_reseed_would_write_without_writing(demo):
    at = on_data_admin()
    at.segmented_control(key="seed_scale").set_value(1).run()
    at.number_input(key="seed_random").set_value(7).run()
    at.button(key="seed_dry_run").click().run()
    assert not at.exception
    table = table_with(at, "After")
    assert dict(zip(table["Data"], table["Now"], strict=True))["Accounts"] == 3
    assert dict(zip(table["Data"], table["After"], strict=True)) == {
        "Accounts": 103, "Profiles": 103, "Use cases": 117, "Forum posts": 54, "Forum replies": 528}
    assert counts() == DEMO_COUNTS


def test_a_second_reseed_while_one_runs_gets_the_loaders_refusal(demo):
    """Another tab holds the seeding lock: this tab's reseed is refused with the loader's message."""
    from p2p_store.stores import pg
    from seed.loader import LOCK_KEY

    at = on_data_admin()
    at.button(key="seed_open").click().run()
    with pg.get_engine().connect() as other_tab:
        assert other_tab.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar_one()
        try:
            at.button(key="seed_confirm").click().run()
        finally:
            other_tab.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            other_tab.commit()
    assert not at.exception
    assert any("Another reseed or reset is running" in e for e in errors(at)), errors(at)
    assert counts() == DEMO_COUNTS


def test_two_concurrent_reseeds_end_with_exact_counts(demo):
    from seed import loader

    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def reseed() -> None:
        barrier.wait()
        try:
            outcomes.append(loader.reseed(scale=0, actor_id=AHMED_ID, actor_email=AHMED))
        except Refused as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=reseed) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(outcomes) == 2
    done = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(done) >= 1 and len(done) + len(refused) == 2  # the second waited its turn or was refused
    assert all("Another reseed or reset is running" in str(r) for r in refused)
    assert counts() == DEMO_COUNTS


# ------------------------------------------------------------------ reset


def test_reset_requires_the_typed_word(demo):
    from seed import loader

    at = on_data_admin()
    try:
        assert at.button(key="reset_go").disabled
        at.text_input(key="reset_typed").input("reset").run()
        assert at.button(key="reset_go").disabled
        at.text_input(key="reset_typed").input("RESET ").run()
        assert at.button(key="reset_go").disabled
        assert counts() == DEMO_COUNTS

        at.text_input(key="reset_typed").input("RESET").run()
        assert not at.button(key="reset_go").disabled
        at.button(key="reset_go").click().run()
        assert not at.exception
        assert counts() == {k: 0 for k in DEMO_COUNTS}
        assert any("Both stores are empty" in i.value for i in at.info)
        assert all(p.value == 100 for p in at.get("progress"))
        assert at.status[0].label.startswith("Both stores emptied in")
    finally:
        loader.reseed(scale=0)


# ------------------------------------------------------------------ who may


def test_a_member_cannot_see_or_reach_data_admin(demo):
    from seed import loader

    at = signed_in(SARA)
    # Hidden from a member's navigation but registered, so an admin link says why instead of a silent
    # jump to Overview (#15.5).
    at.switch_page(PAGE).run()
    assert not at.exception
    assert errors(at) == ["This page is for admins only."]
    assert not [b for b in at.button if b.key in {"seed_open", "reset_go", "seed_dry_run"}]
    # A stale tab or a deep link runs the page script: it stops at its own guard.
    page = AppTest.from_file(str(REPO_ROOT / PAGE), default_timeout=60)
    page.session_state["auth_token"] = at.session_state["auth_token"]
    page.run()
    assert not page.exception
    assert errors(page) == ["This page is for admins only."]
    assert not [b for b in page.button if b.key in {"seed_open", "reset_go", "seed_dry_run"}]
    # And the service refuses a member whatever the page shows.
    with pytest.raises(PermissionDenied):
        loader.reseed(scale=0, actor_id=SARA_ID, actor_email=SARA)
    with pytest.raises(PermissionDenied):
        loader.reset(actor_id=SARA_ID, actor_email=SARA)
    assert counts() == DEMO_COUNTS


@pytest.fixture
def production(demo):
    from p2p_store.settings import get_settings

    old = os.environ.get("P2P_ENV")
    os.environ["P2P_ENV"] = "production"
    get_settings.cache_clear()
    yield
    if old is None:
        os.environ.pop("P2P_ENV", None)
    else:
        os.environ["P2P_ENV"] = old
    get_settings.cache_clear()


def test_production_shows_the_controls_disabled_and_the_service_refuses(production):
    from p2p_store.accounts import auth
    from seed import loader

    me = auth.sign_in(email=AHMED, password="Admin@2025!")  # no demo buttons in production
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.session_state["auth_token"] = me.token
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any("Disabled in production (P2P_ENV=production)" in w.value for w in at.warning)
    assert at.button(key="seed_open").disabled
    assert at.button(key="reset_go").disabled
    assert at.text_input(key="reset_typed").disabled
    at.button(key="seed_dry_run").click().run()  # the dry run reads only: still allowed
    assert not at.exception and at.dataframe

    with pytest.raises(Refused, match="disabled in production"):
        loader.reseed(scale=0, actor_id=AHMED_ID, actor_email=AHMED)
    with pytest.raises(Refused, match="disabled in production"):
        loader.reset(actor_id=AHMED_ID, actor_email=AHMED)
    assert counts() == DEMO_COUNTS


# ------------------------------------------------------------------ migrations and configuration


def test_migrations_show_current_and_head_and_offer_an_upgrade_when_behind(demo):
    from alembic import command

    from p2p_store.stores import pg, schema

    at = on_data_admin()
    head = schema.head_revision()
    assert [m.value for m in at.metric][5:] == [head, head]
    assert any("at head" in s.value for s in at.success)
    assert not [b for b in at.button if b.key == "migrate_up"]

    cfg = schema.alembic_config()
    with pg.get_engine().begin() as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "base")  # recorded revision gone, tables kept: "behind"
    try:
        st.cache_data.clear()  # the page caches the status for 30 s
        at.run()
        assert [m.value for m in at.metric][5:] == ["none", head]
        assert at.button(key="migrate_up") is not None
    finally:
        with pg.get_engine().begin() as conn:
            cfg.attributes["connection"] = conn
            command.stamp(cfg, "head")


def test_admin_edits_a_config_value_with_validation_and_audit(demo):
    from p2p_store.data import config

    at = on_data_admin()
    assert "last_seed" in list(table_with(at, "Key")["Key"])

    at.text_area(key="cfg_text_last_seed").input('{"scale": 0,').run()
    at.button(key="cfg_save_last_seed").click().run()
    assert not at.exception
    assert any("not valid JSON" in e for e in errors(at)), errors(at)

    at.text_area(key="cfg_text_last_seed").input('{"note": "edited by hand"}').run()
    at.button(key="cfg_save_last_seed").click().run()
    assert not at.exception
    assert any("Saved `last_seed`" in s.value for s in at.success)
    row = next(r for r in config.list_configs() if r["key"] == "last_seed")
    assert row["value"] == {"note": "edited by hand"} and row["updated_by"] == AHMED
    assert config.list_config_changes()[0] == {**config.list_config_changes()[0], "key": "last_seed", "admin": AHMED}
    assert '"edited by hand"' in at.text_area(key="cfg_text_last_seed").value
