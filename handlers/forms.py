"""Runs any declared form over Telegram: renders steps, feeds answers to the engine, stores state."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import Role
from bot.services import accounts
from bot.services.forms import (
    EDIT,
    SUMMARY,
    Candidates,
    Choice,
    ChoiceInput,
    ContactInput,
    Done,
    FieldKind,
    FileInput,
    FormState,
    Input,
    Invalid,
    LookupProvider,
    TextInput,
)
from bot.services.forms.engine import FORM_REVOKED
from bot.services.needs import FacilityLookup
from handlers.callbacks import FormCb, small_number
from handlers.keyboards import contact_keyboard, form_step_keyboard, summary_keyboard
from handlers.menu import main_menu
from storage import repos
from storage.models import Conversation, User

log = logging.getLogger(__name__)
router = Router(name="forms")


@dataclass
class FormRun:
    """What a completed form's handler gets: the answers and where to reply."""

    app: AppContext
    session: AsyncSession
    user: User
    role: Role
    message: Message
    bot: Bot
    context: dict[str, Any]

    async def reply(self, text: str, **kwargs: Any) -> Message:
        return await self.message.answer(text, **kwargs)


Completer = Callable[[FormRun, dict[str, Any]], Awaitable[None]]
COMPLETERS: dict[str, Completer] = {}


def on_complete(form_name: str) -> Callable[[Completer], Completer]:
    """Register what happens when a form is confirmed (each feature module owns its forms)."""

    def register(fn: Completer) -> Completer:
        COMPLETERS[form_name] = fn
        return fn

    return register


def providers_for(app: AppContext, session: AsyncSession) -> dict[str, LookupProvider]:
    return {"commune": app.commune_lookup, "facility": FacilityLookup(session)}


def _state(conv: Conversation) -> FormState:
    return FormState(form=conv.form, step=conv.step, data=dict(conv.data), history=list(conv.history),
                     context=dict(conv.context))


async def _save(session: AsyncSession, app: AppContext, user: User, state: FormState) -> None:
    await repos.save_conversation(session, user_id=user.id or 0, form=state.form, step=state.step,
                                  data=state.data, history=state.history, context=state.context,
                                  now=app.clock.now())


def _label(choice: Choice) -> str:
    return _(choice.label) if choice.translate else choice.label


def _field_text(text: str, translate: bool) -> str:
    """A field's prompt or label: translated when it is a message id, escaped when it is staff's own words."""
    return _(text) if translate else escape(text)


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Choice):
        return escape(_label(value))
    if value in ("photo", "document"):
        return _("photo") if value == "photo" else _("document")
    return escape(str(value))


async def start_form(
    message: Message, *, app: AppContext, session: AsyncSession, user: User, form: str,
    data: dict[str, Any] | None = None, context: dict[str, Any] | None = None, intro: str | None = None,
) -> None:
    """Begin a form (or jump to its summary when `data` already answers every field)."""
    state = app.forms.start(form, data=data, context=context)
    await _save(session, app, user, state)
    await render(message, app=app, session=session, state=state, note=intro)


async def render(
    message: Message, *, app: AppContext, session: AsyncSession, state: FormState, note: str | None = None,
    candidates: tuple[Choice, ...] | None = None, page: int = 0,
) -> None:
    """Show the current step as a new message."""
    step = app.forms.step(state)
    form = app.forms.form_of(state)
    parts = [note] if note else []
    back = _("◀ Back") if step.can_back else None
    cancel = _("✖ Cancel")
    if step.kind == SUMMARY:
        lines = [f"<b>{escape(_(form.title))}</b>", _("Please check your answers:"), ""]
        for fld, value in app.forms.summary(state):
            lines.append(f"• <b>{_field_text(fld.label, fld.translate)}:</b> {_value_text(value)}")
        parts.append("\n".join(lines))
        markup = summary_keyboard(form=state.form, step=SUMMARY, confirm=_("✅ Confirm"), edit=_("✏️ Edit"),
                                  cancel=cancel)
        await message.answer("\n\n".join(parts), reply_markup=markup)
        return
    if step.kind == EDIT:
        parts.append(_("Which answer do you want to change?"))
        # Button texts are not HTML: staff's own words go on them as written.
        choices = [(f.name, _(f.label) if f.translate else f.label) for f in form.fields if f.applies(state.data)]
        await message.answer("\n\n".join(parts), reply_markup=form_step_keyboard(
            form=state.form, step=EDIT, choices=choices, back=back, skip=None, cancel=cancel))
        return
    fld = step.field
    assert fld is not None
    parts.append(_field_text(fld.prompt, fld.translate))
    if fld.hint:
        parts.append(f"<i>{escape(_(fld.hint))}</i>")
    text = "\n\n".join(parts)
    if fld.kind is FieldKind.PHONE:
        await message.answer(text, reply_markup=contact_keyboard(
            share=_("📱 Share my phone number"), back=back, cancel=cancel))
        if fld.optional:
            await message.answer(_("No phone number? Press Skip."), reply_markup=form_step_keyboard(
                form=state.form, step=fld.name, choices=[], back=None, skip=_("Skip ➜"), cancel=cancel))
        return
    choices: list[tuple[str, str]] = []
    paged = False
    if fld.kind is FieldKind.CHOICE:
        choices = [(c.value, _label(c)) for c in step.choices]
    elif fld.kind is FieldKind.LOOKUP:
        paged = True
        options = candidates
        if options is None and "_query" in state.context:
            provider = providers_for(app, session)[fld.lookup or ""]
            options = tuple(await provider.search(state.context["_query"], state.context))
        if options is None:
            provider = providers_for(app, session)[fld.lookup or ""]
            options = tuple(await provider.browse(state.context))
        choices = [(c.value, _label(c)) for c in options]
    markup = form_step_keyboard(
        form=state.form, step=fld.name, choices=choices, page=page, paged=paged, back=back,
        skip=_("Skip ➜") if step.can_skip else None, cancel=cancel,
    )
    await message.answer(text, reply_markup=markup)


