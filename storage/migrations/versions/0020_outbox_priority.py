"""outbox.priority and the shared throttle table

Replies and notifications are claimed before bulk announcement sends; the per-person flood buckets are
shared by every process on PostgreSQL.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 23:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        # Rows already queued keep the notifications' priority (1); announcements are bulk (5).
        batch.add_column(sa.Column('priority', sa.SmallInteger(), nullable=False, server_default='1'))
    op.execute("UPDATE outbox SET priority = 5 WHERE kind = 'announcement'")
    op.create_index('ix_outbox_claim', 'outbox', ['status', 'channel', 'priority', 'id'])
    op.create_table(
        'throttle',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('refilled_at', sa.Float(), nullable=False),
        sa.Column('state', sa.SmallInteger(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('throttle')
    op.drop_index('ix_outbox_claim', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('priority')
