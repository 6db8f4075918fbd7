"""The facilities directory (search, filters, paging, possible duplicates), a facility's page (details, needs,
sign-ups, edit), merging two records, and importing a spreadsheet (upload, columns, dry run, confirmation)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from bot.domain import Sector
from bot.errors import DomainError, NotFound
from bot.services import facilities as service
from bot.services.facilities import FIELD_LABELS, FIELDS, REQUIRED, FieldErrors, FileRefused, Table
from bot.services.validation import ascii_int, format_phone
from bot.web import security
from bot.web.app import render
from bot.web.security import FormText, Staff, StaffPage, StaffPost, ctx
from bot.web.uploads import Upload, UploadStore

router = APIRouter()
FILTER_KEYS = ("q", "commune", "sector", "dup")
DONE = {"saved", "merged", "unchanged"}
REPORT_LIMIT = 300  # rows listed per section of the dry-run report (the counts are always complete)


def _uploads(request: Request) -> UploadStore:
    return request.app.state.uploads


def _state(request: Request) -> dict[str, str]:
    return {k: request.query_params[k] for k in FILTER_KEYS if request.query_params.get(k)}


def _not_found(request: Request, staff: Staff) -> Response:
    _ = security.gettext_for(request)
    return render(request, "error.html", {"message": _("This facility does not exist.")}, status=404, staff=staff)


# --- the directory ---


@router.get("/facilities")
async def facilities_list(request: Request, staff: StaffPage) -> Response:
    params = request.query_params
    query = service.DirectoryQuery(
        q=(params.get("q") or "")[:100],
        commune_code=ascii_int(params.get("commune") or "") or None,
        sector=params.get("sector") if params.get("sector") in set(Sector) else None,
        duplicates_only=params.get("dup") == "1",
        page=ascii_int(params.get("page") or "") or 1,
    )
    page = await service.directory(staff.session, query=query)
    state = _state(request)
    app = ctx(request)
    context = {"page": page, "state": state, "qs": lambda **kw: urlencode({**state, **kw}),
               "communes": app.communes.all(), "sectors": list(Sector)}
    template = "facilities_table.html" if request.headers.get("HX-Request") == "true" else "facilities.html"
    return render(request, template, context, staff=staff)


# --- import (declared before /facilities/{id}, which would take "import" for an id) ---


def _owner(staff: Staff) -> str:
    return staff.signed.session.token_hash


def _import_page(request: Request, staff: Staff, *, error: str | None = None, status: int = 200) -> Response:
    return render(request, "facility_import.html", {"error": error, "max_mb": service.MAX_UPLOAD_BYTES // 2**20,
                                                   "max_rows": service.MAX_ROWS}, status=status, staff=staff)


@router.get("/facilities/import")
async def import_form(request: Request, staff: StaffPage) -> Response:
    _ = security.gettext_for(request)
    expired = request.query_params.get("expired") == "1"
    return _import_page(request, staff, error=_("This upload has expired or was already imported. Please upload "
                                                "the file again.") if expired else None)


@router.post("/facilities/import")
async def import_upload(request: Request, staff: StaffPost) -> Response:
    _ = security.gettext_for(request)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_page(request, staff, error=_("Please choose a file."), status=400)
    data = await upload.read(service.MAX_UPLOAD_BYTES + 1)
    try:
        table = service.read_table(data, upload.filename)
    except FileRefused as exc:
        return _import_page(request, staff, error=exc.message.render(_), status=400)
    saved = _uploads(request).save(owner=_owner(staff), file_name=upload.filename[:200], table=table.to_json(),
                                   mapping=service.guess_mapping(table.header))
    return RedirectResponse(f"/facilities/import/{saved.token}", status_code=303)


def _load(request: Request, staff: Staff, token: str) -> Upload | None:
    return _uploads(request).load(token, owner=_owner(staff))


def _expired() -> Response:
    return RedirectResponse("/facilities/import?expired=1", status_code=303)


def _mapping_page(request: Request, staff: Staff, upload: Upload, *, mapping: dict[str, int],
                  error: str | None = None, status: int = 200) -> Response:
    table = Table.from_json(upload.table)
    return render(request, "facility_import_map.html", {
        "upload": upload, "header": table.header, "preview": table.rows[:5], "rows": len(table.rows),
        "mapping": mapping, "fields": FIELDS, "labels": FIELD_LABELS, "required": REQUIRED, "error": error,
    }, status=status, staff=staff)


@router.get("/facilities/import/{token}")
async def import_columns(request: Request, staff: StaffPage, token: str) -> Response:
    upload = _load(request, staff, token)
    if upload is None:
        return _expired()
    return _mapping_page(request, staff, upload, mapping=upload.mapping)


@router.post("/facilities/import/{token}/check")
async def import_check(request: Request, staff: StaffPost, token: str) -> Response:
    upload = _load(request, staff, token)
    if upload is None:
        return _expired()
    form = await request.form()
    mapping: dict[str, int] = {}
    for name in FIELDS:
        raw = form.get(f"map_{name}")
        column = ascii_int(raw) if isinstance(raw, str) else None
        if column is not None:
            mapping[name] = column
    problem = service.check_mapping(mapping, len(upload.table["header"]))
    if problem is not None:
        return _mapping_page(request, staff, upload, mapping=mapping,
                             error=problem.render(security.gettext_for(request)), status=400)
    _uploads(request).set_mapping(upload, mapping)
    return RedirectResponse(f"/facilities/import/{token}/report", status_code=303)


@router.get("/facilities/import/{token}/report")
async def import_report(request: Request, staff: StaffPage, token: str) -> Response:
    upload = _load(request, staff, token)
    if upload is None:
        return _expired()
    if service.check_mapping(upload.mapping, len(upload.table["header"])) is not None:
        return RedirectResponse(f"/facilities/import/{token}", status_code=303)
    app = ctx(request)
    report = await service.dry_run(staff.session, table=Table.from_json(upload.table), mapping=upload.mapping,
                                   communes=app.communes, translate=app.translate)
    return render(request, "facility_import_report.html", {
        "upload": upload, "report": report, "accepted": len(report.accepted), "fixed": report.fixed,
        "refused": report.refused, "duplicates": report.duplicates, "limit": REPORT_LIMIT, "labels": FIELD_LABELS,
        "without_duplicates": len(report.to_write(include_duplicates=False)),
        "with_duplicates": len(report.to_write(include_duplicates=True)),
        "refusal_text": lambda r: service.render_refusal(r, security.gettext_for(request)),
    }, staff=staff)


@router.post("/facilities/import/{token}/confirm")
async def import_confirm(request: Request, staff: StaffPost, token: str, duplicates: FormText = "skip") -> Response:
    uploads = _uploads(request)
    upload = _load(request, staff, token)
    if upload is None:
        return _expired()
    if service.check_mapping(upload.mapping, len(upload.table["header"])) is not None:
        return RedirectResponse(f"/facilities/import/{token}", status_code=303)
    if uploads.claim(token, owner=_owner(staff)) is None:  # confirmed twice at once: the first one imports
        return _expired()
    app = ctx(request)
    try:
        result = await service.run_import(staff.session, clock=app.clock, actor=staff.user,
                                          table=Table.from_json(upload.table), mapping=upload.mapping,
                                          communes=app.communes, include_duplicates=duplicates == "include",
                                          file_name=upload.file_name, translate=app.translate)
        await staff.session.commit()
    except BaseException:
        uploads.release(token)
        raise
    uploads.discard(token)
    return render(request, "facility_import_done.html", {"result": result, "file_name": upload.file_name},
                  staff=staff)


# --- a facility ---


async def _facility_page(request: Request, staff: Staff, facility_id: int, *, errors: dict[str, str] | None = None,
                         typed: dict[str, str] | None = None, status: int = 200) -> Response:
    try:
        v = await service.view(staff.session, facility_id=facility_id)
    except NotFound:
        return _not_found(request, staff)
    f = v.facility
    values = typed or {"name": f.name, "owner_name": f.owner_name or "", "phone": format_phone(f.phone),
                       "commune": str(f.commune_code), "sector": f.sector, "products": f.products or ""}
    done = request.query_params.get("done")
    return render(request, "facility.html", {
        "v": v, "values": values, "errors": errors or {}, "communes": ctx(request).communes.all(),
        "sectors": list(Sector), "done": done if done in DONE else None, "error": request.query_params.get("error"),
    }, status=status, staff=staff)


@router.get("/facilities/{facility_id}")
async def facility_page(request: Request, staff: StaffPage, facility_id: int) -> Response:
    return await _facility_page(request, staff, facility_id)


@router.post("/facilities/{facility_id}")
async def facility_edit(request: Request, staff: StaffPost, facility_id: int) -> Response:
    form = await request.form()
    raw = {name: str(form.get(name) or "")[:1000] for name in (*FIELDS,)}
    app = ctx(request)
    try:
        changes = await service.edit(staff.session, clock=app.clock, actor=staff.user, facility_id=facility_id,
                                     raw=raw, communes=app.communes)
    except NotFound:
        return _not_found(request, staff)
    except FieldErrors as exc:  # refused before anything was changed
        _ = security.gettext_for(request)
        errors = {name: text.render(_) for name, text in exc.errors.items()}
        return await _facility_page(request, staff, facility_id, errors=errors, typed=raw, status=400)
    return RedirectResponse(f"/facilities/{facility_id}?done={'saved' if changes else 'unchanged'}",
                            status_code=303)


# --- merging ---


def _merge_ids(facility_id: int, raw_other: str | None) -> int | None:
    other = ascii_int((raw_other or "").strip().lstrip("#"))
    return other if other and other != facility_id else None


@router.get("/facilities/{facility_id}/merge")
async def merge_page(request: Request, staff: StaffPage, facility_id: int) -> Response:
    _ = security.gettext_for(request)
    other_id = _merge_ids(facility_id, request.query_params.get("other"))
    a = await _facility_or_none(staff, facility_id)
    if a is None:
        return _not_found(request, staff)
    if other_id is None:
        return _back(facility_id, _("Please give the number of another facility."))
    b = await _facility_or_none(staff, other_id)
    if b is None:
        return _back(facility_id, _("There is no facility with this number."))
    keep_raw = ascii_int(request.query_params.get("keep") or "")
    counts = await service.need_counts(staff.session, facility_ids=[facility_id, other_id])
    keep = {a.id: a, b.id: b}.get(keep_raw) or service.default_keep(a, b, counts)
    remove = b if keep is a else a
    plan = await service.merge_plan(staff.session, keep_id=keep.id or 0, remove_id=remove.id or 0)
    return render(request, "facility_merge.html", {
        "plan": plan, "a": a, "b": b, "counts": counts, "labels": FIELD_LABELS, "fillable": service.FILLABLE,
        "here": facility_id, "other": other_id,
    }, staff=staff)


async def _facility_or_none(staff: Staff, facility_id: int) -> Any:
    try:
        return await service.get(staff.session, facility_id=facility_id)
    except NotFound:
        return None


def _back(facility_id: int, error: str | None = None) -> Response:
    url = f"/facilities/{facility_id}"
    if error:
        url += "?" + urlencode({"error": error})
    return RedirectResponse(url, status_code=303)


@router.post("/facilities/{facility_id}/merge")
async def merge(request: Request, staff: StaffPost, facility_id: int, other: FormText = "",
                keep: FormText = "") -> Response:
    other_id = _merge_ids(facility_id, other)
    keep_id = ascii_int(keep)
    if other_id is None or keep_id not in (facility_id, other_id):
        return _back(facility_id, security.gettext_for(request)("Please give the number of another facility."))
    remove_id = other_id if keep_id == facility_id else facility_id
    app = ctx(request)
    try:
        await service.merge(staff.session, clock=app.clock, actor=staff.user, keep_id=keep_id, remove_id=remove_id)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(facility_id, exc.message.render(security.gettext_for(request)))
    return RedirectResponse(f"/facilities/{keep_id}?done=merged", status_code=303)