async def _finish(run: FormRun, state: FormState, data: dict[str, Any]) -> None:
    await repos.delete_conversation(run.session, user_id=run.user.id or 0)
    # The role is read again, locked, in the transaction that will hold the form's result.
    run.role = await accounts.current_role(run.session, user=run.user, admin_ids=run.app.settings.admin_ids)
    if not run.app.forms.allows(state.form, state.context, run.role):
        await _closed_notice(run.message, run.app, state, FORM_REVOKED, run.role)
        return
    # Forms built at run time ("signup.12") share the completer of their prefix.
    completer = COMPLETERS.get(state.form) or COMPLETERS.get(state.form.partition(".")[0])
    if completer is None:
        log.error("no completer registered for form %s", state.form)
        await run.reply(_("Sorry, something went wrong on our side. Please try again in a moment."))
        return
    await completer(run, data)


async def cancel(message: Message, *, session: AsyncSession, user: User, role: Role) -> None:
    await repos.delete_conversation(session, user_id=user.id or 0)
    await message.answer(_("Cancelled. Nothing was saved."), reply_markup=main_menu(role))


async def _closed_notice(message: Message, app: AppContext, state: FormState, msgid: str, role: Role) -> None:
    try:
        title = _(app.forms.form_of(state).title)
    except KeyError:
        title = state.form
    hours = f"{app.settings.form_ttl_hours:g}"
    await message.answer("⚠️ " + _(msgid).format(form=escape(title), hours=hours), reply_markup=main_menu(role))


class OpenFormGuard(BaseMiddleware):
    """Before anything reads an open form: close it if it expired or its role was taken away.

    The person is told which form was closed and that nothing was saved. A command goes on to its
    handler (they start fresh); an answer meant for the closed form goes no further.
    """

    def __init__(self, app: AppContext) -> None:
        self.app = app

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        conv: Conversation | None = data.get("conversation")
        role: Role = data["role"]
        if conv is None:
            return await handler(event, data)
        reason = self.app.forms.closed_reason(conv.form, conv.context, role=role, updated_at=conv.updated_at,
                                              now=self.app.clock.now())
        if reason is None:
            return await handler(event, data)
        session: AsyncSession = data["session"]
        await repos.delete_conversation(session, user_id=conv.user_id)
        data["conversation"] = None
        message = event.message if isinstance(event, CallbackQuery) else event
        if isinstance(message, Message):
            await _closed_notice(message, self.app, _state(conv), reason, role)
        if isinstance(event, Message) and not (event.text or "").startswith("/"):
            return None
        return await handler(event, data)


# The rights over one's personal data work at any time, also in the middle of a form.
ALWAYS_AVAILABLE = frozenset({"/mydata", "/forget"})


class InForm(Filter):
    """Matches when the person has a form open (except for the commands that always work)."""

    async def __call__(self, event: TelegramObject, conversation: Conversation | None = None) -> bool:
        if conversation is None:
            return False
        words = (getattr(event, "text", None) or "").split(maxsplit=1)
        return not words or words[0].split("@")[0].lower() not in ALWAYS_AVAILABLE


def _input_of(message: Message) -> Input | None:
    if message.contact is not None:
        return ContactInput(message.contact.phone_number)
    if message.document is not None:
        return FileInput(message.document.file_id, "document", message.document.file_name)
    if message.photo:
        return FileInput(message.photo[-1].file_id, "photo", None)
    if message.text is not None:
        return TextInput(message.text)
    return None


