"""Queries of the staff web console. Keyword-only arguments; they flush, never commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.text import search_text
from storage.models import (
    Announcement,
    AuditEntry,
    Conversation,
    Facility,
    Identity,
    LoginAttempt,
    LoginCode,
    Need,
    NeedNote,
    OutboxMessage,
    Question,
    ReportSubmission,
    SavedAudience,
    Signup,
    StaffCredential,
    User,
    WebSession,
)

# --- credentials and people ---


async def credential_by_login(session: AsyncSession, *, login: str) -> StaffCredential | None:
    return (await session.exec(select(StaffCredential).where(StaffCredential.login == login))).first()


async def credential_of(session: AsyncSession, *, user_id: int) -> StaffCredential | None:
    return await session.get(StaffCredential, user_id)


async def users_matching(session: AsyncSession, *, text: str) -> Sequence[User]:
    """People whose users.id, channel id, @username or full name is `text` (the CLI's name-or-id)."""
    conditions: list[Any] = [col(User.external_id) == text, col(User.username) == text.lstrip("@"),
                             col(User.full_name) == text]
    if text.isdigit():
        conditions.append(col(User.id) == int(text))
    return (await session.exec(select(User).where(or_(*conditions)).order_by(col(User.id)))).all()


async def users_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    rows = (await session.exec(select(User).where(col(User.id).in_(set(ids))))).all()
    return {u.id: u for u in rows if u.id is not None}


# --- sessions ---


async def get_web_session(session: AsyncSession, *, token_hash: str) -> WebSession | None:
    return await session.get(WebSession, token_hash)


async def end_sessions_of(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    await session.exec(
        update(WebSession).where(col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None))  # type: ignore[call-overload]
        .values(ended_at=now)
    )


# --- sign-in codes and attempts ---


async def open_codes(session: AsyncSession, *, user_id: int, now: datetime) -> Sequence[LoginCode]:
    return (await session.exec(
        select(LoginCode).where(LoginCode.user_id == user_id, col(LoginCode.used_at).is_(None),
                                col(LoginCode.expires_at) > now).order_by(col(LoginCode.id).desc())
    )).all()


async def use_code(session: AsyncSession, *, code_id: int, now: datetime) -> bool:
    """Mark a code used; False when another request used it first."""
    result = await session.exec(
        update(LoginCode).where(col(LoginCode.id) == code_id, col(LoginCode.used_at).is_(None))  # type: ignore[call-overload]
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def failed_attempts(session: AsyncSession, *, key: str, since: datetime) -> int:
    total = (await session.exec(
        select(func.count()).select_from(LoginAttempt)
        .where(LoginAttempt.key == key, col(LoginAttempt.ok).is_(False), col(LoginAttempt.created_at) >= since)
    )).one()
    return int(total)


async def delete_attempts_before(session: AsyncSession, *, before: datetime) -> None:
    await session.exec(delete(LoginAttempt).where(col(LoginAttempt.created_at) < before))  # type: ignore[call-overload]


# --- audit and notes ---


async def audit_entries(session: AsyncSession, *, target_kind: str | None = None, target_id: int | None = None,
                        offset: int = 0, limit: int = 100) -> tuple[Sequence[AuditEntry], int]:
    query = select(AuditEntry)
    count = select(func.count()).select_from(AuditEntry)
    if target_kind is not None:
        query = query.where(AuditEntry.target_kind == target_kind, AuditEntry.target_id == target_id)
        count = count.where(AuditEntry.target_kind == target_kind, AuditEntry.target_id == target_id)
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit))
    return rows.all(), int((await session.exec(count)).one())


async def need_notes(session: AsyncSession, *, need_id: int) -> Sequence[NeedNote]:
    return (await session.exec(select(NeedNote).where(NeedNote.need_id == need_id).order_by(col(NeedNote.id)))).all()


# --- needs table ---


@dataclass(frozen=True)
class NeedFilter:
    status: str | None = None
    category: str | None = None
    commune_code: int | None = None
    sector: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    by_collaborator: bool | None = None


SORT_COLUMNS: dict[str, Any] = {
    "created": col(Need.created_at),
    "ref": col(Need.id),
    "facility": col(Facility.name),
    "status": col(Need.status),
    "category": col(Need.category),
    "cost": col(Need.est_cost_million),
    "contribution": col(Need.own_contribution_million),
}


