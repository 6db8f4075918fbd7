"""Typed callback data. Every press is re-checked against the database: stale or forged data changes nothing.

Numbers are bounded where they are parsed: a forged id beyond a database integer (PostgreSQL's INTEGER,
the smaller of the two) does not match, and the press gets the polite "no longer active".
"""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=0, le=MAX_ID)]
Small = Annotated[int, Field(ge=0, le=10_000)]


def small_number(value: str) -> int | None:
    """A button's free-form value as a bounded whole number (ASCII digits only), or None."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= MAX_ID else None


class AnCb(CallbackData, prefix="an"):
    """Staff actions on an announcement."""

    action: str
    id: Id
    value: str = ""


class RecipientCb(CallbackData, prefix="ar"):
    """A recipient's buttons under an announcement (built as plain strings by the service)."""

    action: str  # s=sign up, n=not interested, sh=share, pv=preview (inert), done=dossier handed in
    id: Id
