"""questions: what registered people ask the centre from the bot, answered or closed by staff in the console

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'questions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('text', sa.String(length=4000), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('answered_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_by_user_id', sa.Integer(), nullable=True),
        sa.Column('answer', sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['answered_by_user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_questions_user_id', 'questions', ['user_id'])
    op.create_index('ix_questions_status_created', 'questions', ['status', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_questions_status_created', table_name='questions')
    op.drop_index('ix_questions_user_id', table_name='questions')
    op.drop_table('questions')
