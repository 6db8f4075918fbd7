"""identities: a person with one or more channel identities, link codes, staff per channel

- `identities` (one row per channel account, unique (channel, external_id)) gets one row per existing user,
  copied from users.channel/external_id (created_at = the user's, last_seen_at left empty);
- the unique constraint on users(channel, external_id) is dropped on PostgreSQL: those columns now say which
  identity notifications go to (always one of the person's own identities, which are unique, so they stay
  unique in practice). SQLite keeps it: dropping it means copying `users`, and with foreign keys on, SQLite
  would run every ON DELETE action of the tables pointing at users (facilities would lose their owner);
- `link_codes` (one-time codes of /link, hashed) and `link_attempts` (wrong codes, to stop guessing).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 23:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'identities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=120), nullable=True),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'external_id', name='uq_identities_channel_external'),
    )
    op.create_index('ix_identities_user_id', 'identities', ['user_id'], unique=False)
    op.execute("INSERT INTO identities (user_id, channel, external_id, created_at) "
               "SELECT id, channel, external_id, created_at FROM users ORDER BY id")
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('uq_users_channel_external', 'users', type_='unique')
    op.create_table(
        'link_codes',
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('code_hash'),
    )
    op.create_index('ix_link_codes_user_id', 'link_codes', ['user_id'], unique=False)
    op.create_table(
        'link_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_link_attempts_who', 'link_attempts', ['channel', 'external_id', 'created_at'], unique=False)


def downgrade() -> None:
    """Back to one identity per person: each user keeps the identity notifications go to (people with a
    linked second channel lose that link)."""
    op.drop_index('ix_link_attempts_who', table_name='link_attempts')
    op.drop_table('link_attempts')
    op.drop_index('ix_link_codes_user_id', table_name='link_codes')
    op.drop_table('link_codes')
    if op.get_bind().dialect.name != 'sqlite':
        op.create_unique_constraint('uq_users_channel_external', 'users', ['channel', 'external_id'])
    op.drop_index('ix_identities_user_id', table_name='identities')
    op.drop_table('identities')
