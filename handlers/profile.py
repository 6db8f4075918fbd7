"""/profile: show the facility's details and edit them through the registration form — on every channel."""

from __future__ import annotations

from html import escape

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Choice, Reply, html_reply
from bot.domain import SECTOR_LABELS, Role, Sector
from bot.i18n_marker import N_
from bot.services import accounts
from bot.services.validation import format_phone
from handlers import forms
from storage import repos

NOT_REGISTERED = N_("You have not registered a facility yet. Send /start to register.")


async def show_profile(turn: Turn, action: Action) -> None:
    """/profile: the facility's details with an Edit choice (or the collaborator's own details)."""
    _, user, app = turn._, turn.user, turn.app
    facility = await repos.facility_of_owner(turn.session, user_id=user.id) if user and user.id else None
    if user is not None and facility is None and turn.role is not Role.USER:
        lines = [_("<b>Your details</b>"), _("Name: {name}").format(name=escape(user.full_name or "")),
                 _("Phone: {phone}").format(phone=escape(format_phone(user.phone)))]
        if turn.role is Role.COLLABORATOR:
            lines.append(_("Collaborator for: {commune}").format(commune=escape(app.communes.name(user.commune_code))))
        else:
            lines.append(_("Role: staff"))
        turn.add(html_reply("\n".join(lines)))
        return
    if facility is None:
        turn.say(_(NOT_REGISTERED))
        return
    lines = [
        _("<b>Your facility</b>"),
        _("Name: {name}").format(name=escape(facility.name)),
        _("Owner: {owner}").format(owner=escape(facility.owner_name or "")),
        _("Phone: {phone}").format(phone=escape(format_phone(facility.phone))),
        _("Commune/ward: {commune}").format(commune=escape(app.communes.name(facility.commune_code))),
        _("Sector: {sector}").format(sector=_(SECTOR_LABELS[Sector(facility.sector)])),
        _("Main products: {products}").format(products=escape(facility.products or "")),
    ]
    shown = html_reply("\n".join(lines))
    turn.add(Reply(blocks=shown.blocks, choices=((Choice(_("✏️ Edit"), A.PROFILE, "edit"),),)))


async def edit_profile(turn: Turn, action: ChooseEvent) -> None:
    """Edit under /profile: the registration's questions at their summary — the consent is not asked again."""
    user = turn.user
    facility = await repos.facility_of_owner(turn.session, user_id=user.id) if user and user.id else None
    if facility is None or user is None:
        turn.say(turn._(NOT_REGISTERED))
        return
    data = accounts.facility_form_data(facility, turn.app.communes.name(facility.commune_code))
    await forms.start(turn, form="profile", data=data)


def register(flows: Flows) -> None:
    flows.command("profile")(show_profile)
    flows.action(A.PROFILE)(edit_profile)
