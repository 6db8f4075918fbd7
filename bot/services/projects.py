"""Projects (đề án): approved needs grouped under a funding source, with the support each need gets and the
facility's own contribution (vốn đối ứng, the investment mobilised), followed from approval through
implementation and disbursement to the post-check. Every change is written to the audit log.

A need declined (or withdrawn) after it joined a project stays listed there — the decision named it — marked
"not counted", and counts neither in the project's totals nor in the report figures; it counts again if it is
approved again, and staff can take it out of the project. Both moves are written to the project's log
(`note_status_change`, called when a need's status changes)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import PROJECT_NEED_STATUSES, FundingSource, ProjectStatus
from bot.errors import DomainError, NotFound
from bot.i18n_marker import N_, Text
from bot.services import console
from bot.services.facilities import FieldErrors
from bot.services.staff_auth import audit
from bot.services.validation import Invalid, TextRules, ascii_int, clean_text, parse_million
from storage import console_repos, project_repos
from storage.console_repos import NeedFilter
from storage.models import AuditEntry, Facility, Need, Project, ProjectNeed, User
from storage.project_repos import ProjectFilter, ProjectTotals

NAME_RULES = TextRules(max_length=200)
DECISION_RULES = TextRules(max_length=60)
NOTE_RULES = TextRules(max_length=1000, multiline=True)
FIRST_YEAR, LAST_YEAR = 2000, 2100
CANDIDATES = 20  # needs offered at once on a project's page
_DMY = re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})$")
FIELDS = ("name", "decision", "funding_source", "year", "approved_on", "status", "note")
FIELD_LABELS = {
    "name": N_("Project name"),
    "decision": N_("Decision number"),
    "funding_source": N_("Funding source"),
    "year": N_("Year"),
    "approved_on": N_("Decision date"),
    "status": N_("Status"),
    "note": N_("Note"),
}


# --- the form ---


def _optional(raw: str, rules: TextRules) -> str | None:
    return clean_text(raw, rules) if raw.strip() else None


def _year(raw: str) -> int:
    year = ascii_int(raw.strip())
    if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(Text(N_("Please type the year with four digits, e.g. 2026.")))
    return year


def parse_day(raw: str) -> date:
    """A date from the browser's date field (2026-03-31) or typed as day/month/year (31/3/2026)."""
    text = raw.strip()
    match = _DMY.match(text)
    try:
        if match:
            return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(Text(N_("Please give the date as day/month/year, e.g. 31/3/2026."))) from None


def _choice(raw: str, allowed: type[FundingSource] | type[ProjectStatus], message: str) -> str:
    if raw not in set(allowed):
        raise Invalid(Text(message))
    return raw


def validate(raw: Mapping[str, str]) -> dict[str, Any]:
    """The project form's values, or FieldErrors naming every field refused."""
    checks = {
        "name": lambda v: clean_text(v, NAME_RULES),
        "decision": lambda v: _optional(v, DECISION_RULES),
        "funding_source": lambda v: _choice(v, FundingSource, N_("Please choose a funding source.")),
        "year": _year,
        "approved_on": parse_day,
        "status": lambda v: _choice(v, ProjectStatus, N_("Please choose a status.")),
        "note": lambda v: _optional(v, NOTE_RULES),
    }
    values: dict[str, Any] = {}
    errors: dict[str, Text] = {}
    for name, check in checks.items():
        try:
            values[name] = check(raw.get(name, ""))
        except Invalid as exc:
            errors[name] = exc.message
    if errors:
        raise FieldErrors(errors)
    return values


async def get(session: AsyncSession, *, project_id: int) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound(N_("This project does not exist."))
    return project


