"""sign-in failures keyed by an HMAC of the email, never what was typed (#14.3); full user agents (#15.5)

Revision ID: 0004_people
Revises: 0003_security
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_people'
down_revision: str | None = '0003_security'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The console views over the two tables this revision changes (0003_security made them): dropped
# before, made again after, with the allow-list of p2p_store.data.masking at this revision.
VIEWS: dict[str, tuple[str, ...]] = {
    "user_sessions": ("id", "user_id", "created_at", "last_seen_at", "expires_at", "user_agent"),
    "sign_in_failures": ("failures", "window_start", "last_failure_at"),
}
OLD_VIEWS: dict[str, tuple[str, ...]] = {
    "user_sessions": VIEWS["user_sessions"],
    "sign_in_failures": ("failures", "last_failure_at"),
}


def _drop_views() -> None:
    for table in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS console.{table}")


def _create_views(views: dict[str, tuple[str, ...]]) -> None:
    for table, columns in views.items():
        op.execute(f"CREATE VIEW console.{table} WITH (security_barrier) AS "
                   f"SELECT {', '.join(columns)} FROM public.{table}")
        op.execute(f"REVOKE ALL ON console.{table} FROM PUBLIC")
    op.execute("""
        DO $grant$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p2p_readonly') THEN
            GRANT SELECT ON ALL TABLES IN SCHEMA console TO p2p_readonly;
          END IF;
        END $grant$""")


def upgrade() -> None:
    _drop_views()
    # The old rows hold typed text (sometimes a password typed into the email box): drop them, not convert.
    op.drop_table('sign_in_failures')
    op.create_table('sign_in_failures',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_failures'))
    )
    op.alter_column('user_sessions', 'user_agent', type_=sa.String(length=512), existing_nullable=False)
    _create_views(VIEWS)


def downgrade() -> None:
    _drop_views()
    op.execute("UPDATE user_sessions SET user_agent = left(user_agent, 200)")
    op.alter_column('user_sessions', 'user_agent', type_=sa.String(length=200), existing_nullable=False)
    op.drop_table('sign_in_failures')
    op.create_table('sign_in_failures',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_sign_in_failures'))
    )
    _create_views(OLD_VIEWS)
