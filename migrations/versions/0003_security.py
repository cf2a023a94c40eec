"""console views for the read-only login (#14)

The SQL console logs in as ``p2p_readonly``, which may SELECT only these views: each is a table of
the app with its secret columns left out (password and token hashes, what a failed sign-in typed).
The views are owned by the schema owner (this migration runs as the owner), so reading one needs no
right on the table behind it. See docs/architecture.md, "Privilege model".

Revision ID: 0003_security
Revises: 0002_events
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0003_security'
down_revision: str | None = '0002_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READONLY_ROLE = "p2p_readonly"
# Frozen copy of the allow-list of p2p_store.data.masking.VISIBLE_COLUMNS at this revision
# (tests/security/test_masking.py checks they agree).
VIEWS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "full_name", "company", "role", "is_active", "must_change_password",
              "last_login_at", "version", "created_at", "updated_at"),
    "user_sessions": ("id", "user_id", "created_at", "last_seen_at", "expires_at", "user_agent"),
    "system_configs": ("key", "value", "description", "updated_at", "updated_by"),
    "events": ("id", "at", "actor_id", "actor_email", "action", "object_kind", "object_id", "object_email",
               "object_version", "before", "after", "pg_outcome", "mongo_outcome", "request_id", "reverts_id",
               "applied_at", "note"),
    "sign_in_failures": ("failures", "last_failure_at"),
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS console")
    for table, columns in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW console.{_quote(table)} WITH (security_barrier) AS "
                   f"SELECT {', '.join(_quote(c) for c in columns)} FROM public.{_quote(table)}")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA console FROM PUBLIC")
    # The read-only login exists on the embedded server (provisioned) and where an operator created it
    # (README, "Read-only console logins"); elsewhere the console is off and nothing is granted.
    op.execute(f"""
        DO $grant$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READONLY_ROLE}') THEN
            GRANT USAGE ON SCHEMA console TO {READONLY_ROLE};
            GRANT SELECT ON ALL TABLES IN SCHEMA console TO {READONLY_ROLE};
          END IF;
        END $grant$""")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS console CASCADE")
