"""Repositories: queries over an AsyncSession. Keyword-only arguments; they flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, literal, or_, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.text import fold
from storage.db import insert_for
from storage.models import (
    Announcement,
    ChannelUsage,
    Conversation,
    Facility,
    Identity,
    Invite,
    LinkAttempt,
    LinkCode,
    Media,
    Need,
    NeedEvent,
    OutboxMessage,
    PendingMenu,
    Question,
    Reminder,
    ReportSchedule,
    ReportSubmission,
    SeenUpdate,
    Signup,
    User,
)

# --- users ---


async def get_user(session: AsyncSession, *, channel: str, external_id: str) -> User | None:
    """The person one channel account belongs to (through `identities`)."""
    result = await session.exec(
        select(User).join(Identity, col(Identity.user_id) == col(User.id))
        .where(Identity.channel == channel, Identity.external_id == external_id))
    return result.first()


async def get_user_by_id(session: AsyncSession, *, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def lock_user(session: AsyncSession, *, user: User) -> User:
    """Read the person's row again, locked until the transaction ends (PostgreSQL; SQLite locks the database
    on write anyway): a check of their role cannot interleave with a revocation."""
    await session.flush()
    await session.refresh(user, with_for_update=True)
    return user


async def add(session: AsyncSession, *, obj: Any) -> Any:
    session.add(obj)
    await session.flush()
    return obj


async def list_users_by_role(session: AsyncSession, *, role: str) -> Sequence[User]:
    result = await session.exec(select(User).where(User.role == role).order_by(col(User.full_name)))
    return result.all()


async def users_by_external_ids(session: AsyncSession, *, channel: str, external_ids: Sequence[str]) -> Sequence[User]:
    if not external_ids:
        return []
    return (await session.exec(
        select(User).where(col(User.id).in_(
            select(Identity.user_id).where(Identity.channel == channel, col(Identity.external_id).in_(external_ids))
        )))).all()


async def staff_users(session: AsyncSession, *, settings_staff: Sequence[tuple[str, str]]) -> Sequence[User]:
    """Everyone with role staff, and the people one of whose identities is staff by the settings."""
    from_settings = [and_(col(Identity.channel) == channel, col(Identity.external_id) == external_id)
                     for channel, external_id in settings_staff]
    query = select(User).where(or_(col(User.role) == "staff", col(User.id).in_(
        select(Identity.user_id).where(or_(*from_settings))))) if from_settings else \
        select(User).where(col(User.role) == "staff")
    return (await session.exec(query.order_by(col(User.id)))).all()


async def delete_user(session: AsyncSession, *, user_id: int) -> None:
    await session.exec(delete(User).where(col(User.id) == user_id))  # type: ignore[call-overload]


# --- identities (a person's channel accounts) ---


async def get_identity(session: AsyncSession, *, channel: str, external_id: str) -> Identity | None:
    result = await session.exec(
        select(Identity).where(Identity.channel == channel, Identity.external_id == external_id))
    return result.first()


async def identities_of(session: AsyncSession, *, user_id: int) -> Sequence[Identity]:
    result = await session.exec(
        select(Identity).where(Identity.user_id == user_id).order_by(col(Identity.created_at), col(Identity.id)))
    return result.all()


async def move_identity(session: AsyncSession, *, identity: Identity, user_id: int) -> Identity:
    identity.user_id = user_id
    session.add(identity)
    await session.flush()
    return identity


MENUS_CLEARED = "pending_menus_cleared"  # session.info: this transaction removed pending menus


async def delete_pending_menus_of(session: AsyncSession, *, identities: Sequence[tuple[str, str]]) -> None:
    session.info[MENUS_CLEARED] = True
    for channel, external_id in identities:
        await session.exec(delete(PendingMenu).where(  # type: ignore[call-overload]
            col(PendingMenu.channel) == channel, col(PendingMenu.external_id) == external_id))


async def has_own_data(session: AsyncSession, *, user_id: int) -> bool:
    """Does the person own anything besides their account (a facility, needs, sign-ups, reports)?"""
    checks = (
        select(Facility.id).where(Facility.owner_user_id == user_id),
        select(Need.id).where(or_(Need.registrant_user_id == user_id, Need.filed_by_user_id == user_id)),
        select(Signup.id).where(Signup.user_id == user_id),
        select(ReportSubmission.id).where(ReportSubmission.user_id == user_id),
    )
    for query in checks:
        if (await session.exec(query.limit(1))).first() is not None:
            return True
    return False


# --- link codes ---


async def get_link_code(session: AsyncSession, *, code_hash: str) -> LinkCode | None:
    return await session.get(LinkCode, code_hash)


async def delete_link_codes_of(session: AsyncSession, *, user_id: int) -> None:
    await session.exec(delete(LinkCode).where(col(LinkCode.user_id) == user_id))  # type: ignore[call-overload]


async def claim_link_code(session: AsyncSession, *, code_hash: str, now: datetime) -> bool:
    """Mark an unused, unexpired code used; False if it was used meanwhile (single use, race-safe)."""
    result = await session.exec(
        update(LinkCode)  # type: ignore[call-overload]
        .where(col(LinkCode.code_hash) == code_hash, col(LinkCode.used_at).is_(None), col(LinkCode.expires_at) > now)
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def link_failures_since(session: AsyncSession, *, channel: str, external_id: str,
                              since: datetime) -> Sequence[datetime]:
    """When this channel account typed a wrong link code since `since`, oldest first."""
    result = await session.exec(
        select(LinkAttempt.created_at).where(LinkAttempt.channel == channel, LinkAttempt.external_id == external_id,
                                             col(LinkAttempt.created_at) > since)
        .order_by(col(LinkAttempt.created_at)))
    return result.all()


async def delete_link_attempts(session: AsyncSession, *, identities: Sequence[tuple[str, str]]) -> None:
    for channel, external_id in identities:
        await session.exec(delete(LinkAttempt).where(  # type: ignore[call-overload]
            col(LinkAttempt.channel) == channel, col(LinkAttempt.external_id) == external_id))


# --- facilities ---


async def get_facility(session: AsyncSession, *, facility_id: int) -> Facility | None:
    return await session.get(Facility, facility_id)


async def facility_of_owner(session: AsyncSession, *, user_id: int) -> Facility | None:
    result = await session.exec(select(Facility).where(Facility.owner_user_id == user_id))
    return result.first()


async def facilities_in_commune(
    session: AsyncSession, *, commune_code: int, name_like: str | None = None, limit: int = 200
) -> Sequence[Facility]:
    query = select(Facility).where(Facility.commune_code == commune_code).order_by(col(Facility.name))
    facilities = (await session.exec(query)).all()
    if name_like:
        # Matched in Python, accent- and case-free: SQLite's lower() knows only ASCII letters.
        wanted = fold(name_like)
        facilities = [f for f in facilities if wanted in fold(f.name)]
    return facilities[:limit]


async def anonymise_facilities_of(session: AsyncSession, *, user_id: int) -> None:
    """Drop the personal fields of a facility whose owner asked to be forgotten; keep the business."""
    # Through the ORM (one facility or a few): its search text forgets the owner and phone too.
    for facility in (await session.exec(select(Facility).where(col(Facility.owner_user_id) == user_id))).all():
        facility.owner_name = facility.phone = facility.owner_user_id = facility.consent_at = None
        session.add(facility)
    await session.flush()


# --- needs ---


async def get_need(session: AsyncSession, *, need_id: int) -> Need | None:
    return await session.get(Need, need_id)


async def needs_of_user(session: AsyncSession, *, user_id: int, limit: int = 30) -> Sequence[Need]:
    result = await session.exec(
        select(Need)
        .where(or_(Need.registrant_user_id == user_id, Need.filed_by_user_id == user_id))
        .order_by(col(Need.created_at).desc(), col(Need.id).desc())
        .limit(limit)
    )
    return result.all()


def _inbox_filter(query: Any, *, status: str | None, category: str | None, commune_code: int | None) -> Any:
    if status:
        query = query.where(Need.status == status)
    if category:
        query = query.where(Need.category == category)
    if commune_code:
        query = query.where(Need.commune_code == commune_code)
    return query


async def inbox(
    session: AsyncSession,
    *,
    status: str | None = None,
    category: str | None = None,
    commune_code: int | None = None,
    offset: int = 0,
    limit: int = 8,
) -> tuple[Sequence[tuple[Need, Facility | None]], int]:
    """Newest needs first with their facility, and the total count for the filter."""
    base = select(Need, Facility).join(Facility, col(Need.facility_id) == col(Facility.id), isouter=True)
    query = _inbox_filter(base, status=status, category=category, commune_code=commune_code)
    rows = await session.exec(query.order_by(col(Need.created_at).desc(), col(Need.id).desc())
                              .offset(offset).limit(limit))
    count_q = _inbox_filter(select(func.count()).select_from(Need), status=status, category=category,
                            commune_code=commune_code)
    total = (await session.exec(count_q)).one()
    return rows.all(), int(total)


async def need_communes(session: AsyncSession) -> Sequence[int]:
    result = await session.exec(
        select(Need.commune_code).where(col(Need.commune_code).is_not(None)).distinct()
    )
    return [c for c in result.all() if c is not None]


async def all_needs_with_facility(
    session: AsyncSession, *, status: str | None = None, category: str | None = None,
    commune_code: int | None = None,
) -> Sequence[tuple[Need, Facility | None]]:
    """Every need (oldest first) with its facility, narrowed by the inbox's filters when given."""
    base = select(Need, Facility).join(Facility, col(Need.facility_id) == col(Facility.id), isouter=True)
    query = _inbox_filter(base, status=status, category=category, commune_code=commune_code)
    result = await session.exec(query.order_by(col(Need.created_at), col(Need.id)))
    return result.all()


