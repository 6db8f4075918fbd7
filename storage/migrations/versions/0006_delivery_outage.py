"""delivery: outbox.retry_from and send_budget.down_since

outbox.retry_from is the start of the retry span (reset by a staff resend); send_budget.down_since marks a
channel that is unreachable (sends are paused). The new outbox status `unknown` needs no schema change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_from', storage.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('send_budget', schema=None) as batch_op:
        batch_op.add_column(sa.Column('down_since', storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('send_budget', schema=None) as batch_op:
        batch_op.drop_column('down_since')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('retry_from')