def _filtered(query: Any, f: NeedFilter) -> Any:
    conditions: list[Any] = []
    if f.status:
        conditions.append(col(Need.status) == f.status)
    if f.category:
        conditions.append(col(Need.category) == f.category)
    if f.commune_code:
        conditions.append(col(Need.commune_code) == f.commune_code)
    if f.sector:
        conditions.append(col(Facility.sector) == f.sector)
    if f.created_from is not None:
        conditions.append(col(Need.created_at) >= f.created_from)
    if f.created_before is not None:
        conditions.append(col(Need.created_at) < f.created_before)
    if f.by_collaborator is True:
        conditions.append(col(Need.filed_by_user_id).is_not(None))
    elif f.by_collaborator is False:
        conditions.append(col(Need.filed_by_user_id).is_(None))
    return query.where(*conditions) if conditions else query


def _needs_query(filters: NeedFilter, sort: str, descending: bool, *columns: Any,
                 search: TextSearch | None = None) -> Any:
    order = SORT_COLUMNS.get(sort, SORT_COLUMNS["created"])
    query = select(*(columns or (Need, Facility))).select_from(Need)
    query = query.join(Facility, col(Need.facility_id) == col(Facility.id), isouter=True)
    query = _searched(_filtered(query, filters), search)
    # Empty values (no amount) last either way, on SQLite and PostgreSQL alike.
    return query.order_by((order.desc() if descending else order.asc()).nulls_last(),
                          col(Need.id).desc() if descending else col(Need.id).asc())


async def needs_table(session: AsyncSession, *, filters: NeedFilter, sort: str = "created",
                      descending: bool = True) -> Sequence[tuple[Need, Facility | None]]:
    """Every need matching the filters, with its facility, in the chosen order (a text search is the
    caller's: it is accent-insensitive, which SQLite cannot do in SQL)."""
    return (await session.exec(_needs_query(filters, sort, descending))).all()


@dataclass(frozen=True)
class TextSearch:
    """A search box's text, folded (bot.text.search_words): every word within the need's code or the facility's
    search text (name, owner, phone), or the digits (three or more) within the facility's phone."""

    words: tuple[str, ...]
    digits: str = ""


def _searched(query: Any, search: TextSearch | None) -> Any:
    """The needs whose code or facility has every word (or the facility's phone the digits). A facility's text is
    matched once per facility, in a subquery, not once per need: 10,000 facilities rather than 50,000 joined rows
    (~3× faster on 50,000 needs)."""
    if search is None:
        return query
    ref, facility = func.lower(col(Need.ref)), col(Need.facility_id)
    words = and_(*(or_(ref.contains(w, autoescape=True), facility.in_(_facilities_with(w))) for w in search.words))
    return query.where(or_(words, facility.in_(_facilities_with(search.digits))) if search.digits else words)


def _facilities_with(text: str) -> Any:
    return select(Facility.id).where(col(Facility.search_folded).contains(text, autoescape=True))


async def needs_ids(session: AsyncSession, *, filters: NeedFilter, sort: str = "created", descending: bool = True,
                    search: TextSearch | None = None) -> Sequence[int]:
    """The ids of every filtered (and searched) need, in order (a project's candidates are then read by id)."""
    return (await session.exec(_needs_query(filters, sort, descending, col(Need.id), search=search))).all()


# The export's columns, in its order (bot.services.console.ExportCells reads them by position), as plain values;
# a need without a facility has None in the facility's.
EXPORT_COLUMNS: tuple[Any, ...] = (
    col(Need.ref), col(Need.created_at), col(Facility.name).label("facility_name"), col(Facility.owner_name),
    col(Facility.phone), col(Need.commune_code), col(Facility.sector), col(Need.category), col(Need.description),
    col(Need.machine), col(Need.est_cost_million), col(Need.own_contribution_million), col(Need.desired_month),
    col(Need.status), col(Need.decline_reason), col(Need.filed_by_user_id),
)


async def needs_export_rows(session: AsyncSession, *, filters: NeedFilter, sort: str = "created",
                            descending: bool = True, search: TextSearch | None = None,
                            batch: int = 1000) -> AsyncIterator[Sequence[Row[Any]]]:
    """Every filtered (and searched) need as a plain row of EXPORT_COLUMNS, in the table's order, `batch` rows at
    a time: one query streamed from the database (no ORM objects, nothing kept), so memory does not grow with
    the rows."""
    query = _needs_query(filters, sort, descending, *EXPORT_COLUMNS, search=search)
    result = await session.stream(query, execution_options={"yield_per": batch})
    try:
        async for rows in result.partitions():
            yield rows
    finally:
        await result.close()