async def unlink_needs_of(session: AsyncSession, *, user_id: int) -> None:
    await session.exec(
        update(Need).where(col(Need.registrant_user_id) == user_id).values(registrant_user_id=None)  # type: ignore[call-overload]
    )
    await session.exec(
        update(Need).where(col(Need.filed_by_user_id) == user_id).values(filed_by_user_id=None)  # type: ignore[call-overload]
    )
    await session.exec(
        update(NeedEvent).where(col(NeedEvent.actor_user_id) == user_id).values(actor_user_id=None)  # type: ignore[call-overload]
    )


async def need_events(session: AsyncSession, *, need_id: int) -> Sequence[NeedEvent]:
    result = await session.exec(select(NeedEvent).where(NeedEvent.need_id == need_id).order_by(col(NeedEvent.id)))
    return result.all()


# --- invites ---


async def get_invite(session: AsyncSession, *, token: str) -> Invite | None:
    return await session.get(Invite, token)


async def pending_invites(session: AsyncSession, *, now: datetime) -> Sequence[Invite]:
    """Invitations not used yet and not expired, oldest first."""
    return (await session.exec(
        select(Invite).where(col(Invite.used_at).is_(None), col(Invite.expires_at) > now)
        .order_by(col(Invite.created_at))
    )).all()


