"""What may leave the stores: an allow-list of visible columns per table (#14).

A column is shown only if it is listed here for its table; everything else (a secret such as a
password or token hash, what a failed sign-in typed, and any column a later migration adds before
it is listed) is replaced by ``MASK`` in the explorer and its exports, and is absent from the
console's views (migration 0003_security keeps a frozen copy of this list; tests/security checks
they agree). Masking is by column, never by the shape of a value. docs/architecture.md,
"Privilege model".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "•••"

VISIBLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "full_name", "company", "role", "is_active", "must_change_password",
              "last_login_at", "version", "created_at", "updated_at"),
    "user_sessions": ("id", "user_id", "created_at", "last_seen_at", "expires_at", "user_agent"),
    "system_configs": ("key", "value", "description", "updated_at", "updated_by"),
    "events": ("id", "at", "actor_id", "actor_email", "action", "object_kind", "object_id", "object_email",
               "object_version", "before", "after", "pg_outcome", "mongo_outcome", "request_id", "reverts_id",
               "applied_at", "note"),
    "sign_in_failures": ("failures", "window_start", "last_failure_at"),
}
# Tables only admins may open in the explorer (who signed in when, failed sign-ins).
ADMIN_ONLY_TABLES = frozenset({"user_sessions", "sign_in_failures"})
# MongoDB documents hold no secrets today; a field with one of these names is masked wherever it is.
SECRET_FIELD_NAMES = frozenset({"password", "password_hash", "token", "token_hash", "secret", "api_key"})


def is_visible(table: str, column: str) -> bool:
    """True if ``column`` of PostgreSQL table ``table`` may be shown."""
    return column in VISIBLE_COLUMNS.get(table, ())


def is_secret(column: object) -> bool:
    """True for a document field that is never shown (by name, at any depth)."""
    return isinstance(column, str) and column.lower() in SECRET_FIELD_NAMES


def mask_value(column: object, value: Any) -> Any:
    """``value`` as it may be shown under the field name ``column`` (documents, nested)."""
    if is_secret(column):
        return MASK
    if isinstance(value, Mapping):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(None, v) for v in value]
    return value


def mask_row(row: Mapping[str, Any], table: str | None = None) -> dict[str, Any]:
    """A row of PostgreSQL ``table`` (columns not on its allow-list masked) or a document (``table``
    None: secret field names masked at any depth)."""
    if table is not None:
        return {k: (v if is_visible(table, k) else MASK) for k, v in row.items()}
    return {key: mask_value(key, value) for key, value in row.items()}


# For error lines and logs only (defence in depth; results are masked by column above).
_SECRET_VALUE = re.compile(r"\$argon2(?:id|i|d)\$\S+|(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def mask_text(text: str) -> str:
    """An error line with anything shaped like a stored secret masked."""
    return _SECRET_VALUE.sub(MASK, text)
