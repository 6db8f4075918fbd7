"""/profile: show the facility's details and edit them through the registration form."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import SECTOR_LABELS, Role, Sector
from bot.services import accounts
from bot.services.validation import format_phone
from handlers.forms import start_form
from handlers.keyboards import inline
from storage import repos
from storage.models import User

router = Router(name="profile")
EDIT_PROFILE = "profile:edit"


@router.message(Command("profile"))
async def show_profile(message: Message, app: AppContext, session: AsyncSession, user: User | None,
                       role: Role) -> None:
    """/profile: the facility's details with an Edit button (or the collaborator's own details)."""
    facility = await repos.facility_of_owner(session, user_id=user.id) if user and user.id else None
    if user is not None and facility is None and role is not Role.USER:
        lines = [
            _("<b>Your details</b>"),
            _("Name: {name}").format(name=escape(user.full_name or "")),
            _("Phone: {phone}").format(phone=escape(format_phone(user.phone))),
        ]
        if role is Role.COLLABORATOR:
            lines.append(_("Collaborator for: {commune}").format(commune=escape(app.communes.name(user.commune_code))))
        else:
            lines.append(_("Role: staff"))
        await message.answer("\n".join(lines))
        return
    if facility is None:
        await message.answer(_("You have not registered a facility yet. Send /start to register."))
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
    await message.answer("\n".join(lines), reply_markup=inline([[(_("✏️ Edit"), EDIT_PROFILE)]]))


@router.callback_query(F.data == EDIT_PROFILE)
async def edit_profile(query: CallbackQuery, app: AppContext, session: AsyncSession, user: User | None) -> None:
    """The Edit button under /profile: open the registration form at its summary."""
    facility = await repos.facility_of_owner(session, user_id=user.id) if user and user.id else None
    await query.answer()
    if facility is None or user is None:
        await query.message.answer(_("You have not registered a facility yet. Send /start to register."))
        return
    data = accounts.facility_form_data(facility, app.communes.name(facility.commune_code))
    await start_form(query.message, app=app, session=session, user=user, form="register", data=data,
                     context={"edit": True})