async def delete_invite(session: AsyncSession, *, token: str) -> None:
    await session.exec(delete(Invite).where(col(Invite.token) == token))  # type: ignore[call-overload]


async def claim_invite(session: AsyncSession, *, token: str, user_id: int, now: datetime) -> bool:
    """Mark an unused, unexpired invite used; False if someone else got there first."""
    result = await session.exec(
        update(Invite)  # type: ignore[call-overload]
        .where(col(Invite.token) == token, col(Invite.used_at).is_(None), col(Invite.expires_at) > now)
        .values(used_at=now, used_by_user_id=user_id)
    )
    return bool(result.rowcount)


# --- conversations ---


async def get_conversation(session: AsyncSession, *, user_id: int) -> Conversation | None:
    return await session.get(Conversation, user_id)


async def user_with_conversation(
    session: AsyncSession, *, channel: str, external_id: str
) -> tuple[User | None, Conversation | None]:
    """Who is writing and their open form, in one query (this runs for every update)."""
    user, _identity, conversation, _staff = await identity_with_conversation(session, channel=channel,
                                                                             external_id=external_id)
    return user, conversation


async def identity_with_conversation(
    session: AsyncSession, *, channel: str, external_id: str, settings_staff: Sequence[tuple[str, str]] = ()
) -> tuple[User | None, Identity | None, Conversation | None, bool]:
    """The person behind a channel account, that account, the person's open form, and whether any of their
    identities is staff by the settings (`settings_staff`), in one query (this runs for every update)."""
    row = (await session.exec(_person_query(channel, external_id, settings_staff))).first()
    return (row[0], row[1], row[2], bool(row[3])) if row else (None, None, None, False)


