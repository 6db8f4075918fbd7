"""certified_products: the products a competition certified, per sign-up, with their level and date

Each row is one product certified for a participant of a product competition (bình chọn sản phẩm CNNT tiêu
biểu): its name, its level (provincial, regional, national), the day it was certified, the participant's commune
when it was recorded, and who recorded it. Nothing stored before is changed.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 04:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'certified_products',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('signup_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('certified_on', sa.Date(), nullable=False),
        sa.Column('commune_code', sa.Integer(), nullable=True),
        sa.Column('recorded_by_user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['signup_id'], ['signups.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recorded_by_user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_certified_products_signup_id', 'certified_products', ['signup_id'])
    op.create_index('ix_certified_products_commune_code', 'certified_products', ['commune_code'])


def downgrade() -> None:
    op.drop_index('ix_certified_products_commune_code', table_name='certified_products')
    op.drop_index('ix_certified_products_signup_id', table_name='certified_products')
    op.drop_table('certified_products')
