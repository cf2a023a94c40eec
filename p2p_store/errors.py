"""Typed errors of the domain services. Each message is one plain sentence a page can show as is."""

from __future__ import annotations


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


class StoreDown(DomainError):
    """A store did not answer; nothing was changed."""
