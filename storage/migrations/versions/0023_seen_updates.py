"""seen_updates: the updates already handled, shared by every process

A webhook update that got no answer (its process was killed) is delivered again, perhaps to another process:
the row inserted with its turn says it was handled, so it is handled once, and holds the turn's replies so
that they are sent (by the outbox) rather than lost.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 05:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'seen_updates',
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('update_id', sa.String(length=64), nullable=False),
        sa.Column('seen_at', UTCDateTime(), nullable=False),
        sa.Column('replies', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('channel', 'update_id'),
    )
    op.create_index('ix_seen_updates_seen_at', 'seen_updates', ['seen_at'])


def downgrade() -> None:
    op.drop_index('ix_seen_updates_seen_at', table_name='seen_updates')
    op.drop_table('seen_updates')