async def create(session: AsyncSession, *, clock: Clock, actor: User, raw: Mapping[str, str]) -> Project:
    values = validate(raw)
    now = clock.now()
    project = Project(**values, created_by_user_id=actor.id, created_at=now, updated_at=now)
    session.add(project)
    await session.flush()
    await audit(session, clock=clock, actor=actor, action="project_create", target_kind="project",
                target_id=project.id, detail={"name": project.name})
    return project


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def edit(session: AsyncSession, *, clock: Clock, actor: User, project_id: int,
               raw: Mapping[str, str]) -> dict[str, list[Any]]:
    """Save the form; the changes (field: [before, after]) are audited and returned (empty: none)."""
    project = await get(session, project_id=project_id)
    values = validate(raw)
    changes = {name: [_jsonable(getattr(project, name)), _jsonable(value)]
               for name, value in values.items() if getattr(project, name) != value}
    if changes:
        for name in changes:
            setattr(project, name, values[name])
        project.updated_at = clock.now()
        session.add(project)
        await audit(session, clock=clock, actor=actor, action="project_edit", target_kind="project",
                    target_id=project_id, detail={"changes": changes})
        await session.flush()
    return changes


# --- the list and a project's page ---


def counts(need: Need) -> bool:
    """Does this need of a project count in its totals (and in the report)? Not once declined or withdrawn."""
    return need.status in PROJECT_NEED_STATUSES


async def listing(session: AsyncSession, *, filters: ProjectFilter) -> list[tuple[Project, ProjectTotals]]:
    return await project_repos.projects_table(session, filters=filters, counted=list(PROJECT_NEED_STATUSES))


async def years(session: AsyncSession) -> list[int]:
    """The years that have projects, latest first (the list's year filter)."""
    return await project_repos.project_years(session)


def sum_totals(rows: Sequence[tuple[Project, ProjectTotals]]) -> tuple[Decimal, Decimal]:
    """The support and the own contribution of these projects together."""
    return (sum((Decimal(t.support or 0) for _, t in rows), Decimal(0)),
            sum((Decimal(t.own or 0) for _, t in rows), Decimal(0)))


@dataclass
class ProjectView:
    project: Project
    members: Sequence[tuple[ProjectNeed, Need, Facility | None]]
    support: Decimal
    own: Decimal
    facilities: int
    audit: Sequence[AuditEntry]
    people: dict[int, User]
    not_counted: int = 0  # members declined or withdrawn after joining

    @property
    def investment(self) -> Decimal:
        return self.support + self.own

    @staticmethod
    def counts(need: Need) -> bool:
        return counts(need)


async def view(session: AsyncSession, *, project_id: int) -> ProjectView:
    """A project with all its needs (those no longer counted marked), totals of the needs that count."""
    project = await get(session, project_id=project_id)
    rows = await project_repos.members(session, project_id=project_id)
    counted = [(m, n) for m, n, _ in rows if counts(n)]
    entries, _ = await console_repos.audit_entries(session, target_kind="project", target_id=project_id)
    people = await console_repos.users_by_ids(session, ids=[e.actor_user_id for e in entries if e.actor_user_id])
    return ProjectView(
        project=project, members=rows,
        support=sum((m.support_million for m, _ in counted), Decimal(0)),
        own=sum((m.own_contribution_million for m, _ in counted), Decimal(0)),
        facilities=len({n.facility_id for _, n in counted if n.facility_id}), audit=entries, people=people,
        not_counted=len(rows) - len(counted))


async def note_status_change(session: AsyncSession, *, clock: Clock, actor: User, need: Need, before: str,
                             reason: str | None = None) -> None:
    """A need of a project that stops counting (declined, withdrawn) or counts again (approved again) is
    written to the project's log, so staff see why its totals moved."""
    held = await project_repos.membership(session, need_id=need.id or 0)
    was, now = before in PROJECT_NEED_STATUSES, counts(need)
    if held is None or was == now:
        return
    await audit(session, clock=clock, actor=actor, action="project_need_back" if now else "project_need_dropped",
                target_kind="project", target_id=held[1].id,
                detail={"need": need.ref, "need_id": need.id, "from": before, "to": need.status,
                        "reason": reason or ""})


