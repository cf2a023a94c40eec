"""What a store handle is (docs/architecture.md, "Stores"): one object per store, in the style of
Datasette's ``Database`` and Streamlit's ``BaseConnection``. It owns the URL resolution (the
environment's URL, or the embedded server of the data dir), the pool, ``ping``, the pool figures and
``reset()``; :mod:`p2p_store.stores.ready` brings every store up (wait, migrate, indexes). Health asks the handles."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from p2p_store.errors import StoreUnavailable
from p2p_store.settings import Settings, get_settings
from p2p_store.stores import retry

P = TypeVar("P")  # the pool object: an Engine, a MongoClient

UP_HINT = "python -m p2p_store up"


class StoreHandle(ABC, Generic[P]):
    """One store: created once per process for the app (``pg.STORE``, ``mongo.STORE``), or with its
    own ``settings`` for a one-off check of other servers (closed with :meth:`reset`)."""

    name: str  # the health report's key: "postgresql", "mongodb"
    label: str  # what a person reads: "PostgreSQL", "MongoDB"

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings  # None: the process-wide settings, read when first needed
        self._lock = threading.Lock()
        self._pool: P | None = None

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    # -- the URL and the pool
    @abstractmethod
    def url(self, settings: Settings | None = None) -> str:
        """The URL in use: the environment's, else the embedded server's (started if needed)."""

    @abstractmethod
    def embedded_running(self) -> bool:
        """Whether the embedded server of the data dir runs (never starts it)."""

    @abstractmethod
    def _open(self, settings: Settings) -> P:
        """A new pool for ``settings`` (resolving the URL through :meth:`url`)."""

    @abstractmethod
    def _close(self, pool: P) -> None: ...

    def pool(self, settings: Settings | None = None) -> P:
        """The pool, created on first use (which may start the embedded server); ``settings``, when
        given, are the ones it is created with (else the handle's)."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._open(settings or self.settings)
        return self._pool

    def current(self) -> P | None:
        """The pool if it was created (never creates one, never starts a store)."""
        return self._pool

    def running_pool(self) -> P:
        """The pool when the store is configured or its embedded server runs; otherwise
        StoreUnavailable. A check (health) goes through this so it never starts a server."""
        pool = self._pool
        if pool is not None:
            return pool
        if self.external_url() or self.embedded_running():
            return self.pool()
        raise StoreUnavailable(f"the embedded {self.label} is not running (start it: {UP_HINT})")

    @abstractmethod
    def external_url(self) -> str | None:
        """The URL set in the environment, if any."""

    def reset(self) -> None:
        """Close every pooled connection and forget the pool: the next use re-resolves the URL (an
        embedded server that stopped is started again, maybe on another port)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            self._close(pool)

    # -- answers
    @abstractmethod
    def ping(self) -> str:
        """One round trip; returns the server version."""

    @abstractmethod
    def pool_figures(self) -> dict[str, Any]:
        """The pool's figures in the health report's shape (configured figures when no pool exists)."""

    def wait(self, *, attempts: int = 5, give_up_after_s: float = 60.0) -> str:
        """Ping until it answers (retry with backoff, bounded); returns the server version, else
        StoreUnavailable naming the store."""
        answer: dict[str, str] = {}
        retry.wait_for(self.label, lambda: answer.setdefault("version", self.ping()), attempts=attempts,
                       give_up_after_s=give_up_after_s)
        return answer["version"]
