"""facilities.search_folded: folded name, owner and phone digits for the needs search

A facility's name and owner folded (accents and case gone) and its phone's digits, so the console's needs
search is a SQL condition instead of folding every row in Python.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 23:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.text import search_text

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('facilities') as batch:
        batch.add_column(sa.Column('search_folded', sa.String(length=300), nullable=False, server_default=''))
    _fill(op.get_bind())


def _fill(bind: sa.Connection) -> None:
    """Every existing facility's search text, a batch of ids at a time (the same fold as the application's)."""
    facilities = sa.table('facilities', sa.column('id', sa.Integer), sa.column('name', sa.String),
                          sa.column('owner_name', sa.String), sa.column('phone', sa.String),
                          sa.column('search_folded', sa.String))
    last = 0
    while True:
        rows = bind.execute(sa.select(facilities.c.id, facilities.c.name, facilities.c.owner_name, facilities.c.phone)
                            .where(facilities.c.id > last).order_by(facilities.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(facilities.update().where(facilities.c.id == sa.bindparam('fid'))
                     .values(search_folded=sa.bindparam('folded')),
                     [{'fid': r.id, 'folded': search_text(r.name, r.owner_name, r.phone)} for r in rows])
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table('facilities') as batch:
        batch.drop_column('search_folded')
