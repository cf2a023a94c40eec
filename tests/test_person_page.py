"""A person's page per role (#15.2/#15.3): ``/users?person=<id>``. A member reads and sees no actions;
an admin's actions there reach only that person, take effect every time, and the page shows the new
values at once."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from p2p_store.accounts import directory
from p2p_store.stores import mongo, pg
from p2p_store.stores.models import Event
from seed.dataset import user_id_for
from tests.conftest import REPO_ROOT

AHMED = "ahmed.faisal@advanced-electronics.sa"
SARA = "sara.hassan@advanced-electronics.sa"
MOHAMMED = "mohammed.rashid@gulfplastics.sa"
SARA_ID = str(user_id_for(SARA))
MOHAMMED_ID = str(user_id_for(MOHAMMED))


def person_page(email: str, person_id: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.button(key=f"demo_{email}").click().run()
    at.switch_page("app_pages/users.py")
    at.query_params["person"] = person_id
    at.run()
    assert not at.exception
    return at


def button(at: AppTest, label_start: str):
    found = [b for b in at.button if b.label.replace("\u2068", "").replace("\u2069", "").startswith(label_start)]
    assert found, f"no button {label_start!r} in {[b.label for b in at.button]}"
    return found[0]


def audit_rows(action: str, email: str) -> int:
    with pg.new_session() as session:
        return session.scalar(select(func.count()).select_from(Event)
                              .where(Event.action == action, Event.object_email == email))


def snapshot() -> list[tuple]:
    return [(a["email"], a["role"], a["is_active"], a["company"], a["version"])
            for a in directory.list_accounts(page_size=100).rows]


def test_member_reads_a_person_and_sees_no_actions(demo):
    at = person_page(SARA, MOHAMMED_ID)
    assert [h.value.strip("\u2068\u2069") for h in at.header] == ["Mohammed Rashid"]
    labels = {b.label for b in at.button}
    assert not any(x in " ".join(labels) for x in ("Deactivate", "Reactivate", "temporary password", "Save",
                                                   "Delete", "End this sign-in"))
    assert not at.form and not any(s.value == "History" for s in at.subheader)
    assert not at.selectbox


def test_admin_deactivate_reactivate_deactivate_each_takes_effect_with_toast_and_audit(demo):
    at = person_page(AHMED, MOHAMMED_ID)
    others = [row for row in snapshot() if row[0] != MOHAMMED]
    before = audit_rows("deactivate", MOHAMMED), audit_rows("reactivate", MOHAMMED)  # the log outlives reseeds (#16)
    for step, (label, active) in enumerate([("Deactivate", False), ("Reactivate", True), ("Deactivate", False)]):
        button(at, label).click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert directory.get_account(user_id=MOHAMMED_ID)["is_active"] is active, step
        assert any(("inactive" if not active else "active") in t.value for t in at.toast), step
        # the page shows the new state: the next button is the opposite action
        button(at, "Reactivate" if not active else "Deactivate")
    assert (audit_rows("deactivate", MOHAMMED), audit_rows("reactivate", MOHAMMED)) == (before[0] + 2, before[1] + 1)
    assert [row for row in snapshot() if row[0] != MOHAMMED] == others  # nobody else changed


def test_admin_edits_company_role_and_the_page_shows_new_values(demo):
    at = person_page(AHMED, SARA_ID)
    at.text_input(key=next(w.key for w in at.text_input if w.label == "Company")).input("مصنع الخليج")
    button(at, "Save changes").click().run()
    assert not at.exception and not at.error
    assert directory.get_account(user_id=SARA_ID)["company"] == "مصنع الخليج"
    assert any("مصنع الخليج" in m.value for m in at.markdown)  # profile block re-read
    assert next(w for w in at.text_input if w.label == "Company").value == "مصنع الخليج"
    role_box = next(w for w in at.selectbox if w.label == "New role")
    assert role_box.value == "member"
    role_box.set_value("user")
    button(at, "Save role").click().run()
    assert directory.get_account(user_id=SARA_ID)["role"] == "user"
    assert mongo.get_db()[mongo.PROFILES].find_one({"_id": SARA_ID})["role"] == "user"
    assert next(w for w in at.selectbox if w.label == "New role").value == "user"  # resets to the current role
    assert directory.get_account(user_id=MOHAMMED_ID)["role"] == "admin"


def test_conflict_offers_load_the_current_version_and_keeps_the_admin_signed_in(demo):
    at = person_page(AHMED, SARA_ID)
    directory.change_role(actor_id=MOHAMMED_ID, user_id=SARA_ID, new_role="user",
                          expected_version=directory.get_account(user_id=SARA_ID)["version"])
    button(at, "Deactivate").click().run()
    assert any("changed by someone else" in w.value for w in at.warning)
    assert directory.get_account(user_id=SARA_ID)["is_active"] is True
    button(at, "Load the current version").click().run()
    assert not any("changed by someone else" in w.value for w in at.warning)
    assert next(w for w in at.selectbox if w.label == "New role").value == "user"
    button(at, "Deactivate").click().run()  # now it works
    assert directory.get_account(user_id=SARA_ID)["is_active"] is False


def test_unknown_or_junk_person_link_is_a_message(demo):
    for junk in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", "'; DROP TABLE users; --"):
        at = person_page(AHMED, junk)
        assert not at.exception
        assert any("No such account" in e.value for e in at.error) or any("does not exist" in i.value for i in at.info)


def test_arabic_city_on_my_account_keeps_the_region(demo):
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.button(key=f"demo_{SARA}").click().run()
    at.switch_page("app_pages/account.py").run()
    profiles = mongo.get_db()[mongo.PROFILES]
    at.text_input(key="own_city").input("جدة")
    at.button(key="FormSubmitter:own_profile-Save profile").click().run()
    assert not at.exception and not at.error
    assert profiles.find_one({"_id": SARA_ID})[("region")] == "Makkah Region"  # the Arabic name is known
    at.text_input(key="own_city").input("حي الصناعية الثانية")  # not in the list: the region stays
    at.button(key="FormSubmitter:own_profile-Save profile").click().run()
    profile = profiles.find_one({"_id": SARA_ID})
    assert profile["city"] == "حي الصناعية الثانية" and profile["region"] == "Makkah Region"


HOSTILE = "![x](http://127.0.0.1:9/evil) **bold** <img src=x>"
ESCAPED = r"\!\[x\]\(http\://127.0.0.1\:9/evil\) \*\*bold\*\* \<img src=x\>"  # widgets.md of HOSTILE


def shown_texts(at: AppTest) -> list[str]:
    """Every string the page gives Streamlit's Markdown renderer (bodies, labels, toasts, banners)."""
    texts = [e.value for kind in ("markdown", "caption", "title", "header", "subheader", "success", "info",
                                  "warning", "error", "toast") for e in at.get(kind)]
    return texts + [w.label for kind in ("button", "expander") for w in at.get(kind)]


