"""AppTest of the Health page: a row per component, overall status, latency history, the JSON, the
drift link, and pausing the auto-refresh. Readable by every signed-in role."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from p2p_store.settings import get_settings
from p2p_store.stores import generation, schema
from seed.dataset import user_id_for
from tests.conftest import REPO_ROOT

AHMED = "ahmed.faisal@advanced-electronics.sa"
SARA = "sara.hassan@advanced-electronics.sa"
PAGE = "app_pages/health.py"


def on_health(email: str) -> AppTest:
    from p2p_store import health

    health.clear_cache()  # a report left by an earlier test must not be shown as current
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.button(key=f"demo_{email}").click().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def rows(at: AppTest) -> dict[str, dict]:
    table = at.dataframe[0].value
    return {r["Component"]: r for r in table.to_dict("records")}


@pytest.mark.parametrize("email", [SARA, AHMED])
def test_health_page_shows_both_stores_healthy(demo, email):
    at = on_health(email)
    assert [t.value for t in at.title] == ["Health"]
    assert any(":green[:material/check_circle: Healthy]" in m.value for m in at.markdown)
    table = rows(at)
    assert list(table) == ["PostgreSQL", "MongoDB", "Consistency"]
    assert table["PostgreSQL"]["Status"] == "healthy" and table["MongoDB"]["Status"] == "healthy"
    assert table["PostgreSQL"]["Latency (ms)"] >= 0 and table["MongoDB"]["Latency (ms)"] >= 0
    assert table["PostgreSQL"]["Version"][0].isdigit() and table["MongoDB"]["Version"][0].isdigit()
    assert table["PostgreSQL"]["Pool"].endswith("of 20 checked out · overflow 0 of 40")
    assert "max 20 · min 5" in table["MongoDB"]["Pool"]
    assert table["PostgreSQL"]["Migration"] == f"{schema.head_revision()} (at head)"
    live = generation.state()
    assert table["Consistency"]["Consistency"] == (f"role drift 0 · orphans 0 · data {live['postgresql']} "
                                                   f"in {live['database']}")  # which set is live, where (#19)
    assert live["database"] in get_settings().mongodb_dbs
    assert not at.get("page_link")  # no drift, no link

    # The JSON a click away is the report itself.
    [expander] = [e for e in at.expander if e.label == "Report as JSON"]
    report = json.loads(expander.json[0].proto.body)
    assert report["status"] == "healthy" and set(report["checks"]) == {"postgresql", "mongodb", "consistency"}


def test_latency_history_is_kept_bounded_and_charted(demo):
    from p2p_store import health

    at = on_health(SARA)
    for _ in range(3):
        health.clear_cache()  # a new report on each run, as the timer would bring
        at.run()
    assert not at.exception
    history = at.session_state["health_history"]
    assert len(history) >= 2 and history.maxlen == 200
    assert all(h["PostgreSQL"] is not None and h["MongoDB"] is not None for h in history)
    assert len(at.get("vega_lite_chart")) == 1


def test_pause_stops_the_timer_and_the_page_still_renders(demo):
    at = on_health(SARA)
    at.toggle(key="health_paused").set_value(True).run()
    assert not at.exception
    assert any("paused" in c.value for c in at.caption)
    at.toggle(key="health_paused").set_value(False).run()
    assert any("every 3 s" in c.value for c in at.caption)


def test_drift_shows_degraded_and_links_to_the_drift_panel(demo):
    from p2p_store.accounts import consistency
    from p2p_store.stores import mongo

    sara = str(user_id_for(SARA))
    mongo.get_db()[mongo.PROFILES].update_one({"_id": sara}, {"$set": {"role": "admin"}})
    try:
        at = on_health(SARA)
        assert any(":orange[:material/warning: Degraded]" in m.value for m in at.markdown)
        assert rows(at)["Consistency"]["Consistency"].startswith("role drift 1 · orphans 0 · data ")
        [link] = at.get("page_link")
        assert "drift panel" in link.proto.label and link.proto.page.endswith("users")
    finally:
        consistency.repair_drift(actor_id=str(user_id_for(AHMED)))


def test_a_stopped_store_shows_within_seconds_and_no_run_waits_for_it(demo, stores):
    """MongoDB stopped while the page is open: each run stays short (it answers from the latest
    finished report), the panel turns degraded within a few refreshes, other pages still render."""
    import time

    from p2p_store.stores import local

    if stores.mongodb_url:
        pytest.skip("stops the embedded MongoDB-protocol server; MONGODB_URL points elsewhere")
    root = local.data_dir(stores)
    at = on_health(SARA)
    local.stop_local_mongo(root)
    try:
        start = time.monotonic()
        while True:
            run_start = time.monotonic()
            at.run()  # what the fragment's timer does every REFRESH_S
            assert time.monotonic() - run_start < 3.0  # the sidebar's own report included
            assert not at.exception
            if rows(at)["MongoDB"]["Status"] == "unhealthy":
                break
            assert time.monotonic() - start < 10.0, "the panel did not show MongoDB down within 10 s"
            time.sleep(0.5)
        assert any(":orange[:material/warning: Degraded]" in m.value for m in at.markdown)
        assert rows(at)["PostgreSQL"]["Status"] == "healthy"
        assert any(e.value.startswith("**MongoDB**: ") for e in at.error)
        at.switch_page("app_pages/overview.py").run()  # another page: a banner, not a crash
        assert not at.exception
    finally:
        local.ensure_local_mongo(root)  # same port: the app's client finds it again
    at.switch_page(PAGE).run()
    from p2p_store import health

    health.clear_cache()
    at.run()
    assert rows(at)["MongoDB"]["Status"] == "healthy"
