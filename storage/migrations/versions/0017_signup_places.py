"""sign-up places: a participant status, an announcement's capacity, the time of signing up

Each sign-up gets a participant status (staff move it), an announcement a capacity, and a sign-up the
time it (last) became "signed up", which orders the places and the waiting list.

signups.participant_status is "registered" for every sign-up stored before; signed_up_at is their created_at
(the waiting list is computed from it and the status, never stored). A capacity is empty: no limit.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 23:00:00

SQLite: `announcements` is altered in place (ADD/DROP COLUMN, SQLite ≥ 3.35), never copied — copying drops the
table, which would cascade to the rows that reference it; `signups` is copied (nothing references it).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Never copied on SQLite: dropping `announcements` to copy it would cascade to its sign-ups and reminders.
    with op.batch_alter_table('announcements', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('capacity', sa.Integer(), nullable=True))
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_up_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('participant_status', sa.String(length=16), nullable=False,
                                      server_default='registered'))
        batch_op.add_column(sa.Column('participant_changed_at', storage.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('participant_changed_by_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('participant_reason', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key('fk_signups_participant_changed_by', 'users',
                                    ['participant_changed_by_user_id'], ['id'], ondelete='SET NULL')
    op.execute("UPDATE signups SET signed_up_at = created_at WHERE status = 'signed_up'")


def downgrade() -> None:
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.drop_constraint('fk_signups_participant_changed_by', type_='foreignkey')
        batch_op.drop_column('participant_reason')
        batch_op.drop_column('participant_changed_by_user_id')
        batch_op.drop_column('participant_changed_at')
        batch_op.drop_column('participant_status')
        batch_op.drop_column('signed_up_at')
    # Never copied on SQLite: dropping `announcements` to copy it would cascade to its sign-ups and reminders.
    with op.batch_alter_table('announcements', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('capacity')