def assert_literal(at: AppTest, where: str) -> None:
    texts = shown_texts(at)
    raw = [t for t in texts if "![x](" in t or re.search(r"(?<!\\)<img", t) or "**bold**" in t]
    assert not raw, f"{where}: unescaped hostile text in {raw}"


def test_hostile_name_and_company_render_as_literal_text(demo):
    """#14.5 / #15.6: a name and company that are Markdown (a remote image, bold, raw HTML) are shown
    as the literal characters on the person page, its toast, the Users list and the audit page."""
    at = person_page(AHMED, SARA_ID)
    for label in ("Name", "Company"):
        at.text_input(key=next(w.key for w in at.text_input if w.label == label)).input(HOSTILE)
    button(at, "Save changes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert directory.get_account(user_id=SARA_ID)["full_name"] == HOSTILE  # stored as typed
    # the toast names the person: escaped, then isolated (FSI … PDI) for mixed directions
    assert any(f"\u2068{ESCAPED}\u2069" in t.value for t in at.toast), [t.value for t in at.toast]
    assert [h.value for h in at.header] == [f"\u2068{ESCAPED}\u2069"]
    assert any(f"**Company**  \n\u2068{ESCAPED}\u2069" == m.value for m in at.markdown)
    assert any(b.label == f"Deactivate \u2068{ESCAPED}\u2069" for b in at.button)
    assert_literal(at, "person page")
    button(at, "Deactivate").click().run()  # a second toast with the name
    assert any(f"\u2068{ESCAPED}\u2069 is now inactive" in t.value for t in at.toast), [t.value for t in at.toast]
    assert_literal(at, "person page after deactivate")

    at.query_params.pop("person", None)  # the Users list
    at.run()
    assert not at.exception
    assert_literal(at, "users list")

    at.switch_page("app_pages/audit.py")
    at.query_params["person"] = SARA  # the audit page's timeline of this person
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert_literal(at, "audit page")
