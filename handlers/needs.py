"""/need (file a need, own or on behalf of a facility) and /needs (list, withdraw) — on every channel."""

from __future__ import annotations

from html import escape
from typing import Any

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.form_view import shorten
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Bold, Choice, Reply, from_staff_html
from bot.domain import CATEGORY_LABELS, STATUS_LABELS, NeedCategory, NeedStatus, Role
from bot.i18n import gettext as _
from bot.i18n_marker import N_
from bot.services import needs as needs_service
from bot.services.needs import Actor
from bot.services.validation import format_date
from handlers import forms
from handlers.forms import FormRun, on_complete
from handlers.staff import whole_number
from storage import repos

NOT_YOURS = N_("This item no longer exists or is not yours. Nothing was changed.")


async def new_need(turn: Turn, action: Action) -> None:
    """/need: collaborators file for a facility in their commune; owners for their own facility."""
    user = turn.user
    if user is not None and turn.role is Role.COLLABORATOR and user.commune_code:
        intro = turn._("New need for a facility in {commune}.").format(
            commune=turn.app.communes.name(user.commune_code))
        await forms.start(turn, form="need_proxy", context={"commune_code": user.commune_code}, intro=intro)
        return
    facility = await repos.facility_of_owner(turn.session, user_id=user.id) if user and user.id else None
    if user is None or facility is None:
        turn.say(turn._("Please register your facility first with /start."))
        return
    intro = turn._("New need for <b>{facility}</b>.").format(facility=escape(facility.name))
    await forms.start(turn, form="need", intro=Block(*from_staff_html(intro)))


@on_complete("need")
@on_complete("need_proxy")
async def need_filed(run: FormRun, data: dict[str, Any]) -> None:
    need = await needs_service.file_need(run.session, clock=run.app.clock, tz=run.app.tz,
                                         actor=Actor(user=run.user, role=run.role), data=data)
    await run.reply(
        _("Thank you! Your need has been received with reference <b>{ref}</b>.").format(ref=need.ref) + "\n"
        + _("The centre will review it; you will get a message here whenever its status changes. "
            "See all your needs with /needs.")
    )


def what_it_is(need: Any, limit: int = 60) -> str:
    """A few words saying what a need is: the machine, else the start of its description."""
    return shorten(need.machine or " ".join(need.description.split()), limit)


async def list_needs(turn: Turn, action: Action) -> None:
    """/needs: one's own needs (and those filed for others): what each is, and its status."""
    user = turn.user
    rows = await needs_service.my_needs(turn.session, user=user) if user else []
    if not rows:
        turn.say(turn._("You have no needs yet. Send /need to file one."))
        return
    _ = turn._
    items = [Block(Bold(_("Your needs")))]
    choices = []
    for need, facility in rows:
        category = _(CATEGORY_LABELS[NeedCategory(need.category)])
        when = format_date(need.created_at.astimezone(turn.app.tz))
        status = _(STATUS_LABELS[NeedStatus(need.status)])
        line = ["• ", Bold(need.ref or ""), f" · {category} · {when}\n  {what_it_is(need)}\n  {status}"]
        if facility is not None and user is not None and need.filed_by_user_id == user.id:
            line.append(f" · {facility.name}")
        items.append(Block(*line))
        if need.status == NeedStatus.RECEIVED:
            label = _("Withdraw {ref}").format(ref=need.ref) + " · " + what_it_is(need, 24)
            choices.append([Choice(label, A.MY_NEED, f"w:{need.id}")])
    turn.add(Reply.of(*items, choices=choices))


async def withdraw_need(turn: Turn, action: ChooseEvent) -> None:
    """Withdraw under /needs: ask (Yes / No), then withdraw (only one's own, only while received)."""
    step, _sep, raw_id = action.arg.partition(":")
    need_id = whole_number(raw_id)
    need = await repos.get_need(turn.session, need_id=need_id) if need_id is not None else None
    user = turn.user
    if user is None or need is None or user.id not in (need.registrant_user_id, need.filed_by_user_id):
        turn.say(turn._(NOT_YOURS), notice=True)
        return
    if step == "n":
        turn.add(Reply.of(turn._("Kept: need {ref} stays with the centre.").format(ref=need.ref),
                          replace_previous=True))
        return
    if need.status == NeedStatus.WITHDRAWN:
        turn.add(Reply.of(turn._("Need {ref} has already been withdrawn.").format(ref=need.ref),
                          replace_previous=True))
        return
    if step == "w":
        question = turn._("Withdraw need <b>{ref}</b>? The centre will stop reviewing it.").format(ref=need.ref)
        turn.add(Reply.of(Block(*from_staff_html(question)), Block(what_it_is(need)),
                          choices=[[Choice(turn._("Yes, withdraw"), A.MY_NEED, f"wy:{need.id}"),
                                    Choice(turn._("No, keep it"), A.MY_NEED, f"n:{need.id}")]]))
        return
    await needs_service.withdraw(turn.session, clock=turn.app.clock, user=user, need_id=need.id or 0)
    done = turn._("Need <b>{ref}</b> has been withdrawn.").format(ref=need.ref)
    turn.add(Reply(blocks=(Block(*from_staff_html(done)),), replace_previous=True))


def register(flows: Flows) -> None:
    flows.command("need")(new_need)
    flows.command("needs")(list_needs)
    flows.action(A.MY_NEED)(withdraw_need)
