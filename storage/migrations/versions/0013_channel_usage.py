"""channel_usage: messages sent per channel per local month (for Zalo's monthly quota)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 20:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'channel_usage',
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('channel', 'month'),
    )


def downgrade() -> None:
    op.drop_table('channel_usage')