def _person_query(channel: Any, external_id: Any, settings_staff: Sequence[tuple[str, str]], *more: Any) -> Any:
    """The person behind a channel account: (user, identity, open form, staff by the settings on any of their
    identities, *more columns)."""
    other = aliased(Identity)
    listed = [and_(col(other.channel) == ch, col(other.external_id) == ext) for ch, ext in settings_staff]
    is_staff = exists().where(col(other.user_id) == col(User.id), or_(*listed)) if listed else literal(False)
    return (select(User, Identity, Conversation, is_staff, *more)
            .join(Identity, col(Identity.user_id) == col(User.id))
            .join(Conversation, col(Conversation.user_id) == col(User.id), isouter=True)
            .where(Identity.channel == channel, Identity.external_id == external_id))


@dataclass
class TurnState:
    """What a unit of work reads before the flow runs (see `turn_state`)."""

    user: User | None
    identity: Identity | None
    conversation: Conversation | None
    linked_staff: bool  # any of the person's identities is staff by the settings
    menu: dict[str, Any]  # the pending menu's items (the numbers last shown, what the last turn kept)
    replies_waiting: bool  # a reply to this chat still waits in the outbox
    seen: bool  # this update was already handled (committed) by some process


async def turn_state(session: AsyncSession, *, channel: str, external_id: str,
                     settings_staff: Sequence[tuple[str, str]] = (), update_id: str | None = None,
                     reply_kind: str, waiting: Sequence[str]) -> TurnState:
    """Everything the unit of work of one update reads first, in one statement for a known person: their
    identity, user, open form and staff link, the pending menu, whether a reply (`reply_kind` in a `waiting`
    status) to this chat waits in the outbox, and whether the update (`update_id`) was already handled.
    Someone with no identity yet costs a statement more. Read after the person's lock is taken."""
    person, alone = _turn_state_statements(tuple(settings_staff), reply_kind, tuple(waiting))
    params = {"channel": channel, "external_id": external_id,
              "update_id": update_id[:64] if update_id is not None else None}
    row = (await session.exec(person, params=params)).first()  # type: ignore[call-overload]
    if row is None:  # no identity yet: the same figures without the person
        row = (None, None, None, False, *(await session.exec(alone, params=params)).one())  # type: ignore[call-overload]
    return TurnState(user=row[0], identity=row[1], conversation=row[2], linked_staff=bool(row[3]),
                     menu=dict(row[4] or {}), replies_waiting=bool(row[5]), seen=bool(row[6]))


@lru_cache(maxsize=8)
def _turn_state_statements(settings_staff: tuple[tuple[str, str], ...], reply_kind: str,
                           waiting: tuple[str, ...]) -> tuple[Any, Any]:
    """`turn_state`'s two statements, built once per process (they run for every update): the person's row
    and, for someone unknown, the figures alone. Bound at run time: channel, external_id, update_id."""
    channel, external_id, update_id = bindparam("channel"), bindparam("external_id"), bindparam("update_id")
    menu_items = select(PendingMenu.items).where(
        PendingMenu.channel == channel, PendingMenu.external_id == external_id).scalar_subquery()
    reply_waits = _reply_waits(channel, external_id, reply_kind, waiting)
    seen = exists().where(SeenUpdate.channel == channel, SeenUpdate.update_id == update_id)
    return (_person_query(channel, external_id, settings_staff, menu_items, reply_waits, seen),
            select(menu_items, reply_waits, seen))


