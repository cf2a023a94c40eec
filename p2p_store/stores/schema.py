"""Bringing both stores' schema to where the code expects it: Alembic for PostgreSQL, indexes and
validators for MongoDB. Used by ``python -m p2p_store up``, the app's start-up and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from p2p_store.stores import mongo, pg

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    return Config(str(REPO_ROOT / "alembic.ini"))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migration_status(engine: Engine | None = None) -> dict[str, Any]:
    """``{"current": rev, "head": rev}`` of the PostgreSQL schema."""
    engine = engine or pg.get_engine()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return {"current": current, "head": head_revision()}


def upgrade_to_head(engine: Engine | None = None) -> None:
    """Apply pending migrations in-process, on a connection of the app's engine."""
    engine = engine or pg.get_engine()
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def downgrade_to_base(engine: Engine | None = None) -> None:
    engine = engine or pg.get_engine()
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")


def bring_up(*, attempts: int = 5) -> dict[str, Any]:
    """Start embedded stores if needed, wait for both, migrate, ensure Mongo schema. Idempotent."""
    from p2p_store.stores.retry import wait_for_services

    from p2p_store.stores import generation

    versions = wait_for_services(attempts=attempts)
    status = migration_status()
    if status["current"] != status["head"]:
        upgrade_to_head()
    mongo.ensure_schema()
    recovered = generation.recover()  # an interrupted reseed's swap finished, or its staging dropped (#19)
    return {"versions": versions, "migration": migration_status(), "recovered": recovered}
