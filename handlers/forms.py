"""Runs any declared form on any channel, through the conversation pipeline.

A step is shown as neutral replies (`bot/conversation/form_view.py`): buttons on Telegram, numbered lines
on a text channel. Answers arrive as events: typed text, a shared contact, a file, or a choice (a pressed
button or a typed number). State lives in the `conversations` table, so a restart resumes at the same step.
Completers (`on_complete`) get a `FormRun` and add their replies to the same turn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent, CommandEvent, ContactEvent, MediaEvent, TextEvent
from bot.conversation.form_view import step_replies, value_nodes
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Reply, html_reply, plain_text
from bot.domain import Role
from bot.i18n_marker import N_
from bot.media import STORED_PREFIX
from bot.services import accounts
from bot.services.forms import (
    Candidates,
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
from bot.services.forms import Choice as FormChoice
from bot.services.forms.engine import FORM_REVOKED, Field
from bot.services.needs import FacilityLookup
from bot.services.validation import fold, format_phone
from handlers.menu_words import menu_words
from storage import repos
from storage.models import Conversation, User

log = logging.getLogger(__name__)

# The rights over one's personal data work at any time, also in the middle of a form.
ALWAYS_AVAILABLE = frozenset({"mydata", "forget"})
BACK_WORDS = frozenset({"back", "quay lai", "tro lai", "lui"})
CANCEL_WORDS = frozenset({"cancel", "huy", "thoi", "dung"})


# --- what completers get ------------------------------------------------------------------------


@dataclass
class FormRun:
    """What a completed form's handler gets: the answers' context and the turn to reply in."""

    app: AppContext
    session: AsyncSession
    user: User
    role: Role
    turn: Turn
    context: dict[str, Any]

    async def reply(self, text: str, *, keyboard: tuple[tuple[str, ...], ...] | None = None) -> None:
        """A reply from a translated string holding <b> tags (user words escaped), added to the turn."""
        self.turn.add(replace(html_reply(text), keyboard=keyboard))

    def say(self, *replies: Reply) -> None:
        self.turn.add(*replies)


CANCELLED = N_("Cancelled. Nothing was saved.")

Completer = Callable[[FormRun, dict[str, Any]], Awaitable[None]]
COMPLETERS: dict[str, Completer] = {}


def on_complete(form_name: str) -> Callable[[Completer], Completer]:
    """Register what happens when a form is confirmed (each feature module owns its forms)."""

    def register(fn: Completer) -> Completer:
        COMPLETERS[form_name] = fn
        return fn

    return register


# --- state and display ----------------------------------------------------------------------------


def providers_for(app: AppContext, session: AsyncSession) -> dict[str, LookupProvider]:
    return {"commune": app.commune_lookup, "facility": FacilityLookup(session)}


def state_of(conv: Conversation) -> FormState:
    return FormState(form=conv.form, step=conv.step, data=dict(conv.data), history=list(conv.history),
                     context=dict(conv.context))


async def _save(turn: Turn, state: FormState) -> None:
    assert turn.user is not None
    conv = await repos.save_conversation(turn.session, user_id=turn.user.id or 0, form=state.form, step=state.step,
                                         data=state.data, history=state.history, context=state.context,
                                         now=turn.app.clock.now())
    turn.conversation = conv


async def show(turn: Turn, state: FormState, *, note: Block | str | None = None,
               candidates: tuple[FormChoice, ...] | None = None, page: int = 0) -> None:
    """Add the current step's replies to the turn."""
    options = candidates
    step = turn.app.forms.step(state)
    if step.field is not None and step.field.kind is FieldKind.LOOKUP and options is None:
        provider = providers_for(turn.app, turn.session)[step.field.lookup or ""]
        query = state.context.get("_query")
        options = tuple(await (provider.search(query, state.context) if query else provider.browse(state.context)))
    turn.add(*step_replies(turn.app.forms, state, turn._, turn.caps, note=note, options=options, page=page))


def _title(turn: Turn, state: FormState) -> str:
    try:
        return turn._(turn.app.forms.form_of(state).title)
    except KeyError:
        return state.form


async def start(turn: Turn, *, form: str, data: dict[str, Any] | None = None,
                context: dict[str, Any] | None = None, intro: Block | str | None = None) -> None:
    """Begin a form (or jump to its summary when `data` already answers every field)."""
    state = turn.app.forms.start(form, data=data, context=context)
    await _save(turn, state)
    await show(turn, state, note=intro)


# --- answers -------------------------------------------------------------------------------------------


async def _attachment_of(turn: Turn, action: MediaEvent) -> str:
    """What an attachment answer stores: our media id as `media:<id>` (bot/media.py) — every channel can
    show it, Telegram by its cached file_id — or Telegram's file_id when the file could not be kept."""
    if action.ref.startswith("tg:"):  # not kept (the download failed): Telegram's own id
        return action.ref.removeprefix("tg:")
    return STORED_PREFIX + action.ref


