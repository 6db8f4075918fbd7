"""An announcement's recipient side, on every channel: sign up (with the announcement's questions as a form),
"not interested", cancel a sign-up (confirmed), share (collaborators), "dossier handed in".

On a text channel "DK 12" (also "dk12", "đk 12", "dang ky 12") signs up for announcement 12: the keyword is
shown under the announcement, because a number there would clash with the conversation's own menu.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bot.conversation import actions
from bot.conversation.events import Action, ChooseEvent, TextEvent
from bot.conversation.form_view import answers_under_questions
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Choice, Inline, Reply
from bot.domain import Role
from bot.errors import NotFound
from bot.i18n_marker import N_
from bot.services import announcements as svc
from bot.services.validation import fold
from handlers import forms
from handlers.staff import whole_number
from handlers.start import person

NOT_FOUND = N_("This item no longer exists or is not yours. Nothing was changed.")

SIGNUP_STANDS = N_("Cancelled. Your sign-up stands, with your earlier answers.")

# "DK 12", "dk12", "đk 12", "dang ky 12", "đăng ký #12" (folded: accents and case gone).
KEYWORD = re.compile(r"^\s*(?:dk|dang\s*ky)\s*#?\s*(\d{1,9})\s*$")


def keyword_target(text: str) -> int | None:
    match = KEYWORD.match(fold(text).replace("đ", "d"))
    return int(match.group(1)) if match else None


def _signed_up_reply(turn: Turn, title: str, ann_id: int, *, already: bool, questions: bool,
                     answers: tuple[Inline, ...] = (), waiting: int | None = None) -> Reply:
    """The sign-up stands: with a place, or on the waiting list at `waiting` (1 = next to move up).
    `answers`: the answers given, each under its question (answers_under_questions)."""
    _ = turn._
    if waiting is None:
        text = (_("You are already signed up for “{title}”.") if already
                else _("✅ You are signed up for “{title}”. The centre will contact you.")).format(title=title)
    else:
        text = (_("You are already signed up for “{title}”, on the waiting list: number {position}.") if already
                else _("⏳ “{title}” is full, so you are on the waiting list: number {position}. If a place frees "
                       "up, we will tell you here.")).format(title=title, position=waiting)
    blocks = [Block(text)]
    if answers:
        blocks.append(Block(_("Your answers:"), *answers))
    rows = []
    if already and questions:
        rows.append([Choice(_("✏️ Change my answers"), actions.ANNOUNCEMENT, actions.announcement_arg("ch", ann_id))])
    rows.append([Choice(_("Cancel my sign-up"), actions.ANNOUNCEMENT, actions.announcement_arg("c", ann_id))])
    return Reply.of(*blocks, choices=rows, retire_previous=not already)


async def _start_form(turn: Turn, ann_id: int, title: str, questions: list[str], *, again: bool = False) -> None:
    """The questions as a form; `again` when a sign-up stands already (cancelling keeps it)."""
    _ = turn._
    context: dict[str, object] = {"ann_id": ann_id, "questions": questions}
    if again:
        context["cancel_note"] = SIGNUP_STANDS
    await forms.start(turn, form=f"signup.{ann_id}", context=context,
                      intro=_("Signing up for “{title}”.").format(title=title))


async def sign_up(turn: Turn, ann_id: int) -> None:
    await svc.for_recipient(turn.session, ann_id=ann_id, user=turn.user, role=Role.USER)  # before any row
    user = await person(turn)
    ann = await svc.check_signup(turn.session, ann_id=ann_id, today=turn.app.today())
    existing = await svc.signup_of(turn.session, ann_id=ann_id, user=user)
    if existing is not None and existing.status == "signed_up":
        answers = tuple(answers_under_questions(ann.questions, existing.answers, turn._))
        waiting = await svc.waiting_position(turn.session, ann=ann, signup=existing)
        turn.add(_signed_up_reply(turn, ann.title, ann_id, already=True, questions=bool(ann.questions),
                                  answers=answers, waiting=waiting))
        return
    if ann.questions:
        await _start_form(turn, ann_id, ann.title, list(ann.questions))
        return
    signup = await svc.answer(turn.session, clock=turn.app.clock, tz=turn.app.tz, ann_id=ann_id, user=user,
                              status="signed_up", translate=turn.app.translate)
    waiting = await svc.waiting_position(turn.session, ann=ann, signup=signup)
    turn.add(_signed_up_reply(turn, ann.title, ann_id, already=False, questions=False, waiting=waiting))


async def change_answers(turn: Turn, ann_id: int) -> None:
    await svc.for_recipient(turn.session, ann_id=ann_id, user=turn.user, role=Role.USER)  # before any row
    await person(turn)
    ann = await svc.check_signup(turn.session, ann_id=ann_id, today=turn.app.today())
    await _start_form(turn, ann_id, ann.title, list(ann.questions), again=True)


async def not_interested(turn: Turn, ann_id: int) -> None:
    _ = turn._
    await svc.for_recipient(turn.session, ann_id=ann_id, user=turn.user, role=Role.USER)  # before any row
    user = await person(turn)
    ann = await svc.check_signup(turn.session, ann_id=ann_id, today=turn.app.today())
    existing = await svc.signup_of(turn.session, ann_id=ann_id, user=user)
    if existing is not None and existing.status == "signed_up":
        # Never erase a sign-up silently: say it stands, and how to cancel it.
        turn.add(_signed_up_reply(turn, ann.title, ann_id, already=True, questions=False))
        return
    await svc.answer(turn.session, clock=turn.app.clock, tz=turn.app.tz, ann_id=ann_id, user=user, status="declined",
                     translate=turn.app.translate)
    turn.add(Reply.of(_("Noted. You will not be reminded about this one."), notice=True))


async def ask_cancel(turn: Turn, ann_id: int) -> None:
    _ = turn._
    ann = await svc.get(turn.session, ann_id=ann_id)
    turn.add(Reply.of(_("Cancel your sign-up for “{title}”?").format(title=ann.title), choices=[[
        Choice(_("Yes, cancel it"), actions.ANNOUNCEMENT, actions.announcement_arg("cy", ann_id)),
        Choice(_("No, keep it"), actions.ANNOUNCEMENT, actions.announcement_arg("ck", ann_id))]]))


async def cancel_signup(turn: Turn, ann_id: int) -> None:
    _ = turn._
    await svc.for_recipient(turn.session, ann_id=ann_id, user=turn.user, role=Role.USER)
    user = await person(turn)
    ann = await svc.check_signup(turn.session, ann_id=ann_id, today=turn.app.today())
    existing = await svc.signup_of(turn.session, ann_id=ann_id, user=user)
    if existing is None or existing.status != "signed_up":
        turn.say(_("You are not signed up for “{title}”.").format(title=ann.title))
        return
    await svc.answer(turn.session, clock=turn.app.clock, tz=turn.app.tz, ann_id=ann_id, user=user, status="declined",
                     translate=turn.app.translate)
    turn.say(_("Your sign-up for “{title}” is cancelled.").format(title=ann.title))


async def keep_signup(turn: Turn, ann_id: int) -> None:
    ann = await svc.get(turn.session, ann_id=ann_id)
    turn.say(turn._("Your sign-up for “{title}” stands.").format(title=ann.title))


async def share(turn: Turn, ann_id: int) -> None:
    _ = turn._
    ann = await svc.for_recipient(turn.session, ann_id=ann_id, user=turn.user, role=turn.role)
    turn.say(svc.render_plain(ann, _))
    turn.say(_("👆 Copy this text and forward it to facilities that are not on Telegram."))


async def done(turn: Turn, ann_id: int) -> None:
    await svc.for_recipient(turn.session, ann_id=ann_id, user=turn.user, role=Role.USER)
    user = await person(turn)
    await svc.complete(turn.session, clock=turn.app.clock, tz=turn.app.tz, ann_id=ann_id, user=user)
    turn.say(turn._("Thank you! You will get no more deadline reminders for this one."), notice=True)


async def inert(turn: Turn, ann_id: int) -> None:
    turn.add(Reply.of(turn._("This is only a preview: its buttons do nothing."), notice=True))


VERBS: dict[str, Callable[[Turn, int], Awaitable[None]]] = {
    "s": sign_up, "n": not_interested, "ch": change_answers, "c": ask_cancel, "cy": cancel_signup,
    "ck": keep_signup, "sh": share, "done": done, "pv": inert,
}


async def announcement_choice(turn: Turn, action: Action) -> None:
    assert isinstance(action, ChooseEvent)
    verb, _sep, raw_id = action.arg.partition(":")
    flow, ann_id = VERBS.get(verb), whole_number(raw_id)
    if flow is None or ann_id is None:
        turn.say(turn._(NOT_FOUND), notice=True)
        return
    try:
        await flow(turn, ann_id)
    except NotFound:
        turn.replies.clear()
        turn.say(turn._(NOT_FOUND), notice=True)


async def typed_keyword(turn: Turn, action: Action) -> None:
    assert isinstance(action, TextEvent)
    ann_id = whole_number(str(keyword_target(action.text)))
    if ann_id is None:
        turn.say(turn._(NOT_FOUND))
        return
    await sign_up(turn, ann_id)


@forms.on_complete("signup")
async def signed_up(run: forms.FormRun, data: dict[str, object]) -> None:
    ann_id = run.context["ann_id"]
    signup = await svc.answer(run.session, clock=run.app.clock, tz=run.app.tz, ann_id=ann_id, user=run.user,
                              status="signed_up", answers=data, translate=run.app.translate)
    ann = await svc.get(run.session, ann_id=ann_id)
    answers = tuple(answers_under_questions(ann.questions, data, run.turn._))
    waiting = await svc.waiting_position(run.session, ann=ann, signup=signup)
    run.say(_signed_up_reply(run.turn, ann.title, ann_id, already=False, questions=True, answers=answers,
                             waiting=waiting))


def register(flows: Flows) -> None:
    flows.action(actions.ANNOUNCEMENT)(announcement_choice)
    flows.patterns.append((lambda text: keyword_target(text) is not None, typed_keyword))
