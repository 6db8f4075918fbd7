"""/mydata and /forget: the rights of Decree 13/2023 on personal data."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import CATEGORY_LABELS, SECTOR_LABELS, STATUS_LABELS, NeedCategory, NeedStatus, Sector
from bot.services import accounts
from bot.services.validation import format_phone
from handlers.callbacks import ForgetCb
from handlers.keyboards import inline
from storage.models import User

router = Router(name="privacy")


@router.message(Command("mydata"))
async def my_data(message: Message, app: AppContext, session: AsyncSession, user: User | None) -> None:
    """/mydata: everything stored about the person."""
    # The id is what staff put in ADMIN_IDS (or a person tells the centre); Telegram shows it nowhere else.
    your_id = _("Your Telegram id: <code>{id}</code>").format(id=message.chat.id)
    if user is None:
        await message.answer(_("We store nothing about you.") + "\n" + your_id)
        return
    data = await accounts.my_data(session, user=user)
    lines = [
        _("<b>What we store about you</b>"),
        your_id,
        _("Name: {name}").format(name=escape(user.full_name or "—")),
        _("Telegram username: {username}").format(username=escape(user.username or "—")),
        _("Phone: {phone}").format(phone=escape(format_phone(user.phone) or "—")),
        _("Language: {language}").format(language=user.locale),
        _("Registered on: {date}").format(date=user.created_at.astimezone(app.tz).strftime("%d/%m/%Y")),
    ]
    if user.commune_code:
        lines.append(_("Collaborator for: {commune}").format(commune=escape(app.communes.name(user.commune_code))))
    facility = data["facility"]
    if facility is not None:
        lines += [
            "",
            _("<b>Your facility</b>"),
            _("Name: {name}").format(name=escape(facility.name)),
            _("Owner: {owner}").format(owner=escape(facility.owner_name or "—")),
            _("Phone: {phone}").format(phone=escape(format_phone(facility.phone) or "—")),
            _("Commune/ward: {commune}").format(commune=escape(app.communes.name(facility.commune_code))),
            _("Sector: {sector}").format(sector=_(SECTOR_LABELS[Sector(facility.sector)])),
            _("Main products: {products}").format(products=escape(facility.products or "—")),
        ]
    if data["needs"]:
        lines += ["", _("<b>Your needs</b>")]
        for need in data["needs"]:
            lines.append(f"• {need.ref} · {_(CATEGORY_LABELS[NeedCategory(need.category)])} · "
                         f"{_(STATUS_LABELS[NeedStatus(need.status)])}\n  {escape(need.description)}")
    lines += ["", _("To delete your personal data, send /forget.")]
    await message.answer("\n".join(lines))


@router.message(Command("forget"))
async def forget(message: Message, user: User | None) -> None:
    """/forget: ask for confirmation before deleting."""
    if user is None:
        await message.answer(_("We store nothing about you."))
        return
    await message.answer(
        _("Delete your personal data? Your name, phone number and account will be erased. "
          "Your needs stay only as anonymous records for statistics. This cannot be undone."),
        reply_markup=inline([[(_("Yes, delete my data"), ForgetCb(confirm=True).pack()),
                              (_("No, keep it"), ForgetCb(confirm=False).pack())]]),
    )


@router.callback_query(ForgetCb.filter())
async def forget_confirmed(query: CallbackQuery, callback_data: ForgetCb, session: AsyncSession,
                           user: User | None) -> None:
    """The answer to /forget's question."""
    await query.answer()
    if not callback_data.confirm:
        await query.message.edit_text(_("Nothing was deleted."))
        return
    if user is None:
        await query.message.edit_text(_("We store nothing about you."))
        return
    await accounts.forget(session, user=user)
    await query.message.edit_text(_("Your personal data has been deleted. Send /start if you want to come back."))