async def candidates(session: AsyncSession, *, q: str) -> list[tuple[Need, Facility | None]]:
    """Approved (or supported) needs no project holds yet: those matching the search (code, facility, owner,
    phone — accent-insensitive), or the newest ones when nothing is typed."""
    if not q.strip():
        return list(await project_repos.free_needs(session, statuses=list(PROJECT_NEED_STATUSES), limit=CANDIDATES))
    ids: list[int] = []
    for status in PROJECT_NEED_STATUSES:
        ids += await console.matching_ids(session, query=console.NeedQuery(q=q, filters=NeedFilter(status=status)))
    taken = await project_repos.in_any_project(session, need_ids=ids)
    return await console_repos.needs_by_ids(session, ids=[i for i in ids if i not in taken][:CANDIDATES])


async def of_need(session: AsyncSession, *, need_id: int) -> tuple[ProjectNeed, Project] | None:
    return await project_repos.membership(session, need_id=need_id)


# --- the needs of a project ---


def _amounts(support_raw: str, own_raw: str) -> tuple[Decimal, Decimal]:
    errors: dict[str, Text] = {}
    values: dict[str, Decimal] = {}
    for name, raw, zero_ok in (("support", support_raw, False), ("own", own_raw or "0", True)):
        try:
            values[name] = parse_million(raw, zero_ok=zero_ok)
        except Invalid as exc:
            errors[name] = exc.message
    if errors:
        raise FieldErrors(errors)
    return values["support"], values["own"]


async def add_need(session: AsyncSession, *, clock: Clock, actor: User, project_id: int, need_id: int,
                   support_raw: str, own_raw: str) -> ProjectNeed:
    """Put an approved need into the project with its support and the facility's own contribution."""
    await get(session, project_id=project_id)
    need = await session.get(Need, need_id)
    if need is None:
        raise NotFound(N_("This need does not exist."))
    if need.status not in PROJECT_NEED_STATUSES:
        raise DomainError(N_("Only an approved need can be put into a project ({ref} is not approved)."),
                          ref=need.ref or f"#{need_id}")
    held = await project_repos.membership(session, need_id=need_id)
    if held is not None:
        raise DomainError(N_("{ref} is already in the project “{name}”."), ref=need.ref or f"#{need_id}",
                          name=held[1].name)
    support, own = _amounts(support_raw, own_raw)
    member = ProjectNeed(project_id=project_id, need_id=need_id, support_million=support,
                         own_contribution_million=own, added_by_user_id=actor.id, added_at=clock.now())
    session.add(member)
    await audit(session, clock=clock, actor=actor, action="project_add", target_kind="project",
                target_id=project_id, detail={"need": need.ref, "need_id": need_id, "support": str(support),
                                              "own": str(own)})
    await session.flush()
    return member


async def update_amounts(session: AsyncSession, *, clock: Clock, actor: User, project_id: int, need_id: int,
                         support_raw: str, own_raw: str) -> bool:
    """Correct a need's support and own contribution in the project; False when nothing changed."""
    await get(session, project_id=project_id)
    held = await project_repos.membership(session, need_id=need_id)
    if held is None or held[1].id != project_id:
        raise NotFound(N_("This need is not in the project."))
    member = held[0]
    support, own = _amounts(support_raw, own_raw)
    before = (member.support_million, member.own_contribution_million)
    if before == (support, own):
        return False
    member.support_million, member.own_contribution_million = support, own
    session.add(member)
    need = await session.get(Need, need_id)
    await audit(session, clock=clock, actor=actor, action="project_amounts", target_kind="project",
                target_id=project_id, detail={"need": need.ref if need else None, "need_id": need_id,
                                              "support": [str(before[0]), str(support)],
                                              "own": [str(before[1]), str(own)]})
    await session.flush()
    return True


async def remove_need(session: AsyncSession, *, clock: Clock, actor: User, project_id: int, need_id: int) -> None:
    await get(session, project_id=project_id)
    need = await session.get(Need, need_id)
    if not await project_repos.remove_member(session, project_id=project_id, need_id=need_id):
        raise NotFound(N_("This need is not in the project."))
    await audit(session, clock=clock, actor=actor, action="project_remove", target_kind="project",
                target_id=project_id, detail={"need": need.ref if need else None, "need_id": need_id})