async def _input_of(turn: Turn, action: Action) -> Input | None:
    if isinstance(action, ContactEvent):
        return ContactInput(action.phone)
    if isinstance(action, MediaEvent):
        return FileInput(await _attachment_of(turn, action), action.kind, action.name)
    if isinstance(action, TextEvent):
        return TextInput(action.text)
    return None


async def form_input(turn: Turn, action: Action) -> None:
    """Anything a person sends while a form is open: an answer, a typed Back/Cancel, or a command."""
    assert turn.conversation is not None and turn.user is not None
    state = state_of(turn.conversation)
    if isinstance(action, CommandEvent):
        await _command_in_form(turn, state, action)
        return
    if isinstance(action, TextEvent):
        word = fold(action.text).strip().strip(".!")
        if action.text.strip() in (turn._("✖ Cancel"),) or word in CANCEL_WORDS:
            await cancel(turn, state)
            return
        if action.text.strip() in (turn._("◀ Back"),) or word in BACK_WORDS:
            await _go_back(turn, state)
            return
    inp = await _input_of(turn, action)
    if inp is None:
        await show(turn, state, note=turn._("I can't use that kind of message here."))
        return
    asked = turn.app.forms.step(state).field
    on_phone_step = turn.app.forms.step(state).kind == FieldKind.PHONE and bool(asked and asked.own_phone)
    outcome = await turn.app.forms.answer(state, inp, providers_for(turn.app, turn.session))
    await _apply(turn, state, outcome, had_contact_kb=on_phone_step and turn.caps.contacts, answered=asked)


async def _command_in_form(turn: Turn, state: FormState, action: CommandEvent) -> None:
    if action.name == "cancel":
        await cancel(turn, state)
        return
    note = turn._("You are filling in “{form}”. Please answer below, or choose Cancel to stop.").format(
        form=_title(turn, state))
    if action.name == "help":
        note = turn._("To stop this form, choose Cancel or send /cancel.") + "\n\n" + note
    await show(turn, state, note=note)


ECHOED = (FieldKind.CHOICE, FieldKind.LOOKUP, FieldKind.PHONE)


def _echo(turn: Turn, state: FormState, fld: Field | None) -> str | None:
    """One short line saying what was recorded for a chosen or matched answer ("✓ Commune/ward: Phường Long
    Xuyên"): buttons disappear and typed words may have been matched, so the person sees what was kept."""
    if fld is None or fld.kind not in ECHOED or state.data.get(fld.name) is None:
        return None
    value = plain_text(value_nodes(turn._, turn.app.forms.display_value(state.data, fld)))
    if fld.kind is FieldKind.PHONE:
        value = format_phone(value)
    return f"✓ {turn._(fld.label)}: {value}"


async def _apply(turn: Turn, state: FormState, outcome: Any, *, had_contact_kb: bool = False,
                 answered: Field | None = None) -> None:
    if isinstance(outcome, Invalid):
        await show(turn, state, note="⚠️ " + outcome.message.render(turn._))
        return
    if isinstance(outcome, Candidates):
        await _save(turn, state)
        note = turn._("Several matches for “{query}”. Please choose:").format(query=outcome.query)
        await show(turn, state, note=note, candidates=outcome.choices)
        return
    if not isinstance(outcome, Done):
        await _save(turn, state)
    echo = None if isinstance(outcome, Done) else _echo(turn, state, answered)
    if had_contact_kb:
        # The share-contact keyboard gives way to the main menu again (if any), with what was recorded.
        turn.add(Reply.of(echo or "✓", keyboard=await main_menu(turn)))
        echo = None
    if isinstance(outcome, Done):
        await _finish(turn, state, outcome.data)
        return
    await show(turn, state, note=echo)


async def _go_back(turn: Turn, state: FormState) -> None:
    if not turn.app.forms.back(state):
        await show(turn, state, note=turn._("This is the first question. Choose Cancel to stop."))
        return
    await _save(turn, state)
    await show(turn, state)


async def _finish(turn: Turn, state: FormState, data: dict[str, Any]) -> None:
    assert turn.user is not None
    await repos.delete_conversation(turn.session, user_id=turn.user.id or 0)
    turn.conversation = None
    # The role is read again, locked, in the transaction that will hold the form's result.
    turn.role = await accounts.current_role(turn.session, user=turn.user, admin_ids=turn.app.settings.admin_ids,
                                                staff=turn.app.settings.staff_identities())
    if not turn.app.forms.allows(state.form, state.context, turn.role):
        await closed_notice(turn, state, FORM_REVOKED)
        return
    # Forms built at run time ("signup.12") share the completer of their prefix.
    completer = COMPLETERS.get(state.form) or COMPLETERS.get(state.form.partition(".")[0])
    if completer is None:
        log.error("no completer registered for form %s", state.form)
        turn.say(turn._("Sorry, something went wrong on our side. Please try again in a moment."))
        return
    await completer(FormRun(turn.app, turn.session, turn.user, turn.role, turn, state.context), data)


