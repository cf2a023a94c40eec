"""Alembic environment: the URL comes from p2p_store Settings, the metadata from p2p_store.stores.models.

The app and the tests migrate in-process by passing a live connection in
``config.attributes["connection"]`` (Alembic cookbook); ``alembic upgrade head`` from the shell
opens its own connection to the same database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from p2p_store.settings import get_settings
from p2p_store.stores import local
from p2p_store.stores.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      compare_server_default=False)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=local.postgres_url(get_settings()), target_metadata=target_metadata,
                      literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = create_engine(local.postgres_url(get_settings()), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure_and_run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
