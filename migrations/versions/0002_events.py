"""events: the append-only event log and MongoDB outbox replaces role_changes (#16)

Revision ID: 0002_events
Revises: 0001
Create Date: 2026-12-02

Rows of ``role_changes`` are carried over (role → before/after, the key of a config edit → object id).
A trigger makes the table append-only for every login, the owner included: UPDATE only for the
transition mongo_outcome pending → applied (+ applied_at), no DELETE, no TRUNCATE.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002_events'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.mongo_outcome = 'pending' AND NEW.mongo_outcome = 'applied'
       AND (to_jsonb(NEW) - 'mongo_outcome' - 'applied_at') = (to_jsonb(OLD) - 'mongo_outcome' - 'applied_at') THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.UUID(), nullable=True),
    sa.Column('actor_email', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('object_kind', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=100), nullable=False),
    sa.Column('object_email', sa.String(length=254), server_default='', nullable=False),
    sa.Column('object_version', sa.Integer(), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('pg_outcome', sa.String(length=16), server_default='applied', nullable=False),
    sa.Column('mongo_outcome', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('reverts_id', sa.BigInteger(), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_object_id_id', 'events', ['object_id', 'id'], unique=False)
    op.create_index('ix_events_object_email_id', 'events', ['object_email', 'id'], unique=False)
    op.create_index('ix_events_actor_email_id', 'events', ['actor_email', 'id'], unique=False)
    op.create_index('ix_events_action_id', 'events', ['action', 'id'], unique=False)
    op.create_index('ix_events_at', 'events', ['at'], unique=False)
    op.create_index('ix_events_pending', 'events', ['id'], unique=False,
                    postgresql_where=sa.text("mongo_outcome = 'pending'"))
    op.execute("""
        INSERT INTO events (at, actor_id, actor_email, action, object_kind, object_id, object_email,
                            before, after, pg_outcome, mongo_outcome, request_id, note)
        SELECT changed_at, changed_by_id, changed_by_email, action,
               CASE WHEN action = 'edit_config' THEN 'config' ELSE 'account' END,
               CASE WHEN action = 'edit_config' THEN left(note, 100) ELSE user_id::text END,
               CASE WHEN action = 'edit_config' THEN '' ELSE user_email END,
               CASE WHEN old_role IS NULL THEN NULL ELSE jsonb_build_object('role', old_role) END,
               CASE WHEN new_role IS NULL THEN NULL ELSE jsonb_build_object('role', new_role) END,
               'applied',
               CASE WHEN mongo_outcome IN ('applied', 'repaired', 'no profile') THEN 'applied' ELSE 'n/a' END,
               gen_random_uuid()::text, note
        FROM role_changes ORDER BY id
    """)
    op.drop_index('ix_role_changes_user_id_changed_at', table_name='role_changes')
    op.drop_index(op.f('ix_role_changes_changed_by_id'), table_name='role_changes')
    op.drop_index(op.f('ix_role_changes_changed_at'), table_name='role_changes')
    op.drop_table('role_changes')
    op.execute(APPEND_ONLY)
    op.execute("CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
               "FOR EACH ROW EXECUTE FUNCTION events_append_only()")
    op.execute("CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
               "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()")


def downgrade() -> None:
    # The log's rows are not carried back (role_changes cannot hold before/after); the table is dropped.
    op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
    op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
    op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    op.drop_table('events')
    op.create_table('role_changes',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('changed_by_id', sa.UUID(), nullable=True),
    sa.Column('changed_by_email', sa.String(length=254), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('user_email', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=32), server_default='change_role', nullable=False),
    sa.Column('old_role', sa.String(length=16), nullable=True),
    sa.Column('new_role', sa.String(length=16), nullable=True),
    sa.Column('pg_outcome', sa.String(length=32), nullable=False),
    sa.Column('mongo_outcome', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_changes'))
    )
    op.create_index(op.f('ix_role_changes_changed_at'), 'role_changes', ['changed_at'], unique=False)
    op.create_index(op.f('ix_role_changes_changed_by_id'), 'role_changes', ['changed_by_id'], unique=False)
    op.create_index('ix_role_changes_user_id_changed_at', 'role_changes', ['user_id', 'changed_at'], unique=False)
