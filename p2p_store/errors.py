"""Every error type of the domain, and the one formatter that turns any exception into one line.

Each ``DomainError`` message is one plain sentence a page can show as is. Any other exception reaches
a person (page banner, CLI, health report) only through :func:`one_line_error`: no traceback, no
credential (docs/architecture.md, "Errors")."""

from __future__ import annotations

import re

from p2p_store.settings import mask_secrets


class DomainError(Exception):
    """Base of every error a page shows to a person."""


class InvalidInput(DomainError):
    """What was typed or picked is not acceptable (the message says why)."""


class NotFound(DomainError):
    """No such account, post, use case..."""


class PermissionDenied(DomainError):
    """The signed-in role may not do this."""


class Conflict(DomainError):
    """The record changed since it was read (optimistic locking)."""


class LastAdmin(DomainError):
    """The change would leave no active admin."""


class Refused(DomainError):
    """Not allowed in this environment (e.g. reseed in production) or while other work runs."""


class StoreUnavailable(DomainError):
    """A store did not answer, or its embedded server is not running; nothing was changed.

    ``store`` names it ("PostgreSQL", "MongoDB") when the raiser knows which; with ``store`` given the
    message starts with it ("MongoDB: not reachable after 5 attempts: ...")."""

    def __init__(self, message: str, *, store: str | None = None):
        super().__init__(f"{store}: {message}" if store else message)
        self.store = store



# ------------------------------------------------------------------ any exception as one line

_NOISE = (
    re.compile(r"\s*\(configured timeouts:[^)]*\)"),  # pymongo appends its timeout settings
    re.compile(r",\s*(Timeout|full error|Topology Description):.*$"),
    re.compile(r"\s*\(Background on this error at:[^)]*\)"),  # SQLAlchemy's link
    re.compile(r"^\((psycopg|sqlalchemy)[\w.]*\)\s*"),  # SQLAlchemy's "(psycopg.OperationalError) " prefix
)
MAX_LINE = 200  # characters of the message kept after the type name


def one_line_error(exc: BaseException, *secrets: str | None) -> str:
    """An exception as one readable line: no traceback, no credentials (URLs masked, ``secrets`` too)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for pattern in _NOISE:
        text = pattern.sub("", text)
    text = text.strip() or type(exc).__name__
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE - 3] + "..."
    return mask_secrets(f"{type(exc).__name__}: {text}", *secrets)
