"""/mydata and /forget: the rights of Decree 13/2023 on personal data. Both work while a form is open."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Choice, Reply
from bot.domain import (
    CATEGORY_LABELS,
    KIND_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    TOPICS,
    NeedCategory,
    NeedStatus,
    Sector,
    shown,
)
from bot.services import accounts
from bot.services.forms import FormState
from bot.services.validation import format_phone, html_to_plain
from handlers.forms import _field_text as field_text  # the form summary's own rendering
from handlers.forms import _value_text as value_text
from storage.models import Conversation, User

router = Router(name="privacy")
MESSAGE_LIMIT = 4096  # Telegram's limit for one message; longer answers go as a text file


def _your_id(chat_id: object) -> str:
    # The id is what staff put in ADMIN_IDS (or a person tells the centre); Telegram shows it nowhere else.
    return _("Your Telegram id: <code>{id}</code>").format(id=escape(str(chat_id)))


def _when(app: AppContext, value: object) -> str:
    return value.astimezone(app.tz).strftime("%d/%m/%Y %H:%M") if value else "—"  # type: ignore[attr-defined]


def _account(app: AppContext, data: accounts.PersonalData) -> list[str]:
    user = data.user
    topics = (_("all topics") if user.topics is None else
              ", ".join(_(KIND_LABELS[t]) for t in TOPICS if t.value in user.topics) or _("none"))
    lines = [
        _("<b>What we store about you</b>"),
        _your_id(user.external_id),
        _("Name: {name}").format(name=escape(user.full_name or "—")),
        _("Telegram username: {username}").format(username=escape(user.username or "—")),
        _("Phone: {phone}").format(phone=escape(format_phone(user.phone) or "—")),
        _("Language: {language}").format(language=user.locale),
        _("First contact: {date}").format(date=_when(app, user.created_at)),
        _("Consent to store personal data given: {date}").format(date=_when(app, user.consent_at)),
        _("Announcements: {state}").format(state=_("turned off (/stop)") if user.announcements_off else _("on")),
        _("Topics followed: {topics}").format(topics=topics),
    ]
    if user.commune_code:
        lines.append(_("Collaborator for: {commune}").format(commune=escape(app.communes.name(user.commune_code))))
    return lines


def _open_form(app: AppContext, conversation: Conversation | None) -> list[str]:
    """The answers of a form in progress: stored too (so that a restart loses nothing)."""
    if conversation is None:
        return []
    state = FormState(form=conversation.form, step=conversation.step, data=dict(conversation.data),
                      context=dict(conversation.context))
    try:
        title, rows = app.forms.form_of(state).title, app.forms.summary(state)
    except KeyError:
        return []
    lines = ["", _("<b>Answers of the form you are filling in (“{form}”)</b>").format(form=escape(_(title)))]
    lines += [f"• {field_text(fld.label, fld.translate)}: {value_text(value)}" for fld, value in rows
              if value is not None]
    return lines


def _facility(app: AppContext, data: accounts.PersonalData) -> list[str]:
    facility = data.facility
    if facility is None:
        return []
    return [
        "",
        _("<b>Your facility</b>"),
        _("Name: {name}").format(name=escape(facility.name)),
        _("Owner: {owner}").format(owner=escape(facility.owner_name or "—")),
        _("Phone: {phone}").format(phone=escape(format_phone(facility.phone) or "—")),
        _("Commune/ward: {commune}").format(commune=escape(app.communes.name(facility.commune_code))),
        _("Sector: {sector}").format(sector=_(SECTOR_LABELS[Sector(facility.sector)])),
        _("Main products: {products}").format(products=escape(facility.products or "—")),
        _("Consent given: {date}").format(date=_when(app, facility.consent_at)),
    ]


def _needs(data: accounts.PersonalData) -> list[str]:
    if not data.needs:
        return []
    lines = ["", _("<b>Your needs</b>")]
    for need in data.needs:
        lines.append(f"• {need.ref} · {_(CATEGORY_LABELS[NeedCategory(need.category)])} · "
                     f"{_(STATUS_LABELS[NeedStatus(need.status)])}\n  {escape(shown(need.description, _))}")
        if need.attachment_name:
            lines.append("  " + _("Attachment: {name}").format(name=escape(need.attachment_name)))
    return lines


def _signups(app: AppContext, data: accounts.PersonalData) -> list[str]:
    if not data.signups:
        return []
    lines = ["", _("<b>Your answers to announcements</b>")]
    for signup, ann in data.signups:
        answer = _("signed up") if signup.status == "signed_up" else _("not interested")
        lines.append(f"• {escape(ann.title)} — {answer} ({_when(app, signup.updated_at)})")
        for i, question in enumerate(ann.questions, start=1):
            value = signup.answers.get(f"q{i}")
            if value:
                lines.append(f"  {escape(question)} {escape(shown(str(value), _))}")
    return lines


def _reminders_and_reports(app: AppContext, data: accounts.PersonalData) -> list[str]:
    lines: list[str] = []
    if data.reminders:
        lines += ["", _("<b>Reminders planned for you</b>")]
        for rem, ann, schedule in data.reminders:
            title = ann.title if ann is not None else (schedule.title if schedule is not None else "—")
            lines.append(f"• {_when(app, rem.due_at)} — {escape(title)}")
    if data.reports:
        lines += ["", _("<b>Your reports</b>")]
        for sub, schedule in data.reports:
            lines.append("• " + _("{title} {period}: {visited} facilities visited, {needs} needs collected").format(
                title=escape(schedule.title), period=sub.period, visited=sub.facilities_visited,
                needs=sub.needs_collected))
            if sub.notes:
                lines.append("  " + escape(shown(sub.notes, _)))
    return lines


@router.message(Command("mydata"))
async def my_data(message: Message, app: AppContext, session: AsyncSession, user: User | None,
                  conversation: Conversation | None = None) -> None:
    """/mydata: everything stored about the person — as a text file when it is too long for one message."""
    if user is None:
        await message.answer(_("We store nothing about you.") + "\n" + _your_id(message.chat.id))
        return
    data = await accounts.my_data(session, user=user)
    lines = [*_account(app, data), *_open_form(app, conversation), *_facility(app, data), *_needs(data),
             *_signups(app, data), *_reminders_and_reports(app, data), "",
             _("To delete your personal data, send /forget.")]
    text = "\n".join(lines)
    if len(text) <= MESSAGE_LIMIT:
        await message.answer(text)
        return
    document = BufferedInputFile(html_to_plain(text).encode("utf-8"), filename="du-lieu-cua-toi.txt")
    await message.answer_document(document, caption=_("Everything we store about you is in this file "
                                                       "(too long for one message)."))


async def forget(turn: Turn, action: Action) -> None:
    """/forget: ask for confirmation before erasing (an open form is closed with the rest)."""
    _ = turn._
    if turn.user is None:
        turn.say(_("We store nothing about you."))
        return
    text = _("Delete your personal data? Your name, phone number and account will be erased, and so will "
              "what you wrote that may describe you (descriptions of your needs, answers to announcements, "
              "report notes). Your needs, sign-ups and reports stay only as anonymous records for statistics. "
              "This cannot be undone.")
    blocks = [Block(text)]
    if turn.conversation is not None:
        blocks.append(Block(_("The form you have open will be closed too.")))
    turn.add(Reply.of(*blocks, choices=[[Choice(_("Yes, delete my data"), A.FORGET, "1"),
                                         Choice(_("No, keep it"), A.FORGET, "0")]]))


async def forget_confirmed(turn: Turn, action: ChooseEvent) -> None:
    """The answer to /forget's question."""
    if action.arg != "1":
        turn.add(Reply.of(turn._("Nothing was deleted."), replace_previous=True))
        return
    if turn.user is None:
        turn.add(Reply.of(turn._("We store nothing about you."), replace_previous=True))
        return
    await accounts.forget(turn.session, user=turn.user)
    turn.user = turn.conversation = None
    turn.add(Reply.of(turn._("Your personal data has been deleted. Send /start if you want to come back."),
                      replace_previous=True))


def register(flows: Flows) -> None:
    flows.command("forget")(forget)
    flows.action(A.FORGET)(forget_confirmed)
