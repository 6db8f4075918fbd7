"""Conversations: the questions people sent to the centre from the bot (open ones first, newest first), a
question's page, and the answer (sent to the person through the outbox) or closing it without one."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.domain import QuestionStatus
from bot.errors import DomainError
from bot.services import questions
from bot.services.validation import ascii_int
from bot.web import security
from bot.web.app import render
from bot.web.security import FormText, StaffPage, StaffPost, ctx

router = APIRouter()


@router.get("/conversations")
async def questions_list(request: Request, staff: StaffPage) -> Response:
    params = request.query_params
    status = QuestionStatus(params["status"]) if params.get("status") in set(QuestionStatus) else QuestionStatus.OPEN
    page = await questions.open_questions(staff.session, actor=staff.actor, status=status,
                                          page=ascii_int(params.get("page") or "") or 1)
    return render(request, "questions.html", {"p": page, "statuses": list(QuestionStatus)}, staff=staff)


@router.get("/conversations/{question_id}")
async def question_page(request: Request, staff: StaffPage, question_id: int) -> Response:
    try:
        view = await questions.question_view(staff.session, actor=staff.actor, question_id=question_id)
    except DomainError:
        _ = security.gettext_for(request)
        return render(request, "error.html", {"message": _("This question does not exist.")}, status=404,
                      staff=staff)
    return render(request, "question.html", {
        "v": view, "error": request.query_params.get("error"), "OPEN": QuestionStatus.OPEN,
        "max_answer": questions.ANSWER_RULES.max_length,
    }, staff=staff)


def _back(request: Request, question_id: int, error: DomainError | None = None) -> Response:
    url = f"/conversations/{question_id}"
    if error is not None:
        url += "?" + urlencode({"error": error.message.render(security.gettext_for(request))})
    return RedirectResponse(url, status_code=303)


@router.post("/conversations/{question_id}/answer")
async def question_answer(request: Request, staff: StaffPost, question_id: int, text: FormText = "") -> Response:
    app = ctx(request)
    try:
        await questions.answer(staff.session, clock=app.clock, actor=staff.actor, question_id=question_id,
                               text=text, translate=app.translate, contact=app.settings.centre_contact)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(request, question_id, exc)
    await staff.session.commit()
    if app.outbox is not None:
        app.outbox.notify()  # this process sends: the answer leaves now
    return _back(request, question_id)


@router.post("/conversations/{question_id}/close")
async def question_close(request: Request, staff: StaffPost, question_id: int) -> Response:
    app = ctx(request)
    try:
        await questions.close(staff.session, clock=app.clock, actor=staff.actor, question_id=question_id,
                              translate=app.translate, contact=app.settings.centre_contact)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(request, question_id, exc)
    await staff.session.commit()
    if app.outbox is not None:
        app.outbox.notify()  # this process sends: the person is told now
    return _back(request, question_id)
