"""One typed settings object, read from the environment, shared by app, CLI, Alembic and tests."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A setting in the environment is missing or malformed; the message names the variable."""


_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@?#]*):(?P<pw>[^@/?#]*)@")


def mask_url(url: str | None) -> str:
    """Return the URL with any password replaced by ``***`` (safe for logs, CLI and pages)."""
    if not url:
        return ""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def mask_secrets(text: str, *secrets: str | None) -> str:
    """Mask URLs with passwords and any of the given literal secrets inside free text (error lines)."""
    text = mask_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Environment-driven configuration. Unset store URLs mean: start the embedded local store."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      validate_by_name=True, validate_by_alias=True)

    database_url: str | None = Field(default=None, validation_alias=_env("DATABASE_URL"))
    mongodb_url: str | None = Field(default=None, validation_alias=_env("MONGODB_URL"))
    # The consoles' own logins (#14, docs/architecture.md "Privilege model"); the embedded default
    # provisions them. Unset with an external store: that console is off.
    database_readonly_url: str | None = Field(default=None, validation_alias=_env("DATABASE_READONLY_URL"))
    mongodb_readonly_url: str | None = Field(default=None, validation_alias=_env("MONGODB_READONLY_URL"))
    # The "blue" database; its "green" twin is ``<MONGODB_DB>_green`` (see ``mongodb_dbs``).
    mongodb_db: str = Field(default="p2p_sandbox", validation_alias=_env("MONGODB_DB"))
    env: Literal["development", "production"] = Field(default="development", validation_alias=_env("P2P_ENV"))
    data_dir: Path = Field(default=Path(".p2p-data"), validation_alias=_env("P2P_DATA_DIR"))

    pg_pool_size: int = Field(default=20, ge=1, validation_alias=_env("P2P_PG_POOL_SIZE"))
    pg_max_overflow: int = Field(default=40, ge=0, validation_alias=_env("P2P_PG_MAX_OVERFLOW"))
    pg_pool_recycle_s: int = Field(default=3600, ge=1, validation_alias=_env("P2P_PG_POOL_RECYCLE"))
    pg_connect_timeout_s: int = Field(default=5, ge=1, le=60, validation_alias=_env("P2P_PG_CONNECT_TIMEOUT"))
    pg_statement_timeout_ms: int = Field(default=15000, ge=100, validation_alias=_env("P2P_PG_STATEMENT_TIMEOUT_MS"))
    mongo_max_pool_size: int = Field(default=20, ge=1, validation_alias=_env("P2P_MONGO_MAX_POOL"))
    mongo_min_pool_size: int = Field(default=5, ge=0, validation_alias=_env("P2P_MONGO_MIN_POOL"))
    mongo_server_selection_timeout_ms: int = Field(
        default=3000, ge=100, le=60000, validation_alias=_env("P2P_MONGO_SELECT_TIMEOUT_MS")
    )
    mongo_timeout_ms: int = Field(default=15000, ge=100, validation_alias=_env("P2P_MONGO_TIMEOUT_MS"))
    session_ttl_hours: float = Field(default=12.0, gt=0, validation_alias=_env("P2P_SESSION_TTL_HOURS"))
    # A sign-in unused this long ends (#15.1); P2P_SESSION_TTL_HOURS is the absolute limit.
    session_idle_minutes: float = Field(default=120.0, gt=0, validation_alias=_env("P2P_SESSION_IDLE_MINUTES"))
    # Key of the HMACs the app stores instead of typed text (#14.3). Unset: generated once per data dir.
    secret_key: str | None = Field(default=None, min_length=32, validation_alias=_env("P2P_SECRET_KEY"))
    health_timeout_s: float = Field(default=2.0, gt=0, le=10, validation_alias=_env("P2P_HEALTH_TIMEOUT_S"))

    @field_validator("database_url", "mongodb_url", "database_readonly_url", "mongodb_readonly_url",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("database_url", "database_readonly_url")
    @classmethod
    def _check_database_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        name = info.field_name.upper() if info.field_name else "DATABASE_URL"
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError(f"{name} is not a valid database URL ({mask_url(value)}): {exc}") from None
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"{name} must be a postgresql:// URL, got {url.get_backend_name()!r}")
        # One driver everywhere: psycopg 3.
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)

    @field_validator("mongodb_url", "mongodb_readonly_url")
    @classmethod
    def _check_mongodb_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        name = info.field_name.upper() if info.field_name else "MONGODB_URL"
        if value is None:
            return None
        from pymongo.errors import ConfigurationError, InvalidURI
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(value, connect_timeout=1)
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise ValueError(f"{name} is not a valid MongoDB URL ({mask_url(value)}): {exc}") from None
        return value

    @property
    def mongodb_dbs(self) -> tuple[str, str]:
        """The two MongoDB databases of the blue/green reseed (#19, docs/architecture.md "Reseed"):
        the live data is in one, the next reseed is built in the other, and a pointer in the first
        says which is live."""
        return self.mongodb_db, f"{self.mongodb_db}_green"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def secret_key_bytes(self) -> bytes:
        """P2P_SECRET_KEY, or a random key made once in ``<data dir>/secret_key`` (mode 0600). Several
        replicas of the app must share P2P_SECRET_KEY."""
        if self.secret_key:
            return self.secret_key.encode()
        return _data_dir_key(self.data_dir.resolve())


@functools.cache
def _data_dir_key(data_dir: Path) -> bytes:
    import os
    import secrets

    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic: a complete file or none; the first process wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < 32:
        raise SettingsError(f"{path} is damaged (shorter than 32 characters); delete it to make a new key")
    return key.encode()


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and ``.env``) into Settings; a bad value raises SettingsError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            # loc holds the alias that was read, i.e. the environment variable's name
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(mask_url(msg) if msg.startswith(name) else f"{name}: {mask_url(msg)}")
        raise SettingsError("invalid configuration — " + "; ".join(lines)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide Settings (read once)."""
    return load_settings()
