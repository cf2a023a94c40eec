"""Settings: a malformed value fails at start with the variable's name; URLs are shown masked.

No store is needed here: these tests only read the environment.
"""

from __future__ import annotations

import pytest

from p2p_store.settings import Settings, SettingsError, load_settings, mask_secrets, mask_url


@pytest.fixture
def clean_env(monkeypatch):
    """The environment without any store URL, so each test sets exactly what it checks."""
    for name in ("DATABASE_URL", "MONGODB_URL", "MONGODB_DB", "P2P_ENV", "P2P_PG_POOL_SIZE",
                 "P2P_PG_MAX_OVERFLOW", "P2P_MONGO_MAX_POOL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "value",
    ["not a url", "mysql://u:pw@db.example/app", "postgresql://u:pw@db.example:notaport/app"],
)
def test_malformed_database_url_names_the_variable(clean_env, value):
    clean_env.setenv("DATABASE_URL", value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "DATABASE_URL" in str(excinfo.value)


@pytest.mark.parametrize(
    "value",
    ["http://localhost:27017", "mongodb://u:pw@", "mongodb://localhost:99999/"],
)
def test_malformed_mongodb_url_names_the_variable(clean_env, value):
    clean_env.setenv("MONGODB_URL", value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "MONGODB_URL" in str(excinfo.value)


@pytest.mark.parametrize("name", ["P2P_PG_POOL_SIZE", "P2P_PG_MAX_OVERFLOW", "P2P_MONGO_MAX_POOL"])
def test_non_integer_pool_size_names_the_variable(clean_env, name):
    clean_env.setenv(name, "twenty")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert name in str(excinfo.value)


def test_overrides_are_validated_like_the_environment(clean_env):
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings(database_url="sqlite:///x.db")
    with pytest.raises(SettingsError, match="P2P_PG_POOL_SIZE"):
        load_settings(P2P_PG_POOL_SIZE="many")


def test_unknown_environment_name_is_refused(clean_env):
    clean_env.setenv("P2P_ENV", "staging")
    with pytest.raises(SettingsError, match="P2P_ENV"):
        load_settings()


def test_error_message_never_shows_the_password(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://app:s3cret-pw@db.example:notaport/app")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert "s3cret-pw" not in message
    assert "DATABASE_URL" in message
    assert "\n" not in message  # one line, not a traceback


def test_error_is_a_message_not_a_pydantic_traceback(clean_env):
    clean_env.setenv("MONGODB_URL", "mongodb://app:s3cret-pw@")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert excinfo.value.__cause__ is None  # raised "from None": no driver/pydantic chain shown
    assert "s3cret-pw" not in str(excinfo.value)


def test_defaults_when_nothing_is_set(clean_env):
    settings = load_settings()
    assert isinstance(settings, Settings)
    assert settings.database_url is None and settings.mongodb_url is None  # embedded default
    assert settings.mongodb_db == "p2p_sandbox"
    assert settings.env == "development" and not settings.is_production
    assert (settings.pg_pool_size, settings.pg_max_overflow) == (20, 40)
    assert (settings.mongo_max_pool_size, settings.mongo_min_pool_size) == (20, 5)
    assert settings.mongo_server_selection_timeout_ms <= 60000  # bounded: nothing waits 30 s+


def test_blank_url_means_embedded(clean_env):
    clean_env.setenv("DATABASE_URL", "  ")
    clean_env.setenv("MONGODB_URL", "")
    settings = load_settings()
    assert settings.database_url is None and settings.mongodb_url is None


def test_database_url_is_normalised_to_psycopg(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql://app:pw@db.example:5432/app")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://app:pw@db.example:5432/app"


def test_production_is_read_from_p2p_env(clean_env):
    clean_env.setenv("P2P_ENV", "production")
    assert load_settings().is_production


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://app:s3cret@db:5432/p2p", "postgresql+psycopg://app:***@db:5432/p2p"),
        ("postgresql://app:p%40ss@db/p2p?sslmode=require", "postgresql://app:***@db/p2p?sslmode=require"),
        ("mongodb://app:s3cret@h1:27017,h2:27017/?authSource=admin",
         "mongodb://app:***@h1:27017,h2:27017/?authSource=admin"),
        ("mongodb+srv://app:s3cret@cluster0.example.net/", "mongodb+srv://app:***@cluster0.example.net/"),
        ("postgresql://app@db/p2p", "postgresql://app@db/p2p"),  # nothing to hide
        ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"),
    ],
)
def test_mask_url_hides_passwords(url, masked):
    assert mask_url(url) == masked


def test_mask_url_of_nothing_is_empty():
    assert mask_url(None) == ""
    assert mask_url("") == ""


def test_mask_secrets_in_free_text():
    line = "could not connect to postgresql://app:s3cret@db/p2p (token abc123)"
    masked = mask_secrets(line, "abc123")
    assert "s3cret" not in masked and "abc123" not in masked
    assert "postgresql://app:***@db/p2p" in masked