async def cancel(turn: Turn, state: FormState | None = None) -> None:
    """Close the form. A form over something already saved (changing a sign-up's answers) names what stands
    in its context's "cancel_note" (a msgid), instead of "nothing was saved"."""
    if turn.user is not None:
        await repos.delete_conversation(turn.session, user_id=turn.user.id or 0)
    turn.conversation = None
    note = (state.context.get("cancel_note") if state is not None else None) or CANCELLED
    turn.add(Reply.of(turn._(note), keyboard=await main_menu(turn)))


async def main_menu(turn: Turn) -> tuple[tuple[str, ...], ...]:
    """The main menu for this person as they are now: none (the keyboard taken away) for someone who has no
    role's menu yet — a newcomer registering, a would-be collaborator confirming an invitation — so that a
    facility's menu never shows before there is a facility."""
    if turn.role is Role.USER and not (turn.user and turn.user.id and await repos.facility_of_owner(
            turn.session, user_id=turn.user.id)):
        return ()
    return menu_words(turn._, turn.role)


async def closed_notice(turn: Turn, state: FormState, msgid: str) -> None:
    hours = f"{turn.app.settings.form_ttl_hours:g}"
    text = "⚠️ " + turn._(msgid).format(form=_title(turn, state), hours=hours)
    turn.add(Reply.of(text, keyboard=await main_menu(turn)))


# --- choices (buttons, or typed numbers) -------------------------------------------------------------------


async def form_choice(turn: Turn, action: ChooseEvent) -> None:
    """A form choice; refused when it belongs to a step that is no longer current."""
    form, step, value = A.parse_form_arg(action.arg)
    conv = turn.conversation
    if turn.user is None or conv is None or conv.form != form or (conv.step or "") != step:
        turn.say(turn._("This button is no longer active."), notice=True)
        return
    state = state_of(conv)
    # Take the buttons off the answered message, so an old press cannot be repeated.
    turn.add(Reply(retire_previous=True))
    handler = _CHOICES.get(action.action)
    if handler is None:
        await show(turn, state)
        return
    await handler(turn, state, value)


async def _choose(turn: Turn, state: FormState, value: str) -> None:
    asked = turn.app.forms.step(state).field
    outcome = await turn.app.forms.answer(state, ChoiceInput(value), providers_for(turn.app, turn.session))
    await _apply(turn, state, outcome, answered=asked)


async def _skip(turn: Turn, state: FormState, value: str) -> None:
    step = turn.app.forms.step(state)
    on_phone_step = step.kind == FieldKind.PHONE and bool(step.field and step.field.own_phone)
    await _apply(turn, state, turn.app.forms.skip(state), had_contact_kb=on_phone_step and turn.caps.contacts)


async def _confirm(turn: Turn, state: FormState, value: str) -> None:
    done = turn.app.forms.confirm(state)
    if done is None:
        await show(turn, state)
        return
    await _finish(turn, state, done.data)


async def _edit_menu(turn: Turn, state: FormState, value: str) -> None:
    turn.app.forms.to_edit_menu(state)
    await _save(turn, state)
    await show(turn, state)


async def _page(turn: Turn, state: FormState, value: str) -> None:
    page = int(value) if value.isascii() and value.isdigit() and len(value) < 6 else 0
    await show(turn, state, page=page)


async def _back(turn: Turn, state: FormState, value: str) -> None:
    await _go_back(turn, state)


async def _cancel(turn: Turn, state: FormState, value: str) -> None:
    await cancel(turn, state)


_CHOICES: dict[str, Callable[[Turn, FormState, str], Awaitable[None]]] = {
    A.FORM_CHOOSE: _choose, A.FORM_SKIP: _skip, A.FORM_CONFIRM: _confirm, A.FORM_EDIT: _edit_menu,
    A.FORM_PAGE: _page, A.FORM_BACK: _back, A.FORM_CANCEL: _cancel,
}


# --- the guard: an open form that expired or whose role was taken away is closed ------------------------------


async def guard(turn: Turn, action: Action) -> bool:
    """Close an open form that can no longer go on; True when the event should go no further."""
    conv = turn.conversation
    if conv is None:
        return False
    reason = turn.app.forms.closed_reason(conv.form, conv.context, role=turn.role, updated_at=conv.updated_at,
                                          now=turn.app.clock.now())
    if reason is None:
        return False
    await repos.delete_conversation(turn.session, user_id=conv.user_id)
    turn.conversation = None
    await closed_notice(turn, state_of(conv), reason)
    return not isinstance(action, CommandEvent)


def register(flows: Flows) -> None:
    flows.form_input = form_input
    flows.before = guard
    flows.always.update(ALWAYS_AVAILABLE)
    for action_id in A.FORM_ACTIONS:
        flows.action(action_id)(form_choice)