async def needs_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> list[tuple[Need, Facility | None]]:
    """These needs with their facility, in the order of `ids`."""
    found: dict[int, tuple[Need, Facility | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = await session.exec(select(Need, Facility)
                                  .join(Facility, col(Need.facility_id) == col(Facility.id), isouter=True)
                                  .where(col(Need.id).in_(chunk)))
        found.update({n.id: (n, f) for n, f in rows.all() if n.id is not None})
    return [found[i] for i in ids if i in found]


async def needs_table_page(session: AsyncSession, *, filters: NeedFilter, sort: str = "created",
                           descending: bool = True, offset: int = 0, limit: int = 25,
                           search: TextSearch | None = None) -> tuple[Sequence[tuple[Need, Facility | None]], int]:
    """One page of the filtered (and searched) needs and their total, paged and counted in SQL."""
    rows = await session.exec(_needs_query(filters, sort, descending, search=search).offset(offset).limit(limit))
    count = _searched(_filtered(select(func.count()).select_from(Need)
                                .join(Facility, col(Need.facility_id) == col(Facility.id), isouter=True), filters),
                      search)
    return rows.all(), int((await session.exec(count)).one())


# --- dashboard ---


async def needs_summary(session: AsyncSession, *, start: datetime,
                        end: datetime) -> list[tuple[str, int | None, str, int, Any, Any]]:
    """(category, commune, status, count, sum of estimated costs, sum of own contributions) of the needs
    received in the period: every figure of the dashboard from one pass over the table."""
    rows = await session.exec(
        select(col(Need.category), col(Need.commune_code), col(Need.status), func.count(),
               func.sum(Need.est_cost_million), func.sum(Need.own_contribution_million))
        .select_from(Need).where(col(Need.created_at) >= start, col(Need.created_at) < end)
        .group_by(col(Need.category), col(Need.commune_code), col(Need.status))
    )
    return [(category, commune, status, int(n), cost, own) for category, commune, status, n, cost, own in rows.all()]


async def recent_broadcasts(session: AsyncSession, *, limit: int = 10) -> list[tuple[Announcement, dict[str, int]]]:
    """The latest announcements that were sent (or are sending), with their outbox rows counted by status."""
    anns = (await session.exec(
        select(Announcement).where(col(Announcement.started_at).is_not(None))
        .order_by(col(Announcement.started_at).desc()).limit(limit)
    )).all()
    ids = [a.id for a in anns]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids if i is not None}
    if ids:
        rows = await session.exec(
            select(OutboxMessage.announcement_id, OutboxMessage.status, func.count()).select_from(OutboxMessage)
            .where(col(OutboxMessage.announcement_id).in_(ids))
            .group_by(col(OutboxMessage.announcement_id), col(OutboxMessage.status))
        )
        for ann_id, status, n in rows.all():
            counts[ann_id][status] = int(n)
    return [(a, counts.get(a.id or 0, {})) for a in anns]


# --- facilities ---

# (id, name, owner, phone, commune, sector): what the directory's search, filters and duplicate check read.
FacilityKey = tuple[int, str, str | None, str | None, int, str]


async def facility_keys(session: AsyncSession) -> Sequence[FacilityKey]:
    """Every facility as a plain tuple (ten thousand stay cheap); searched and compared by the caller, since
    matching is accent-insensitive, which SQLite cannot do in SQL."""
    return (await session.exec(
        select(col(Facility.id), col(Facility.name), col(Facility.owner_name), col(Facility.phone),
               col(Facility.commune_code), col(Facility.sector)).order_by(col(Facility.id))
    )).all()


def _facility_filters(query: Any, *, commune_code: int | None, sector: str | None, search: TextSearch | None,
                      ids: Sequence[int] | None) -> Any:
    if commune_code is not None:
        query = query.where(col(Facility.commune_code) == commune_code)
    if sector is not None:
        query = query.where(col(Facility.sector) == sector)
    if ids is not None:
        query = query.where(col(Facility.id).in_(ids))
    if search is not None:
        folded = col(Facility.search_folded)
        words = and_(*(folded.contains(w, autoescape=True) for w in search.words))
        query = query.where(or_(words, folded.contains(search.digits, autoescape=True)) if search.digits else words)
    return query


async def facilities_page(session: AsyncSession, *, commune_code: int | None = None, sector: str | None = None,
                          search: TextSearch | None = None, ids: Sequence[int] | None = None, offset: int = 0,
                          limit: int = 25) -> tuple[list[Facility], int]:
    """One page of the facilities matching the filters and the search (folded words within the name and owner,
    or digits within the phone), by folded name, and their total: filtered, counted and paged in SQL."""
    where = {"commune_code": commune_code, "sector": sector, "search": search, "ids": ids}
    rows = await session.exec(_facility_filters(select(Facility), **where)
                              .order_by(col(Facility.search_folded), col(Facility.id)).offset(offset).limit(limit))
    total = await session.exec(_facility_filters(select(func.count()).select_from(Facility), **where))
    return list(rows.all()), int(total.one())


async def facility_keys_near(session: AsyncSession, *, communes: Sequence[int],
                             phones: Sequence[str]) -> Sequence[FacilityKey]:
    """The facilities that could duplicate these: in the same communes, or with one of these phones."""
    if not communes and not phones:
        return []
    return (await session.exec(
        select(col(Facility.id), col(Facility.name), col(Facility.owner_name), col(Facility.phone),
               col(Facility.commune_code), col(Facility.sector))
        .where(or_(col(Facility.commune_code).in_(set(communes)), col(Facility.phone).in_(set(phones))))
        .order_by(col(Facility.id))
    )).all()


async def facilities_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, Facility]:
    found: dict[int, Facility] = {}
    for start in range(0, len(ids), 500):
        rows = await session.exec(select(Facility).where(col(Facility.id).in_(ids[start:start + 500])))
        found.update({f.id: f for f in rows.all() if f.id is not None})
    return found