def _reply_waits(channel: Any, chat_id: Any, reply_kind: str, waiting: Sequence[str]) -> Any:
    """EXISTS: a reply (`reply_kind`) to the chat still waits in the outbox (a status in `waiting`)."""
    return exists().where(
        OutboxMessage.chat_id == chat_id, OutboxMessage.channel == channel, OutboxMessage.kind == reply_kind,
        # One bound value each, not an "expanding" IN: that one is rewritten into the SQL at every execution.
        col(OutboxMessage.status).in_([literal(status) for status in waiting]))


async def reply_waits(session: AsyncSession, *, channel: str, chat_id: str, reply_kind: str,
                      waiting: Sequence[str]) -> bool:
    """Whether a reply to the chat still waits in the outbox (as `turn_state` reads it, asked on its own)."""
    return bool((await session.exec(select(_reply_waits(channel, chat_id, reply_kind, waiting)))).one())  # type: ignore[call-overload]


async def save_conversation(session: AsyncSession, *, user_id: int, form: str, step: str | None,
                            data: dict[str, Any], history: list[str], context: dict[str, Any],
                            now: datetime) -> Conversation:
    """Insert or update the one conversation row of a user (no extra SELECT when it is already loaded).

    An update is one statement that checks the version read (as the ORM's version counter would, without its
    flush): saved from a stale read, it changes nothing and raises StaleDataError."""
    conv = await session.get(Conversation, user_id)  # from the identity map when the turn's state loaded it
    values = {"form": form, "step": step, "data": dict(data), "history": list(history), "context": dict(context),
              "updated_at": now}
    if conv is None:
        conv = Conversation(user_id=user_id, **values)
        session.add(conv)
        await session.flush()
        return conv
    result = await (await session.connection()).execute(
        _SAVE_CONVERSATION, {"uid": user_id, "was": conv.version, **{f"new_{k}": v for k, v in values.items()}})
    if result.rowcount != 1:
        raise StaleDataError(f"conversation {user_id}: saved meanwhile by another writer (version {conv.version})")
    for name, value in {**values, "version": conv.version + 1}.items():
        set_committed_value(conv, name, value)  # the loaded object is what was saved; nothing left to flush
    return conv


def _conversation_update() -> Any:
    table = Conversation.__table__  # type: ignore[attr-defined]
    c = table.c
    return update(table).where(c.user_id == bindparam("uid"), c.version == bindparam("was")).values(
        version=c.version + 1,
        **{name: bindparam(f"new_{name}", type_=c[name].type)
           for name in ("form", "step", "data", "history", "context", "updated_at")})


_SAVE_CONVERSATION = _conversation_update()


async def delete_conversation(session: AsyncSession, *, user_id: int) -> None:
    await session.exec(delete(Conversation).where(col(Conversation.user_id) == user_id))  # type: ignore[call-overload]


# --- pending menus (text-only channels) ---


async def pending_menu(session: AsyncSession, *, channel: str, external_id: str) -> dict[str, Any]:
    row = await session.get(PendingMenu, (channel, external_id))
    return dict(row.items) if row is not None else {}


async def save_pending_menu(session: AsyncSession, *, channel: str, external_id: str, items: dict[str, Any],
                            now: datetime) -> None:
    """Replace what the person was last shown as numbers, in one statement (an empty menu removes the row)."""
    where = (col(PendingMenu.channel) == channel, col(PendingMenu.external_id) == external_id)
    if not items:
        await session.exec(delete(PendingMenu).where(*where))  # type: ignore[call-overload]
        return
    stmt = insert_for(session)(PendingMenu).values(channel=channel, external_id=external_id, items=dict(items),
                                                   updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["channel", "external_id"],
                                      set_={"items": stmt.excluded["items"], "updated_at": stmt.excluded["updated_at"]})
    await session.exec(stmt)  # type: ignore[call-overload]


# --- outbox ---


