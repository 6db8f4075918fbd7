"""needs.own_contribution_million: the part of a machine's cost the facility pays itself (vốn đối ứng)

In million đồng, like needs.est_cost_million; empty when it was not given (and for every need filed before).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('own_contribution_million', sa.Numeric(precision=14, scale=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('needs', schema=None) as batch_op:
        batch_op.drop_column('own_contribution_million')