async def need_counts(session: AsyncSession, *, facility_ids: Sequence[int]) -> dict[int, int]:
    """How many needs each of these facilities has (absent: none)."""
    if not facility_ids:
        return {}
    rows = await session.exec(
        select(col(Need.facility_id), func.count()).select_from(Need)
        .where(col(Need.facility_id).in_(set(facility_ids))).group_by(col(Need.facility_id))
    )
    return {fid: int(n) for fid, n in rows.all() if fid is not None}


async def needs_of_facility(session: AsyncSession, *, facility_id: int) -> Sequence[Need]:
    return (await session.exec(
        select(Need).where(Need.facility_id == facility_id).order_by(col(Need.created_at).desc(), col(Need.id))
    )).all()


async def signups_of_user(session: AsyncSession, *, user_id: int) -> Sequence[tuple[Signup, Announcement]]:
    """A person's answers to fairs and competitions, newest first, with the announcement."""
    return (await session.exec(
        select(Signup, Announcement).join(Announcement, col(Signup.announcement_id) == col(Announcement.id))
        .where(Signup.user_id == user_id).order_by(col(Signup.created_at).desc(), col(Signup.id).desc())
    )).all()


async def move_needs(session: AsyncSession, *, from_id: int, to_id: int, commune_code: int,
                     registrant_user_id: int | None) -> int:
    """Give every need of facility `from_id` to `to_id` (and its commune); needs nobody is told about get the
    new facility's owner, as a need filed for it would. Returns how many moved."""
    moved = await session.exec(
        update(Need).where(col(Need.facility_id) == from_id)  # type: ignore[call-overload]
        .values(facility_id=to_id, commune_code=commune_code)
    )
    if registrant_user_id is not None:
        await session.exec(
            update(Need).where(col(Need.facility_id) == to_id, col(Need.registrant_user_id).is_(None))  # type: ignore[call-overload]
            .values(registrant_user_id=registrant_user_id)
        )
    return int(moved.rowcount or 0)


async def conversations_in_form(session: AsyncSession, *, form: str) -> Sequence[Conversation]:
    return (await session.exec(select(Conversation).where(Conversation.form == form))).all()


async def delete_facility(session: AsyncSession, *, facility_id: int) -> None:
    await session.exec(delete(Facility).where(col(Facility.id) == facility_id))  # type: ignore[call-overload]