@router.message(InForm())
async def form_message(message: Message, app: AppContext, session: AsyncSession, user: User, role: Role,
                       conversation: Conversation, bot: Bot) -> None:
    """A message while a form is open: an answer, a typed Back/Cancel, or a command."""
    state = _state(conversation)
    text = (message.text or "").strip()
    if text in (_("✖ Cancel"), "/cancel") or text.startswith("/cancel"):
        await cancel(message, session=session, user=user, role=role)
        return
    if text == _("◀ Back"):
        await _go_back(message, app, session, user, state)
        return
    if text.startswith("/"):
        title = _(app.forms.form_of(state).title)
        note = _("You are filling in “{form}”. Please answer below, or press Cancel to stop.").format(
            form=escape(title))
        if text.startswith("/help"):
            note = _("To stop this form, press Cancel or send /cancel.") + "\n\n" + note
        await render(message, app=app, session=session, state=state, note=note)
        return
    inp = _input_of(message)
    if inp is None:
        await render(message, app=app, session=session, state=state,
                     note=_("I can't use that kind of message here."))
        return
    run = FormRun(app, session, user, role, message, bot, state.context)
    on_phone_step = app.forms.step(state).kind == FieldKind.PHONE
    await _apply(run, state, await app.forms.answer(state, inp, providers_for(app, session)),
                 had_contact_kb=on_phone_step)


async def _apply(run: FormRun, state: FormState, outcome: Any, *, had_contact_kb: bool = False) -> None:
    app, session, message = run.app, run.session, run.message
    if isinstance(outcome, Invalid):
        note = "⚠️ " + outcome.message.render(_)
        await render(message, app=app, session=session, state=state, note=note)
        return
    if isinstance(outcome, Candidates):
        await _save(session, app, run.user, state)
        note = _("Several matches for “{query}”. Please choose:").format(query=escape(outcome.query))
        await render(message, app=app, session=session, state=state, note=note, candidates=outcome.choices)
        return
    if not isinstance(outcome, Done):
        await _save(session, app, run.user, state)  # saved before anything is shown (see CommitBeforeReply)
    if had_contact_kb:
        # The share-contact keyboard gives way to the main menu again.
        await message.answer(_("✅ Saved."), reply_markup=main_menu(run.role))
    if isinstance(outcome, Done):
        await _finish(run, state, outcome.data)
        return
    await render(message, app=app, session=session, state=state)


async def _go_back(message: Message, app: AppContext, session: AsyncSession, user: User, state: FormState) -> None:
    if not app.forms.back(state):
        await render(message, app=app, session=session, state=state,
                     note=_("This is the first question. Press Cancel to stop."))
        return
    await _save(session, app, user, state)
    await render(message, app=app, session=session, state=state)


@router.callback_query(FormCb.filter())
async def form_button(query: CallbackQuery, callback_data: FormCb, app: AppContext, session: AsyncSession,
                      user: User | None, role: Role, conversation: Conversation | None, bot: Bot) -> None:
    """A press on a form button; refused when it belongs to a step that is no longer current."""
    message = query.message
    if (user is None or conversation is None or not isinstance(message, Message)
            or conversation.form != callback_data.form or conversation.step != callback_data.step):
        await query.answer(_("This button is no longer active."), show_alert=False)
        return
    state = _state(conversation)
    await query.answer()
    # Take the buttons off the answered message so an old press cannot be repeated.
    await message.edit_reply_markup(reply_markup=None)
    action, value = callback_data.action, callback_data.value
    run = FormRun(app, session, user, role, message, bot, state.context)
    if action == "x":
        await cancel(message, session=session, user=user, role=role)
    elif action == "b":
        await _go_back(message, app, session, user, state)
    elif action == "s":
        on_phone_step = app.forms.step(state).kind == FieldKind.PHONE
        await _apply(run, state, app.forms.skip(state), had_contact_kb=on_phone_step)
    elif action == "ok":
        done = app.forms.confirm(state)
        if done is not None:
            await _finish(run, state, done.data)
        else:
            await render(message, app=app, session=session, state=state)
    elif action == "ed":
        app.forms.to_edit_menu(state)
        await _save(session, app, user, state)
        await render(message, app=app, session=session, state=state)
    elif action == "p" and (page := small_number(value)) is not None:
        await render(message, app=app, session=session, state=state, page=page)
    elif action == "c":
        await _apply(run, state, await app.forms.answer(state, ChoiceInput(value), providers_for(app, session)))
    else:  # forged or unknown: show the step again rather than leave the person without buttons
        await render(message, app=app, session=session, state=state)
