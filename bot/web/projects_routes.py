"""Projects (đề án): the list (filtered by year, funding source, status), a new project, a project's page
(details and edit, its needs with their amounts and totals, approved needs to add, found by search)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.domain import FundingSource, ProjectStatus
from bot.errors import DomainError, NotFound
from bot.i18n_marker import N_
from bot.services import projects as service
from bot.services.facilities import FieldErrors
from bot.services.validation import ascii_int
from bot.web import security
from bot.web.app import render
from bot.web.security import FormText, Staff, StaffPage, StaffPost, ctx
from storage.project_repos import ProjectFilter

router = APIRouter()
FILTER_KEYS = ("year", "source", "status")
DONE = {"created", "saved", "unchanged", "added", "removed", "amounts"}


def _filters(request: Request) -> ProjectFilter:
    params = request.query_params
    return ProjectFilter(
        year=ascii_int(params.get("year") or ""),
        funding_source=params.get("source") if params.get("source") in set(FundingSource) else None,
        status=params.get("status") if params.get("status") in set(ProjectStatus) else None,
    )


@router.get("/projects")
async def projects_list(request: Request, staff: StaffPage) -> Response:
    filters = _filters(request)
    rows = await service.listing(staff.session, filters=filters)
    support, own = service.sum_totals(rows)
    state = {k: request.query_params[k] for k in FILTER_KEYS if request.query_params.get(k)}
    return render(request, "projects.html", {
        "rows": rows, "filters": filters, "state": state, "support": support, "own": own,
        "years": await service.years(staff.session),
        "sources": list(FundingSource), "statuses": list(ProjectStatus),
    }, staff=staff)


def _form_page(request: Request, staff: Staff, *, values: dict[str, str], errors: dict[str, str] | None = None,
               status: int = 200) -> Response:
    return render(request, "project_new.html", {
        "values": values, "errors": errors or {}, "sources": list(FundingSource), "statuses": list(ProjectStatus),
    }, status=status, staff=staff)


@router.get("/projects/new")
async def project_new(request: Request, staff: StaffPage) -> Response:
    today = ctx(request).today()
    return _form_page(request, staff, values={"year": str(today.year), "approved_on": today.isoformat(),
                                              "status": ProjectStatus.APPROVED, "funding_source": ""})


def _raw(form: object) -> dict[str, str]:
    return {name: str(form.get(name) or "")[:1000] for name in service.FIELDS}  # type: ignore[attr-defined]


def _errors(request: Request, exc: FieldErrors) -> dict[str, str]:
    _ = security.gettext_for(request)
    return {name: text.render(_) for name, text in exc.errors.items()}


@router.post("/projects")
async def project_create(request: Request, staff: StaffPost) -> Response:
    raw = _raw(await request.form())
    try:
        project = await service.create(staff.session, clock=ctx(request).clock, actor=staff.user, raw=raw)
    except FieldErrors as exc:
        return _form_page(request, staff, values=raw, errors=_errors(request, exc), status=400)
    return RedirectResponse(f"/projects/{project.id}?done=created", status_code=303)


async def _project_page(request: Request, staff: Staff, project_id: int, *, values: dict[str, str] | None = None,
                        errors: dict[str, str] | None = None, status: int = 200) -> Response:
    _ = security.gettext_for(request)
    try:
        v = await service.view(staff.session, project_id=project_id)
    except NotFound:
        return render(request, "error.html", {"message": _("This project does not exist.")}, status=404, staff=staff)
    p = v.project
    q = (request.query_params.get("q") or "")[:100]
    done = request.query_params.get("done")
    return render(request, "project.html", {
        "v": v, "q": q, "candidates": await service.candidates(staff.session, q=q),
        "values": values or {"name": p.name, "decision": p.decision or "", "funding_source": p.funding_source,
                             "year": str(p.year), "approved_on": p.approved_on.isoformat(), "status": p.status,
                             "note": p.note or ""},
        "errors": errors or {}, "sources": list(FundingSource), "statuses": list(ProjectStatus),
        "done": done if done in DONE else None, "error": request.query_params.get("error"),
    }, status=status, staff=staff)


@router.get("/projects/{project_id}")
async def project_page(request: Request, staff: StaffPage, project_id: int) -> Response:
    return await _project_page(request, staff, project_id)


@router.post("/projects/{project_id}")
async def project_edit(request: Request, staff: StaffPost, project_id: int) -> Response:
    raw = _raw(await request.form())
    try:
        changes = await service.edit(staff.session, clock=ctx(request).clock, actor=staff.user,
                                     project_id=project_id, raw=raw)
    except FieldErrors as exc:
        return await _project_page(request, staff, project_id, values=raw, errors=_errors(request, exc), status=400)
    except NotFound:
        return await _project_page(request, staff, project_id)
    return RedirectResponse(f"/projects/{project_id}?done={'saved' if changes else 'unchanged'}", status_code=303)


def _back(project_id: int, *, done: str | None = None, error: str | None = None) -> Response:
    query = {"done": done} if done else {"error": error or ""}
    return RedirectResponse(f"/projects/{project_id}?{urlencode(query)}", status_code=303)


def _refusal(request: Request, exc: DomainError) -> str:
    _ = security.gettext_for(request)
    if isinstance(exc, FieldErrors):
        return " ".join(text.render(_) for text in exc.errors.values())
    return exc.message.render(_)


@router.post("/projects/{project_id}/needs")
async def project_add_need(request: Request, staff: StaffPost, project_id: int, need: FormText = "",
                           support: FormText = "", own: FormText = "") -> Response:
    need_id = ascii_int(need.strip())
    try:
        if need_id is None:
            raise NotFound(N_("This need does not exist."))
        await service.add_need(staff.session, clock=ctx(request).clock, actor=staff.user, project_id=project_id,
                               need_id=need_id, support_raw=support[:40], own_raw=own[:40])
    except DomainError as exc:
        await staff.session.rollback()
        return _back(project_id, error=_refusal(request, exc))
    return _back(project_id, done="added")


@router.post("/projects/{project_id}/needs/{need_id}")
async def project_need_amounts(request: Request, staff: StaffPost, project_id: int, need_id: int,
                               support: FormText = "", own: FormText = "") -> Response:
    try:
        changed = await service.update_amounts(staff.session, clock=ctx(request).clock, actor=staff.user,
                                               project_id=project_id, need_id=need_id, support_raw=support[:40],
                                               own_raw=own[:40])
    except DomainError as exc:
        await staff.session.rollback()
        return _back(project_id, error=_refusal(request, exc))
    return _back(project_id, done="amounts" if changed else "unchanged")


@router.post("/projects/{project_id}/needs/{need_id}/remove")
async def project_remove_need(request: Request, staff: StaffPost, project_id: int, need_id: int) -> Response:
    try:
        await service.remove_need(staff.session, clock=ctx(request).clock, actor=staff.user, project_id=project_id,
                                  need_id=need_id)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(project_id, error=_refusal(request, exc))
    return _back(project_id, done="removed")
