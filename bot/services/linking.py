"""Linking channels: one person, several channel identities (a Telegram account and a Zalo account).

On the first channel the person gets a one-time code (8 characters from an alphabet without look-alikes,
15 minutes, single use; only its hash is stored); typed on the second channel it attaches that identity
to them. An identity that is already someone with data is never merged; an empty one is (its person row
is deleted). Wrong codes are counted per identity: 5 within 15 minutes stop further tries for a while.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import Role
from bot.services.accounts import Address
from storage import repos
from storage.models import Identity, LinkAttempt, LinkCode, User

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=15)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


class Outcome(StrEnum):
    LINKED = "linked"  # a new identity of the person
    MERGED = "merged"  # the identity was an empty person of its own: moved, the empty person deleted
    SAME = "same"  # the identity already belongs to the person who made the code
    HAS_DATA = "has_data"  # the identity is someone with data of their own: nothing done
    INVALID = "invalid"  # no such code, used, or expired (counted as a wrong try)
    LOCKED = "locked"  # too many wrong codes lately: not even checked


@dataclass
class LinkResult:
    outcome: Outcome
    person: User | None = None
    retry_at: datetime | None = None  # LOCKED: when a try is accepted again
    tries_left: int = MAX_FAILURES


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def normalise(raw: str) -> str:
    """What the person typed, as a code: upper case, spaces and dashes dropped (`abcd-2345` works)."""
    return "".join(ch for ch in raw.upper() if ch not in " -_.\t")


def code_shape_ok(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code)


async def new_code(session: AsyncSession, *, clock: Clock, user: User) -> tuple[str, datetime]:
    """A fresh code for the person (any earlier one stops working) and when it expires."""
    await repos.delete_link_codes_of(session, user_id=user.id or 0)
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    now = clock.now()
    row = LinkCode(code_hash=_hash(code), user_id=user.id or 0, created_at=now, expires_at=now + CODE_TTL)
    await repos.add(session, obj=row)
    return code, row.expires_at


async def link(session: AsyncSession, *, clock: Clock, who: Address, raw_code: str, notify: str) -> LinkResult:
    """Attach the identity `who` to the person whose code this is (see the module's docstring)."""
    now = clock.now()
    failures = await repos.link_failures_since(session, channel=who[0], external_id=who[1], since=now - FAILURE_WINDOW)
    if len(failures) >= MAX_FAILURES:
        return LinkResult(Outcome.LOCKED, retry_at=failures[-MAX_FAILURES] + FAILURE_WINDOW, tries_left=0)
    code = normalise(raw_code)
    row = await repos.get_link_code(session, code_hash=_hash(code)) if code_shape_ok(code) else None
    identity = await repos.get_identity(session, channel=who[0], external_id=who[1])
    if row is not None and identity is not None and identity.user_id == row.user_id:
        return LinkResult(Outcome.SAME, await repos.get_user_by_id(session, user_id=row.user_id))
    if row is None or row.used_at is not None or row.expires_at <= now:
        await repos.add(session, obj=LinkAttempt(channel=who[0], external_id=who[1], created_at=now))
        return LinkResult(Outcome.INVALID, tries_left=MAX_FAILURES - len(failures) - 1)
    person = await repos.get_user_by_id(session, user_id=row.user_id)
    if person is None:  # pragma: no cover - the code goes with its person (ON DELETE CASCADE)
        return LinkResult(Outcome.INVALID, tries_left=MAX_FAILURES - len(failures))
    other = await repos.get_user_by_id(session, user_id=identity.user_id) if identity is not None else None
    if other is not None and (other.role != Role.USER or await repos.has_own_data(session, user_id=other.id or 0)):
        return LinkResult(Outcome.HAS_DATA, person)
    if not await repos.claim_link_code(session, code_hash=row.code_hash, now=now):
        return LinkResult(Outcome.INVALID, tries_left=MAX_FAILURES - len(failures))
    if other is not None:
        await _merge_empty(session, empty=other, into=person)
    else:
        identity = await repos.add(session, obj=Identity(
            user_id=person.id or 0, channel=who[0], external_id=who[1], created_at=now))
    await repos.delete_link_attempts(session, identities=[who])
    if notify == "last":
        person.channel, person.external_id = who
    person.updated_at = now
    session.add(person)
    await session.flush()
    return LinkResult(Outcome.MERGED if other is not None else Outcome.LINKED, person)


async def _merge_empty(session: AsyncSession, *, empty: User, into: User) -> None:
    """Every identity of a person with nothing of their own moves to `into`; the empty person is deleted."""
    await session.flush()  # nothing pending on the row that is deleted below
    for identity in await repos.identities_of(session, user_id=empty.id or 0):
        await repos.move_identity(session, identity=identity, user_id=into.id or 0)
    await repos.delete_conversation(session, user_id=empty.id or 0)
    await repos.delete_user(session, user_id=empty.id or 0)
