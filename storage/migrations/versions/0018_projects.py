"""projects (đề án) and the approved needs in them, with the support and the facility's own contribution

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 23:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'projects',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('decision', sa.String(length=60), nullable=True),
        sa.Column('funding_source', sa.String(length=16), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('approved_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('note', sa.String(length=1000), nullable=True),
        sa.Column('created_by_user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_projects_source_year', 'projects', ['funding_source', 'year'])
    op.create_index('ix_projects_approved_on', 'projects', ['approved_on'])
    op.create_index('ix_projects_status', 'projects', ['status'])
    op.create_table(
        'project_needs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('need_id', sa.Integer(), nullable=False),
        sa.Column('support_million', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('own_contribution_million', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('added_by_user_id', sa.Integer(), nullable=True),
        sa.Column('added_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['need_id'], ['needs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['added_by_user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('need_id'),
    )
    op.create_index('ix_project_needs_project_id', 'project_needs', ['project_id'])


def downgrade() -> None:
    op.drop_index('ix_project_needs_project_id', table_name='project_needs')
    op.drop_table('project_needs')
    op.drop_index('ix_projects_status', table_name='projects')
    op.drop_index('ix_projects_approved_on', table_name='projects')
    op.drop_index('ix_projects_source_year', table_name='projects')
    op.drop_table('projects')
