"""conversations.version: optimistic concurrency for conversation rows

A save made from a stale read fails, so two processes writing one person's form cannot lose an answer.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 23:10:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversations') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('conversations') as batch:
        batch.drop_column('version')
