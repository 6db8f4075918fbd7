"""privacy: no personal data kept from before consent; line breaks folded in one-line fields

Data only, no schema change:
- people who never consented (no registration, no invitation) lose the Telegram name and username that
  first contact used to store — nothing personal is kept before consent;
- names, titles, places and products stored before one-line fields refused line breaks get them folded
  into spaces, so an old facility name cannot fake fields in the staff view.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:40:00
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_LINE_COLUMNS = {
    "users": ("full_name",),
    "facilities": ("name", "owner_name", "products"),
    "needs": ("machine",),
    "announcements": ("title", "place"),
    "report_schedules": ("title",),
}
_BREAKS = re.compile(r"\s*[\r\n\v\f\x85\u2028\u2029]+\s*")


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE users SET full_name = NULL, username = NULL WHERE consent_at IS NULL"))
    for table, columns in ONE_LINE_COLUMNS.items():
        for column in columns:
            rows = conn.execute(sa.text(
                f"SELECT id, {column} FROM {table} WHERE {column} LIKE :lf OR {column} LIKE :cr"),
                {"lf": "%\n%", "cr": "%\r%"}).all()
            for row_id, value in rows:
                conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                             {"v": _BREAKS.sub(" ", value).strip(), "id": row_id})


def downgrade() -> None:
    pass  # erased names cannot come back; folded line breaks stay folded
