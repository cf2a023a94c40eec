"""sign-in failures keyed by an HMAC of the email, never what was typed (#14.3); full user agents (#15.5)

Revision ID: 0004_people
Revises: 0001
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_people'
down_revision: str | None = '0002_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.execute("UPDATE user_sessions SET user_agent = left(user_agent, 200)")
    op.alter_column('user_sessions', 'user_agent', type_=sa.String(length=200), existing_nullable=False)
    op.drop_table('sign_in_failures')
    op.create_table('sign_in_failures',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_sign_in_failures'))
    )
