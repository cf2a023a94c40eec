"""System configuration: listing, admin-only edits with validation, optimistic locking and audit."""

from __future__ import annotations

import json

import pytest

from p2p_store.errors import Conflict, InvalidInput, NotFound, PermissionDenied

AHMED = "ahmed.faisal@advanced-electronics.sa"
SARA = "sara.hassan@advanced-electronics.sa"


def _uid(email: str) -> str:
    from seed.dataset import user_id_for

    return str(user_id_for(email))


@pytest.fixture
def feature_flag(demo):
    """A configuration row besides ``last_seed`` (written as the seeding code writes its record)."""
    from sqlalchemy import delete

    from p2p_store.stores import pg
    from p2p_store.stores.models import SystemConfig

    with pg.session_scope() as session:
        session.merge(SystemConfig(key="feature_flags", value={"map_clusters": True},
                                   description="Switches for features in trial", updated_by="test"))
    yield "feature_flags"
    with pg.session_scope() as session:
        session.execute(delete(SystemConfig).where(SystemConfig.key == "feature_flags"))


def _row(key: str) -> dict:
    from p2p_store.data import config

    return next(r for r in config.list_configs() if r["key"] == key)


def test_list_shows_the_last_seed_record(demo):
    from p2p_store.data import config

    rows = config.list_configs()
    last = next(r for r in rows if r["key"] == "last_seed")
    assert last["value"]["scale"] == 0 and last["value"]["counts"]["use_cases"] == 17
    assert last["updated_by"] == "cli"
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows)


def test_an_admin_edits_a_value_with_an_audit_row(feature_flag):
    from p2p_store.accounts import directory
    from p2p_store.data import config

    before = _row(feature_flag)
    saved = config.update_config(actor_id=_uid(AHMED), key=feature_flag,
                                 value_text='{"map_clusters": false, "limit": 5}',
                                 expected_updated_at=before["updated_at"])
    assert saved["value"] == {"map_clusters": False, "limit": 5}
    after = _row(feature_flag)
    assert after["value"] == {"map_clusters": False, "limit": 5}
    assert after["updated_by"] == AHMED and after["updated_at"] >= before["updated_at"]

    audit = [a for a in directory.list_role_changes(admin=AHMED) if a["action"] == "edit_config"]
    assert audit and audit[0]["note"] == feature_flag and audit[0]["person"] == feature_flag
    edits = config.list_config_changes()
    assert edits[0]["key"] == feature_flag and edits[0]["admin"] == AHMED


def test_a_member_is_refused_and_nothing_changes(feature_flag):
    from p2p_store.data import config

    earlier = config.list_config_changes()  # the event log outlives reseeds (#16)
    for actor in (_uid(SARA), "not-a-uuid", None, 42):
        with pytest.raises(PermissionDenied):
            config.update_config(actor_id=actor, key=feature_flag, value_text='{"map_clusters": false}')
    assert _row(feature_flag)["value"] == {"map_clusters": True}
    assert config.list_config_changes() == earlier


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("   ", "empty"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"a string"', "JSON object"),
    ("42", "JSON object"),
    ('{"x": NaN}', "NaN"),
    ('{"x": Infinity}', "Infinity"),
    ('{"x": "\\u0000"}', "NUL"),
    ("[" * 5000 + "]" * 5000, ""),  # nested too deep, or not an object: refused either way
    ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"x": "' + "a" * 20_000 + '"}', "too long"),
])
def test_invalid_json_is_refused_with_a_reason(feature_flag, text, why):
    from p2p_store.data import config

    with pytest.raises(InvalidInput) as err:
        config.update_config(actor_id=_uid(AHMED), key=feature_flag, value_text=text)
    assert why in str(err.value)
    assert "\n" not in str(err.value)
    assert _row(feature_flag)["value"] == {"map_clusters": True}


@pytest.mark.parametrize("value", [None, 42, {"$set": {"x": 1}}, ["{}"], b"{}"])
def test_non_text_values_are_refused(feature_flag, value):
    from p2p_store.data import config

    with pytest.raises(InvalidInput):
        config.update_config(actor_id=_uid(AHMED), key=feature_flag, value_text=value)


def test_unknown_or_malformed_keys_are_not_found(demo):
    from p2p_store.data import config

    for key in ("no_such_key", "", "k" * 101, None, {"$ne": ""}, ["last_seed"]):
        with pytest.raises(NotFound):
            config.update_config(actor_id=_uid(AHMED), key=key, value_text="{}")


def test_an_edit_made_meanwhile_is_not_overwritten(feature_flag):
    from p2p_store.data import config

    loaded = _row(feature_flag)
    config.update_config(actor_id=_uid(AHMED), key=feature_flag, value_text='{"map_clusters": false}',
                         expected_updated_at=loaded["updated_at"])
    with pytest.raises(Conflict):
        config.update_config(actor_id=_uid(AHMED), key=feature_flag, value_text='{"map_clusters": "yes"}',
                             expected_updated_at=loaded["updated_at"])
    assert _row(feature_flag)["value"] == {"map_clusters": False}


def test_saving_the_same_value_is_not_an_edit(feature_flag):
    from p2p_store.data import config

    earlier = config.list_config_changes()
    with pytest.raises(InvalidInput, match="already has this value"):
        config.update_config(actor_id=_uid(AHMED), key=feature_flag, value_text=' { "map_clusters" : true } ')
    assert config.list_config_changes() == earlier


def test_a_value_round_trips_unicode_and_nesting(feature_flag):
    from p2p_store.data import config

    value = {"welcome": "أهلاً وسهلاً", "nested": {"list": [1, 2.5, None, True], "deep": {"k": "v"}}}
    config.update_config(actor_id=_uid(AHMED), key=feature_flag, value_text=json.dumps(value, ensure_ascii=False))
    assert _row(feature_flag)["value"] == value
