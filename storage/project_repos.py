"""Queries of projects (đề án) and of the figures the centre reports. Keyword-only arguments; they flush,
never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Announcement,
    CertifiedProduct,
    Facility,
    Need,
    NeedEvent,
    Project,
    ProjectNeed,
    Signup,
    User,
)

# --- projects ---


@dataclass(frozen=True)
class ProjectFilter:
    year: int | None = None
    funding_source: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class ProjectTotals:
    """What a project counts: its needs that still stand (see `totals_of`), and how many others it lists."""

    needs: int
    facilities: int
    support: Any  # Decimal, or None when the project has no need that counts
    own: Any
    not_counted: int = 0  # needs declined (or withdrawn) after joining: listed, not counted


def _project_conditions(f: ProjectFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.year is not None:
        conditions.append(col(Project.year) == f.year)
    if f.funding_source:
        conditions.append(col(Project.funding_source) == f.funding_source)
    if f.status:
        conditions.append(col(Project.status) == f.status)
    return conditions


async def projects_table(session: AsyncSession, *, filters: ProjectFilter,
                         counted: Sequence[str]) -> list[tuple[Project, ProjectTotals]]:
    """The filtered projects, newest decision first, each with its needs counted and its amounts summed (only
    the needs whose status is in `counted`)."""
    rows = (await session.exec(
        select(Project).where(*_project_conditions(filters))
        .order_by(col(Project.approved_on).desc(), col(Project.id).desc())
    )).all()
    totals = await totals_of(session, project_ids=[p.id for p in rows if p.id is not None], counted=counted)
    empty = ProjectTotals(needs=0, facilities=0, support=None, own=None)
    return [(p, totals.get(p.id or 0, empty)) for p in rows]


async def totals_of(session: AsyncSession, *, project_ids: Sequence[int],
                    counted: Sequence[str]) -> dict[int, ProjectTotals]:
    """Per project: the needs whose status is in `counted`, their facilities and amounts; the others listed."""
    if not project_ids:
        return {}
    counts = col(Need.status).in_(list(counted))
    rows = await session.exec(
        select(col(ProjectNeed.project_id), func.count(case((counts, 1))),
               func.count(func.distinct(case((counts, col(Need.facility_id))))),
               func.sum(case((counts, col(ProjectNeed.support_million)))),
               func.sum(case((counts, col(ProjectNeed.own_contribution_million)))), func.count())
        .select_from(ProjectNeed).join(Need, col(Need.id) == col(ProjectNeed.need_id))
        .where(col(ProjectNeed.project_id).in_(set(project_ids))).group_by(col(ProjectNeed.project_id))
    )
    return {pid: ProjectTotals(needs=int(n), facilities=int(fac), support=support, own=own,
                               not_counted=int(listed) - int(n))
            for pid, n, fac, support, own, listed in rows.all()}


async def project_years(session: AsyncSession) -> list[int]:
    rows = await session.exec(select(col(Project.year)).distinct().order_by(col(Project.year).desc()))
    return [int(y) for y in rows.all()]


async def members(session: AsyncSession, *, project_id: int) -> Sequence[tuple[ProjectNeed, Need, Facility | None]]:
    """The needs of a project with their facility, in the order they were added."""
    return (await session.exec(
        select(ProjectNeed, Need, Facility).join(Need, col(Need.id) == col(ProjectNeed.need_id))
        .join(Facility, col(Facility.id) == col(Need.facility_id), isouter=True)
        .where(ProjectNeed.project_id == project_id).order_by(col(ProjectNeed.id))
    )).all()


async def membership(session: AsyncSession, *, need_id: int) -> tuple[ProjectNeed, Project] | None:
    """The project a need is in (and its amounts there), if any."""
    row = (await session.exec(
        select(ProjectNeed, Project).join(Project, col(Project.id) == col(ProjectNeed.project_id))
        .where(ProjectNeed.need_id == need_id)
    )).first()
    return (row[0], row[1]) if row else None


async def in_any_project(session: AsyncSession, *, need_ids: Sequence[int]) -> set[int]:
    if not need_ids:
        return set()
    rows = await session.exec(select(col(ProjectNeed.need_id)).where(col(ProjectNeed.need_id).in_(set(need_ids))))
    return set(rows.all())


async def free_needs(session: AsyncSession, *, statuses: Sequence[str],
                     limit: int) -> Sequence[tuple[Need, Facility | None]]:
    """Needs in these statuses that no project holds yet, newest first."""
    taken = select(col(ProjectNeed.need_id))
    return (await session.exec(
        select(Need, Facility).join(Facility, col(Facility.id) == col(Need.facility_id), isouter=True)
        .where(col(Need.status).in_(list(statuses)), col(Need.id).not_in(taken))
        .order_by(col(Need.created_at).desc(), col(Need.id).desc()).limit(limit)
    )).all()


async def remove_member(session: AsyncSession, *, project_id: int, need_id: int) -> int:
    result = await session.exec(delete(ProjectNeed).where(  # type: ignore[call-overload]
        col(ProjectNeed.project_id) == project_id, col(ProjectNeed.need_id) == need_id))
    return int(result.rowcount or 0)


# --- report figures ---


SupportedRow = tuple[Project, ProjectNeed, Need, Facility | None]


async def supported(session: AsyncSession, *, start: date, end: date, commune_code: int | None,
                    counted: Sequence[str]) -> Sequence[SupportedRow]:
    """Every need of the projects approved from `start` to `end` (inclusive), of one commune or all, whose
    status is in `counted` (a need declined after joining stays listed in its project but is not supported)."""
    query = (select(Project, ProjectNeed, Need, Facility)
             .join(ProjectNeed, col(ProjectNeed.project_id) == col(Project.id))
             .join(Need, col(Need.id) == col(ProjectNeed.need_id))
             .join(Facility, col(Facility.id) == col(Need.facility_id), isouter=True)
             .where(col(Project.approved_on) >= start, col(Project.approved_on) <= end,
                    col(Need.status).in_(list(counted))))
    if commune_code is not None:
        query = query.where(col(Need.commune_code) == commune_code)
    return (await session.exec(query.order_by(col(Project.approved_on), col(Project.id), col(ProjectNeed.id)))).all()


async def announcements_of_kinds(session: AsyncSession, *, kinds: Sequence[str]) -> Sequence[Announcement]:
    """The announcements of these kinds that went out (drafts and cancelled ones never did)."""
    return (await session.exec(
        select(Announcement).where(col(Announcement.kind).in_(list(kinds)), col(Announcement.started_at).is_not(None))
        .order_by(col(Announcement.starts_on), col(Announcement.id))
    )).all()


async def signup_counts(session: AsyncSession, *, announcement_ids: Sequence[int],
                        commune_code: int | None) -> dict[int, tuple[int, int]]:
    """(signed up, dossier handed in) per announcement; with a commune, only people of that commune (their
    facility's commune, else their own)."""
    if not announcement_ids:
        return {}
    commune = func.coalesce(col(Facility.commune_code), col(User.commune_code))
    query = (select(col(Signup.announcement_id), func.count(), func.count(col(Signup.completed_at)))
             .select_from(Signup).join(User, col(User.id) == col(Signup.user_id), isouter=True)
             .join(Facility, col(Facility.owner_user_id) == col(Signup.user_id), isouter=True)
             .where(col(Signup.announcement_id).in_(set(announcement_ids)), col(Signup.status) == "signed_up")
             .group_by(col(Signup.announcement_id)))
    if commune_code is not None:
        query = query.where(commune == commune_code)
    return {ann: (int(n), int(done)) for ann, n, done in (await session.exec(query)).all()}


CertifiedRow = tuple[CertifiedProduct, Announcement, Facility | None]


def _certified_query(announcement_ids: Sequence[int], commune_code: int | None) -> Any:
    query = (select(CertifiedProduct, Announcement, Facility)
             .join(Signup, col(Signup.id) == col(CertifiedProduct.signup_id))
             .join(Announcement, col(Announcement.id) == col(Signup.announcement_id))
             .join(Facility, col(Facility.owner_user_id) == col(Signup.user_id), isouter=True)
             .where(col(Signup.announcement_id).in_(set(announcement_ids)), col(Signup.status) == "signed_up"))
    if commune_code is not None:
        query = query.where(col(CertifiedProduct.commune_code) == commune_code)
    return query


async def certified(session: AsyncSession, *, announcement_ids: Sequence[int],
                    commune_code: int | None) -> Sequence[CertifiedRow]:
    """The products certified in these competitions (for their standing sign-ups), with the facility of the
    participant (none once they erased their data); with a commune, those recorded for a participant of it."""
    if not announcement_ids:
        return []
    query = _certified_query(announcement_ids, commune_code)
    return (await session.exec(query.order_by(col(Announcement.starts_on), col(Announcement.id),
                                              col(CertifiedProduct.certified_on), col(CertifiedProduct.id)))).all()


async def surveys(session: AsyncSession, *, start: datetime, end: datetime,
                  commune_code: int | None) -> tuple[int, int]:
    """(survey visits, facilities surveyed): needs moved to "surveyed" in [start, end)."""
    query = (select(func.count(), func.count(func.distinct(Need.facility_id))).select_from(NeedEvent)
             .join(Need, col(Need.id) == col(NeedEvent.need_id))
             .where(col(NeedEvent.to_status) == "surveyed", col(NeedEvent.created_at) >= start,
                    col(NeedEvent.created_at) < end))
    if commune_code is not None:
        query = query.where(col(Need.commune_code) == commune_code)
    visits, facilities = (await session.exec(query)).one()
    return int(visits), int(facilities)


async def needs_by_category_status(session: AsyncSession, *, start: datetime, end: datetime,
                                   commune_code: int | None) -> list[tuple[str, str, int]]:
    """(category, status, needs) of the needs received in [start, end)."""
    query = (select(col(Need.category), col(Need.status), func.count()).select_from(Need)
             .where(col(Need.created_at) >= start, col(Need.created_at) < end)
             .group_by(col(Need.category), col(Need.status)))
    if commune_code is not None:
        query = query.where(col(Need.commune_code) == commune_code)
    return [(c, s, int(n)) for c, s, n in (await session.exec(query)).all()]