async def got_announcement(session: AsyncSession, *, ann_id: int, user_id: int) -> bool:
    """Was this announcement sent to this person (a row that left or may have left, not one waiting or
    cancelled), or have they answered it (reminders carry its buttons too)?"""
    sent = (await session.exec(select(OutboxMessage.id).where(
        OutboxMessage.dedupe_key == f"ann:{ann_id}:{user_id}",
        col(OutboxMessage.status).not_in(("pending", "cancelled"))))).first()
    if sent is not None:
        return True
    answered = (await session.exec(select(Signup.id).where(
        Signup.announcement_id == ann_id, Signup.user_id == user_id))).first()
    return answered is not None


async def outbox_rows(session: AsyncSession, *, user_id: int | None = None) -> Sequence[OutboxMessage]:
    query = select(OutboxMessage)
    if user_id is not None:
        query = query.where(OutboxMessage.user_id == user_id)
    return (await session.exec(query.order_by(col(OutboxMessage.id)))).all()


async def anonymise_outbox_of(session: AsyncSession, *, user_id: int) -> None:
    """A forgotten person's messages: what was still to be sent is cancelled, and every row loses its text,
    chat and person — the rows stay, so a broadcast's figures do not change."""
    mine = col(OutboxMessage.user_id) == user_id
    await session.exec(
        update(OutboxMessage).where(mine, col(OutboxMessage.status) == "pending")  # type: ignore[call-overload]
        .values(status="cancelled", last_error="recipient erased their data")
    )
    await session.exec(
        update(OutboxMessage).where(mine)  # type: ignore[call-overload]
        .values(text="", payload={}, chat_id="", user_id=None)
    )


# --- personal data (Decree 13) ---


async def signups_of_user(session: AsyncSession, *, user_id: int) -> Sequence[tuple[Signup, Announcement]]:
    result = await session.exec(
        select(Signup, Announcement).join(Announcement, col(Announcement.id) == col(Signup.announcement_id))
        .where(Signup.user_id == user_id).order_by(col(Signup.created_at), col(Signup.id))
    )
    return result.all()


async def pending_reminders_of_user(
    session: AsyncSession, *, user_id: int
) -> Sequence[tuple[Reminder, Announcement | None, ReportSchedule | None]]:
    result = await session.exec(
        select(Reminder, Announcement, ReportSchedule)
        .join(Announcement, col(Announcement.id) == col(Reminder.announcement_id), isouter=True)
        .join(ReportSchedule, col(ReportSchedule.id) == col(Reminder.schedule_id), isouter=True)
        .where(Reminder.user_id == user_id, Reminder.status == "pending").order_by(col(Reminder.due_at))
    )
    return result.all()


async def reports_of_user(session: AsyncSession, *, user_id: int) -> Sequence[tuple[ReportSubmission, ReportSchedule]]:
    result = await session.exec(
        select(ReportSubmission, ReportSchedule)
        .join(ReportSchedule, col(ReportSchedule.id) == col(ReportSubmission.schedule_id))
        .where(ReportSubmission.user_id == user_id).order_by(col(ReportSubmission.created_at))
    )
    return result.all()


async def erase_need_texts_of(session: AsyncSession, *, registrant_id: int, marker: str) -> None:
    """Descriptions and attachments of a person's own needs may describe them: replaced by the marker."""
    await session.exec(
        update(Need).where(col(Need.registrant_user_id) == registrant_id)  # type: ignore[call-overload]
        .values(description=marker, attachment_file_id=None, attachment_kind=None, attachment_name=None)
    )


async def erase_signups_of(session: AsyncSession, *, user_id: int, marker: str) -> None:
    """Sign-ups stay (the counts), unlinked; every answer is replaced by the marker."""
    for signup in (await session.exec(select(Signup).where(Signup.user_id == user_id))).all():
        signup.answers = {key: marker for key in signup.answers}
        signup.user_id = None
        session.add(signup)
    await session.flush()


