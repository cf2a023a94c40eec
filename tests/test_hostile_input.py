"""Hostile input to every service that takes text a person types: a typed message or a correct
(possibly empty) result, never an unhandled exception, never a write, never a credential shown."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from p2p_store import auth, users
from p2p_store.errors import DomainError
from seed import loader

# unicode, control characters, 100k-character strings, operator-shaped JSON, regex metacharacters, SQL
HOSTILE_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=50),
    st.sampled_from([
        '{"$ne": 1}', '{"$gt": ""}', "$where", "[$regex]", ".*", ".*(", "(?i)a|b", "\\", "[", "a{1000000}",
        "'; DROP TABLE users; --", "' OR '1'='1", "%", "_", "%%__\\%", "\x00", "\x1b[31m", "\u202e", "\ufeff",
        "x" * 100_000, "🙂" * 1000, "null", "None", "<script>alert(1)</script>",
    ]),
)
HOSTILE_ANY = st.one_of(HOSTILE_TEXT, st.none(), st.integers(), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                   max_size=2), st.lists(st.integers()))
FAST = hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def seeded(stores):
    loader.reseed()
    return stores


def _unchanged() -> dict:
    return {"counts": loader.current_counts(), "roles": users.count_by_role(), "audit": len(users.list_role_changes())}


@FAST
@given(search=HOSTILE_ANY, role=HOSTILE_ANY, industry=HOSTILE_ANY, sort=HOSTILE_ANY)
def test_account_search_and_filters(seeded, search, role, industry, sort):
    try:
        page = users.list_accounts(search=search, role=role, industry=industry,
                                   sort=sort if isinstance(sort, str) else "full_name")
    except DomainError:
        return
    # A search that got through is matched literally: every row really contains it.
    needle = users.clean_text(search, field="Search").lower()
    for row in page.rows:
        assert needle in (row["full_name"] + row["email"] + row["company"]).lower()


@FAST
@given(person=HOSTILE_ANY, admin=HOSTILE_ANY)
def test_audit_filters(seeded, person, admin):
    try:
        users.list_role_changes(person=person, admin=admin)
    except DomainError:
        pass


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(email=HOSTILE_ANY, password=HOSTILE_ANY)
def test_sign_in(seeded, email, password):
    with pytest.raises(DomainError) as err:
        auth.sign_in(email=email, password=password)
    assert "Traceback" not in str(err.value) and "argon2" not in str(err.value)


@FAST
@given(user_id=HOSTILE_ANY, role=HOSTILE_ANY, version=HOSTILE_ANY)
def test_role_form(seeded, user_id, role, version):
    before = _unchanged()
    admin = str(users.people_choices()[0]["id"])
    with pytest.raises(DomainError):
        users.change_role(actor_id=admin, user_id=user_id, new_role=role, expected_version=version)
    assert _unchanged() == before