async def insert_facilities(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Many new facilities at once (executemany, in batches), for an import; each with its search text (a Core
    insert passes the ORM's listener by)."""
    rows = [{**row, "search_folded": search_text(row.get("name"), row.get("owner_name"), row.get("phone"))}
            for row in rows]
    for start in range(0, len(rows), 1000):
        await session.exec(insert(Facility), params=list(rows[start:start + 1000]))  # type: ignore[call-overload]
# --- questions from the bot ---


async def questions_table(session: AsyncSession, *, status: str, offset: int = 0,
                          limit: int = 50) -> tuple[list[tuple[Question, User | None, Facility | None]], int]:
    """Questions in one status, newest first, with the person who asked and the facility they own (if any)."""
    rows = await session.exec(
        select(Question, User, Facility)
        .join(User, col(User.id) == col(Question.user_id), isouter=True)
        .join(Facility, col(Facility.owner_user_id) == col(Question.user_id), isouter=True)
        .where(Question.status == status)
        .order_by(col(Question.created_at).desc(), col(Question.id).desc()).offset(offset).limit(limit)
    )
    total = (await session.exec(select(func.count()).select_from(Question).where(Question.status == status))).one()
    return list(rows.all()), int(total)


async def questions_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(select(Question.status, func.count()).group_by(Question.status))
    return {status: int(n) for status, n in rows.all()}


# --- announcements in the console ---


async def figures_by_announcement(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Outbox rows counted by status, for each of these announcements."""
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = await session.exec(
            select(OutboxMessage.announcement_id, OutboxMessage.status, func.count()).select_from(OutboxMessage)
            .where(col(OutboxMessage.announcement_id).in_(ids))
            .group_by(col(OutboxMessage.announcement_id), col(OutboxMessage.status))
        )
        for ann_id, status, n in rows.all():
            counts[ann_id][status] = int(n)
    return counts


async def announcements_table(session: AsyncSession, *, offset: int = 0,
                              limit: int = 30) -> tuple[Sequence[Announcement], int]:
    """Every announcement, newest first."""
    rows = (await session.exec(
        select(Announcement).order_by(col(Announcement.id).desc()).offset(offset).limit(limit))).all()
    total = (await session.exec(select(func.count()).select_from(Announcement))).one()
    return rows, int(total)


async def deliveries(session: AsyncSession, *, ann_id: int, status: str | None, offset: int = 0,
                     limit: int = 50) -> tuple[list[tuple[OutboxMessage, User | None, Facility | None]], int]:
    """An announcement's outbox rows (one per recipient), with the person and the facility they own."""
    where = [col(OutboxMessage.announcement_id) == ann_id]
    if status:
        where.append(col(OutboxMessage.status) == status)
    rows = await session.exec(
        select(OutboxMessage, User, Facility)
        .join(User, col(User.id) == col(OutboxMessage.user_id), isouter=True)
        .join(Facility, col(Facility.owner_user_id) == col(OutboxMessage.user_id), isouter=True)
        .where(*where).order_by(col(OutboxMessage.id)).offset(offset).limit(limit)
    )
    total = (await session.exec(select(func.count()).select_from(OutboxMessage).where(*where))).one()
    return list(rows.all()), int(total)


async def saved_audiences(session: AsyncSession) -> Sequence[SavedAudience]:
    return (await session.exec(select(SavedAudience).order_by(col(SavedAudience.name)))).all()


async def saved_audience_named(session: AsyncSession, *, name: str) -> SavedAudience | None:
    return (await session.exec(select(SavedAudience).where(SavedAudience.name == name))).first()


async def delete_saved_audience(session: AsyncSession, *, audience_id: int) -> None:
    await session.exec(delete(SavedAudience).where(col(SavedAudience.id) == audience_id))  # type: ignore[call-overload]
# --- collaborators and staff ---


async def last_reports(session: AsyncSession, *, user_ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these people last answered a periodic report (people who never did are left out)."""
    if not user_ids:
        return {}
    rows = await session.exec(
        select(col(ReportSubmission.user_id), func.max(col(ReportSubmission.created_at)))
        .where(col(ReportSubmission.user_id).in_(set(user_ids))).group_by(col(ReportSubmission.user_id)))
    return {uid: at for uid, at in rows.all() if uid is not None}


async def channels_of(session: AsyncSession, *, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """The channels (telegram, zalo) each of these people has an identity on, oldest first."""
    if not user_ids:
        return {}
    rows = await session.exec(select(col(Identity.user_id), col(Identity.channel))
                              .where(col(Identity.user_id).in_(set(user_ids))).order_by(col(Identity.id)))
    out: dict[int, list[str]] = {}
    for uid, channel in rows.all():
        if channel not in out.setdefault(uid, []):
            out[uid].append(channel)
    return out
