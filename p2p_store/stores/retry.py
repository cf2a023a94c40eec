"""The one retry policy: tenacity, transient errors only, bounded, logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg
import pymongo.errors
import sqlalchemy.exc
from tenacity import (
    RetryError,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from p2p_store.errors import StoreUnavailable, one_line_error

log = logging.getLogger(__name__)

_TRANSIENT = (
    psycopg.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # pool checkout timeout
    pymongo.errors.AutoReconnect,  # includes NetworkTimeout
    pymongo.errors.ServerSelectionTimeoutError,
    pymongo.errors.ConnectionFailure,
    ConnectionError,
)


def is_transient(exc: BaseException) -> bool:
    """True for errors that a later attempt may not see: a dropped connection, a server not up yet."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


def retrying(*, attempts: int = 3, max_wait_s: float = 2.0, give_up_after_s: float | None = None) -> Retrying:
    """A tenacity ``Retrying`` for transient store errors: exponential backoff, bounded attempts and time."""
    stop = stop_after_attempt(attempts)
    if give_up_after_s is not None:
        stop = stop | stop_after_delay(give_up_after_s)
    return Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop,
        wait=wait_exponential(multiplier=0.2, max=max_wait_s),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )


def wait_for(store: str, probe: Callable[[], object], *, attempts: int = 5, max_wait_s: float = 10.0,
             give_up_after_s: float = 60.0) -> None:
    """Call ``probe`` until it succeeds (the seed story: 5 attempts with backoff), else StoreUnavailable
    naming ``store``."""
    policy = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts) | stop_after_delay(give_up_after_s),
        wait=wait_exponential(multiplier=0.5, min=0.5, max=max_wait_s),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=False,
    )
    try:
        policy(probe)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        n = exc.last_attempt.attempt_number
        raise StoreUnavailable(f"not reachable after {n} attempt{'s' if n != 1 else ''}: {one_line_error(last)}",
                               store=store) from None