async def erase_reports_of(session: AsyncSession, *, user_id: int, marker: str) -> None:
    """Report submissions stay (the figures), unlinked; their notes are replaced by the marker."""
    mine = col(ReportSubmission.user_id) == user_id
    await session.exec(
        update(ReportSubmission).where(mine, col(ReportSubmission.notes).is_not(None))  # type: ignore[call-overload]
        .values(notes=marker)
    )
    await session.exec(update(ReportSubmission).where(mine).values(user_id=None))  # type: ignore[call-overload]


async def get_question(session: AsyncSession, *, question_id: int, lock: bool = False) -> Question | None:
    """A question; `lock` holds its row until the transaction ends (two officers cannot both answer it)."""
    return await session.get(Question, question_id, with_for_update=lock or None)


async def questions_of_user(session: AsyncSession, *, user_id: int) -> Sequence[Question]:
    return (await session.exec(select(Question).where(Question.user_id == user_id)
                               .order_by(col(Question.created_at), col(Question.id)))).all()


async def erase_questions_of(session: AsyncSession, *, user_id: int, marker: str) -> None:
    """Questions stay (the counts), unlinked; their words and answers become the marker, and one still open
    is closed (nobody is left to answer)."""
    mine = col(Question.user_id) == user_id
    await session.exec(
        update(Question).where(mine, col(Question.answer).is_not(None))  # type: ignore[call-overload]
        .values(answer=marker)
    )
    await session.exec(
        update(Question).where(mine, col(Question.status) == "open")  # type: ignore[call-overload]
        .values(status="closed")
    )
    await session.exec(update(Question).where(mine).values(text=marker, user_id=None))  # type: ignore[call-overload]


# --- bulk (Core executemany: far faster than ORM bulk for thousands of rows) ---


async def bulk_insert(session: AsyncSession, *, model: Any, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    if not rows:
        return
    conn = await session.connection()
    table = model.__table__
    for start in range(0, len(rows), chunk):
        await conn.execute(table.insert(), list(rows[start:start + chunk]))


# --- media ---


async def add_media(session: AsyncSession, *, media: Media) -> Media:
    session.add(media)
    await session.flush()
    return media


async def get_media(session: AsyncSession, *, media_id: str) -> Media | None:
    return await session.get(Media, media_id)


async def media_by_sha256(session: AsyncSession, *, sha256: str, kind: str) -> Media | None:
    result = await session.exec(select(Media).where(Media.sha256 == sha256, Media.kind == kind).limit(1))
    return result.first()


async def set_media_channel_id(session: AsyncSession, *, media_id: str, channel: str, channel_id: str) -> None:
    """Remember a channel's own id for a kept file (a Telegram file_id), to re-send it without uploading."""
    media = await session.get(Media, media_id)
    if media is None or media.channel_ids.get(channel) == channel_id:
        return
    media.channel_ids = {**media.channel_ids, channel: channel_id}
    session.add(media)
    await session.flush()


async def count_sent(session: AsyncSession, *, channel: str, month: str, messages: int) -> None:
    """Add `messages` to the channel's count for the month (an upsert: safe with several senders)."""
    if messages <= 0:
        return
    stmt = insert_for(session)(ChannelUsage).values(channel=channel, month=month, messages=messages)
    stmt = stmt.on_conflict_do_update(index_elements=["channel", "month"],
                                      set_={"messages": ChannelUsage.messages + stmt.excluded.messages})
    await session.exec(stmt)  # type: ignore[call-overload]


async def sent_in_month(session: AsyncSession, *, channel: str, month: str) -> int:
    found = (await session.exec(select(ChannelUsage.messages).where(
        ChannelUsage.channel == channel, ChannelUsage.month == month))).first()
    return int(found or 0)


async def outbox_queued_since(session: AsyncSession, *, user_id: int, kind: str, since: datetime) -> bool:
    """Whether a message of this kind was queued to this person at or after `since`."""
    query = select(OutboxMessage.id).where(OutboxMessage.user_id == user_id, OutboxMessage.kind == kind,
                                           col(OutboxMessage.created_at) >= since).limit(1)
    return (await session.exec(query)).first() is not None
