"""AppTest of the audit explorer (#16.4): admins only, filters narrow the table, paging, undo with
its confirmation, a person's timeline."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from p2p_store import audit
from p2p_store.accounts import directory
from p2p_store.stores import mongo
from seed.dataset import user_id_for
from tests.conftest import REPO_ROOT

AHMED = "ahmed.faisal@advanced-electronics.sa"
SARA = "sara.hassan@advanced-electronics.sa"
AHMED_ID = str(user_id_for(AHMED))
SARA_ID = str(user_id_for(SARA))


def signed_in(email: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.button(key=f"demo_{email}").click().run()
    assert not at.exception
    return at


def test_member_cannot_open_the_audit_log(demo):
    at = signed_in(SARA)
    # registered but hidden for a member, so a shared link lands on the page and its guard answers (#15.5)
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception
    assert any("for admins" in e.value for e in at.error)
    assert not at.dataframe and not at.table


def test_admin_filters_pages_and_reverts_a_role_change(demo):
    for role in ("admin", "user"):
        version = directory.get_account(user_id=SARA_ID)["version"]
        directory.change_role(actor_id=AHMED_ID, user_id=SARA_ID, new_role=role, expected_version=version)
    at = signed_in(AHMED)
    at.query_params["person"] = SARA  # a shared link: the view is in the URL
    at.query_params["action"] = "change_role"
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception and not at.error
    assert at.text_input(key="person").value == SARA and at.selectbox(key="action").value == "change_role"
    shown = at.dataframe[0].value
    assert set(shown["object"]) == {SARA} and set(shown["action"]) == {"role changed"}
    assert list(shown["changes"][:2]) == ["role: admin → user", "role: member → admin"]

    at.selectbox(key="per_page").set_value(25).run()
    newest = int(shown["#"][0])
    at.selectbox(key="audit_revert_pick").set_value(newest).run()
    assert [dict(r) for r in at.table[0].value.to_dict("records")] == [
        {"field": "role", "now": "user", "after the revert": "admin"}]
    at.button(key="audit_revert").click().run()
    assert not at.exception and not at.error
    assert directory.get_account(user_id=SARA_ID)["role"] == "admin"
    assert mongo.get_db()[mongo.PROFILES].find_one({"_id": SARA_ID})["role"] == "admin"
    assert audit.list_events(audit.EventFilter(person=SARA_ID), limit=1)[0]["reverts"] == newest
    assert any("History of" in h.value for h in at.subheader)
