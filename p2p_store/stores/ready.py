"""One way to bring the stores up (docs/architecture.md, "Stores"): wait for each store with backoff,
apply the Alembic migrations, ensure MongoDB's collections, validators and indexes. Idempotent.

Called by ``python -m p2p_store up``, ``python -m seed``, the app's cached ready checks
(``app_pages/shell.py``, one store at a time, no wait) and the tests' session fixture."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from p2p_store.stores import generation, mongo, pg, schema
from p2p_store.stores.handle import StoreHandle

HANDLES: dict[str, StoreHandle[Any]] = {"postgresql": pg.STORE, "mongodb": mongo.STORE}


def _migrate() -> None:
    status = schema.migration_status()
    if status["current"] != status["head"]:
        schema.upgrade_to_head()


_PREPARE: dict[str, Callable[[], None]] = {"postgresql": _migrate, "mongodb": lambda: mongo.ensure_schema()}


def ensure_store_ready(name: str, *, attempts: int = 1, give_up_after_s: float = 60.0) -> str:
    """Store ``name`` reachable (waiting with backoff when ``attempts`` > 1) and its schema current;
    returns the server version. On any failure the handle is reset, so the next try re-resolves the
    URL (an embedded server that stopped is started again)."""
    handle = HANDLES[name]
    try:
        version = handle.wait(attempts=attempts, give_up_after_s=give_up_after_s) if attempts > 1 else handle.ping()
        _PREPARE[name]()
        return version
    except Exception:
        handle.reset()
        raise


def ensure_ready(*, attempts: int = 5, give_up_after_s: float = 60.0) -> dict[str, Any]:
    """Both stores reachable and prepared: ``{"versions": {store: version}, "migration": {...}}``.
    Starts the embedded servers if no URL is set. Raises StoreUnavailable naming the store."""
    versions = {name: ensure_store_ready(name, attempts=attempts, give_up_after_s=give_up_after_s)
                for name in HANDLES}
    recovered = generation.recover()  # an interrupted reseed's swap finished or discarded (#19)
    return {"versions": versions, "migration": schema.migration_status(), "recovered": recovered}
