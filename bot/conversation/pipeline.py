"""One unit of work per event, on any channel.

    event → who is it (and their open form) → the flow for what they did → replies
          → rendered for their channel (a text channel's numbers saved as the pending menu)
          → commit → the channel sends

Nothing is sent inside the transaction, and nothing is committed that the person will not see: a
failing flow is rolled back and answered with an apology (domain errors with their own message).
A person's events are handled one at a time, in order; different people's run concurrently. Across processes
sharing a PostgreSQL database, the unit of work starts by taking the person's advisory lock (released at
commit); and a conversation saved from a stale read (another writer saved it meanwhile: its version moved)
is not overwritten: the unit of work is rolled back and handled once more from a fresh read.

Replies are never lost: what the channel could not send (after its own retries; nothing of it left) is
handed back to `defer` and sent by the outbox; while a reply to a person waits there, their later replies
are queued behind it in the same transaction as the turn (their order kept), not sent directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Protocol

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.channels.capabilities import Capabilities
from bot.channels.text import resolve_number
from bot.context import AppContext
from bot.conversation import actions as A
from bot.conversation.events import (
    Action,
    ChooseEvent,
    CommandEvent,
    ContactEvent,
    Event,
    MediaEvent,
    TextEvent,
    UnsupportedEvent,
    Who,
)
from bot.conversation.replies import Block, Bold, Choice, Rendered, Reply, reply_from_json, reply_to_json
from bot.domain import Role
from bot.errors import DomainError
from bot.i18n_marker import N_
from bot.services import outbox
from bot.services.accounts import bootstrap_staff, effective_role, locale_from_language_code, seen
from bot.services.throttle import PRESS_SLOWER, SLOW_DOWN, Verdict
from bot.text import fold
from storage import ops_repos, repos
from storage.db import connection_lost
from storage.models import Conversation, Identity, User

log = logging.getLogger(__name__)

SORRY = N_("Sorry, something went wrong on our side. Please try again in a moment.")
CHOOSE_HINT = N_("Type the number of your choice.")
KEPT = "_kept"  # the pending menu's key for what a turn keeps for the next (never a number)
MENU_LINE = N_("Menu")
FILE_AT_CENTRE = N_("the file is available from the centre.")
ANSWERED_FLUSH_S = 1.0  # how long the replies of an answered update stay kept, at most (see `answered`)
ANSWERED_BATCH = 200


class ConversationChanged(Exception):
    """Another writer saved the person's conversation after this unit of work read it (nothing was saved)."""


@dataclass
class Turn:
    """Everything a flow may use while handling one event; it adds replies, the pipeline sends them."""

    app: AppContext
    session: AsyncSession
    who: Who
    user: User | None
    role: Role
    locale: str
    caps: Capabilities
    conversation: Conversation | None
    replies: list[Reply] = field(default_factory=list)
    # What the person's previous turn kept for this one (`kept`), and what this turn keeps for the next
    # (`keep`): e.g. the words a "send this as a question" choice stands for, too long for a button's data.
    # Stored with the pending menu (on every channel), so it is gone after the next reply.
    kept: dict[str, Any] = field(default_factory=dict)
    keep: dict[str, Any] = field(default_factory=dict)

    def _(self, msgid: str) -> str:
        return self.app.i18n.gettext(msgid, locale=self.locale)

    def say(self, *blocks: Block | str, **kwargs: Any) -> None:
        self.replies.append(Reply.of(*blocks, **kwargs))

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)


Flow = Callable[[Turn, Action], Awaitable[None]]


class Renderer(Protocol):
    caps: Capabilities

    def render(self, reply: Reply, **kwargs: Any) -> Rendered: ...


class Flows:
    """Which flow handles what: commands by name, choices by action id, words that mean a command,
    and the flows for answers to an open form, for anything else, and for what cannot be used."""

    def __init__(self) -> None:
        self.commands: dict[str, Flow] = {}
        self.actions: dict[str, Flow] = {}
        self.words: dict[str, str] = {}  # folded word → command name ("menu", "tro giup" → help)
        # Words followed by the command's argument ("lien ket ABCD2345" → /link ABCD2345).
        self.arg_words: dict[str, str] = {}
        # Typed keywords outside a form ("DK 12"): (does this text match, the flow that takes it).
        self.patterns: list[tuple[Callable[[str], bool], Flow]] = []
        self.form_input: Flow | None = None
        self.fallback: Flow | None = None
        self.unsupported: Flow | None = None
        # Runs first while a form is open; True means the event goes no further (e.g. the form expired).
        self.before: Callable[[Turn, Action], Awaitable[bool]] | None = None
        # Commands that work in the middle of a form (the rights over one's data); others reach the form.
        self.always: set[str] = set()

    def command(self, *names: str) -> Callable[[Flow], Flow]:
        def register(fn: Flow) -> Flow:
            for name in names:
                self.commands[name] = fn
            return fn
        return register

    def action(self, *ids: str) -> Callable[[Flow], Flow]:
        def register(fn: Flow) -> Flow:
            for action_id in ids:
                self.actions[action_id] = fn
            return fn
        return register

    def route(self, turn: Turn, action: Action, menu: dict[str, Any]) -> tuple[Flow | None, Action]:
        """The flow for an action; a typed number becomes the choice it stood for."""
        if isinstance(action, TextEvent):
            if (hit := resolve_number(action.text, menu)) is not None:
                action = ChooseEvent(*hit)
            elif turn.conversation is None and (command := self._word_command(action.text)) is not None:
                action = command
        if isinstance(action, CommandEvent):
            if turn.conversation is not None and self.form_input is not None and action.name not in self.always:
                return self.form_input, action
            return self.commands.get(action.name) or self.fallback, action
        if isinstance(action, ChooseEvent):
            return self.actions.get(action.action) or self.fallback, action
        if isinstance(action, TextEvent) and turn.conversation is None:
            for matches, flow in self.patterns:
                if matches(action.text):
                    return flow, action
        if isinstance(action, TextEvent | ContactEvent | MediaEvent):
            return (self.form_input if turn.conversation is not None else None) or self.fallback, action
        if isinstance(action, UnsupportedEvent):
            if turn.conversation is not None and self.form_input is not None:
                return self.form_input, action  # the form says what it can use, and asks again
            return self.unsupported or self.fallback, action
        return self.fallback, action

    def _word_command(self, text: str) -> CommandEvent | None:
        """A command typed as words: "tro giup" → /help, "liên kết ABCD2345" → /link ABCD2345."""
        folded = _fold(text)
        if (command := self.words.get(folded)) is not None:
            return CommandEvent(command)
        for word, command in self.arg_words.items():
            if folded.startswith(word + " "):
                return CommandEvent(command, " ".join(text.split()[len(word.split()):]))
        return None


def _in_group(action: Action) -> bool:
    return isinstance(action, UnsupportedEvent) and action.what == "group"


async def _silent(turn: Turn, action: Action) -> None:
    return None


def _fold(text: str) -> str:
    return fold(text).strip()


def centre_contact(_: Callable[[str], str], settings: Any) -> Block | None:
    """The centre's phone and address (CENTRE_PHONE, CENTRE_ADDRESS), for people who would rather call."""
    parts = []
    if settings.centre_phone:
        parts.append(_("Phone: {phone}").format(phone=settings.centre_phone))
    if settings.centre_address:
        parts.append(_("Address: {address}").format(address=settings.centre_address))
    if not parts:
        return None
    return Block(Bold(_("Khuyến công centre")), "\n", "\n".join(parts))


class Pipeline:
    def __init__(self, app: AppContext, flows: Flows) -> None:
        self.app, self.flows = app, flows
        self._locks: dict[str, asyncio.Lock] = {}
        self._answered: list[tuple[str, str]] = []  # (channel, update id) answered, their replies still kept
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Future[None]] = set()

    async def handle(self, event: Event, renderer: Renderer, *, fallthrough: bool = False,
                     update_id: str | None = None) -> list[Rendered] | None:
        """Handle one event; returns what to send, already committed.

        With `fallthrough` (a command no flow has yet), the event is the pipeline's only while the person
        has a form open; otherwise None is returned, nothing is done, and the caller hands it on. With the
        channel's `update_id`, an update some process already handled (committed) is not handled again:
        nothing to send."""
        key = event.who.address
        lock = self._locks.setdefault(key, asyncio.Lock())
        started = self.app.clock.monotonic()
        try:
            async with lock:
                rendered = await self._handle_fresh(event, renderer, fallthrough, update_id)
        except Exception:
            # Before the flow ran (the database unreachable, its pool exhausted under load): still an answer.
            log.exception("could not handle %s from %s", type(event.action).__name__, event.who.channel)
            metrics.update_failed(event.who.channel)
            locale = locale_from_language_code(event.who.language, self.app.settings.default_locale)
            rendered = [renderer.render(self._sorry(lambda m: self.app.i18n.gettext(m, locale=locale)))]
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]
        if rendered is not None:  # None: not the pipeline's (handed on), not counted here
            metrics.update_handled(event.who.channel, self.app.clock.monotonic() - started)
        return rendered

    async def _handle_fresh(self, event: Event, renderer: Renderer, fallthrough: bool,
                            update_id: str | None) -> list[Rendered] | None:
        """The unit of work, once more (from a fresh read) if its save met a newer conversation, or if its
        database connection was found dead (the server restarted: the pool is recycled, nothing was done)."""
        try:
            return await self._handle(event, renderer, fallthrough, update_id, again=False)
        except ConversationChanged:
            log.info("a conversation was saved meanwhile by another writer: handling the %s again",
                     type(event.action).__name__)
        except Exception as exc:
            if not connection_lost(exc):
                raise
            log.warning("the database connection was lost: handling the %s again on a new one",
                        type(event.action).__name__)
        return await self._handle(event, renderer, fallthrough, update_id, again=True)

    async def _handle(self, event: Event, renderer: Renderer, fallthrough: bool, update_id: str | None, *,
                      again: bool) -> list[Rendered] | None:
        who = event.who
        async with self.app.session_maker() as session:
            # Other processes wait here for this person's earlier event (PostgreSQL; SQLite: one process).
            await ops_repos.lock_person(session, key=who.address)
            staff = self.app.settings.staff_identities()
            state = await repos.turn_state(session, channel=who.channel, external_id=who.external_id,
                                           settings_staff=sorted(staff), update_id=update_id,
                                           reply_kind=outbox.REPLY_KIND, waiting=outbox.WAITING)
            if state.seen and update_id is not None and await self._handled_before(session, who, update_id):
                return []
            conversation = state.conversation
            if fallthrough and conversation is None:
                return None
            if (slowed := await self._throttled(session, event, state.user, again)) is not None:
                await session.commit()
                return [renderer.render(reply) for reply in slowed]
            if _in_group(event.action):
                return await self._in_group(session, event, renderer, state, update_id)
            user = await self._person(session, who, state.user, state.identity, staff)
            turn = self._turn(session, who, user, conversation, renderer.caps, linked_staff=state.linked_staff)
            menu, turn.kept = self._menu(state.menu, renderer.caps)
            try:
                with self.app.i18n.context(), self.app.i18n.use_locale(turn.locale):
                    await self._run(turn, event.action, menu)
                rendered = await self._render(turn, renderer, state.menu)
                # A reply carrying a made file (an export) cannot be stored: such a turn is sent at once.
                # Read first with the turn's state; asked again only then (the flow may have settled it: /forget).
                if rendered and not any(r.file for r in turn.replies) and state.replies_waiting and \
                        await outbox.replies_waiting(session, channel=who.channel, chat_id=who.external_id):
                    self._queue(turn, queued(rendered, renderer.caps))
                    rendered = []  # sent by the outbox, behind the replies already waiting there
                if update_id is not None:
                    kept = [{"reply": reply_to_json(reply), "texts": texts}
                            for reply, _skip, texts in queued(rendered, renderer.caps)]
                    await ops_repos.mark_handled(session, channel=who.channel, update_id=update_id,
                                                 now=self.app.clock.now(), replies=kept)
                await session.commit()
            except StaleDataError:
                await session.rollback()
                raise ConversationChanged() from None
            except DomainError as exc:
                await session.rollback()
                await self._count_again(session, event)
                # A refused choice is a brief notice (a toast on Telegram), like the aiogram routers' answers.
                notice = isinstance(event.action, ChooseEvent)
                return [renderer.render(Reply.of(exc.message.render(turn._), notice=notice))]
            except Exception:
                log.exception("unhandled error while handling %s from %s", type(event.action).__name__,
                              who.channel)
                metrics.update_failed(who.channel)
                await session.rollback()
                await self._count_again(session, event)
                return [renderer.render(self._sorry(turn._))]
        if session.info.get("outbox_dirty") and self.app.outbox is not None:
            self.app.outbox.notify()
        return rendered

    async def _in_group(self, session: AsyncSession, event: Event, renderer: Renderer, state: repos.TurnState,
                        update_id: str | None) -> list[Rendered]:
        """Served only in private chats: one polite answer there, and nothing about the person is read out or
        changed (no row made for them, their open form and pending numbers stay as they are)."""
        who = event.who
        turn = self._turn(session, who, state.user, state.conversation, renderer.caps,
                          linked_staff=state.linked_staff)
        with self.app.i18n.context(), self.app.i18n.use_locale(turn.locale):
            await (self.flows.unsupported or self.flows.fallback or _silent)(turn, event.action)
        session.expunge_all()  # whatever the answer touched
        if update_id is not None:  # answered once, even when the update is delivered again
            await ops_repos.mark_handled(session, channel=who.channel, update_id=update_id, now=self.app.clock.now(),
                                         replies=None)
        await session.commit()  # that mark, and the event counted by the flood throttle
        return [renderer.render(reply) for reply in turn.replies]

    async def _throttled(self, session: AsyncSession, event: Event, user: User | None,
                         again: bool) -> list[Reply] | None:
        """The person's flood throttle: None to go on; else what to answer (the first event over the limit: a
        request to slow down, in a private chat; the rest of the flood: nothing). A unit of work done `again`
        was counted already, unless the count was rolled back with it (a store in the database)."""
        throttle = self.app.throttle
        if throttle is None or (again and not throttle.transactional):
            return None
        verdict = await throttle.check(event.who.address, session=session)
        if verdict == Verdict.PASS:
            return None
        if verdict == Verdict.DROP or _in_group(event.action):
            return []
        locale = user.locale if user is not None else locale_from_language_code(
            event.who.language, self.app.settings.default_locale)
        if isinstance(event.action, ChooseEvent):
            return [Reply.of(self.app.translate(PRESS_SLOWER, locale), notice=True)]
        return [Reply.of(self.app.translate(SLOW_DOWN, locale))]

    async def _count_again(self, session: AsyncSession, event: Event) -> None:
        """A turn rolled back (refused, or failed) took its count in a database store with it: counted again on
        its own, so a flood of refused or failing events is slowed like any other."""
        throttle = self.app.throttle
        if throttle is None or not throttle.transactional:
            return
        try:
            await throttle.check(event.who.address, session=session)
            await session.commit()
        except Exception:
            log.warning("a failed turn could not be counted by the flood throttle", exc_info=True)
            await session.rollback()

    async def _handled_before(self, session: AsyncSession, who: Who, update_id: str) -> bool:
        """Whether a process already handled (committed) this update, delivered once more: a webhook POST that
        got no answer, its process perhaps killed after the commit. The turn's replies, if still kept, go to the
        outbox then (the channel had not said they were sent: rather twice than never); the update is not handled
        again."""
        seen = await ops_repos.seen_update(session, channel=who.channel, update_id=update_id)
        if seen is None:
            return False
        log.info("a %s update delivered again was already handled: not handled twice", who.channel)
        if seen.replies:
            await self._queue_for(session, who, [(reply_from_json(r["reply"]), 0, r.get("texts"))
                                                 for r in seen.replies])
            seen.replies = None
            session.add(seen)
            await session.commit()
            if self.app.outbox is not None:
                self.app.outbox.notify()
        return True

    async def answered(self, who: Who, update_id: str | None) -> None:
        """The channel sent the replies of this update's turn (or handed them to the outbox): they are no longer
        kept for a delivery again. Until then a process killed in between costs no reply (it is sent again).

        Not a transaction per update: the updates answered within ANSWERED_FLUSH_S (or ANSWERED_BATCH of them)
        are forgotten together. A delivery again in that second sends the replies once more, as one after a
        kill between sending and forgetting always could: a reply twice rather than never."""
        if update_id is None:
            return
        self._answered.append((who.channel, update_id))
        if len(self._answered) >= ANSWERED_BATCH:
            await self.flush_answered()
        elif self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(ANSWERED_FLUSH_S, self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_timer = None
        task = asyncio.ensure_future(self.flush_answered())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def close(self) -> None:
        """On the way out: what was answered is written now, not lost with the timer."""
        await self.flush_answered()
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    async def flush_answered(self) -> None:
        """Forget the kept replies of the updates answered so far, in one transaction."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        batch, self._answered = self._answered, []
        if not batch:
            return
        try:
            async with self.app.session_maker() as session:
                await ops_repos.forget_replies(session, updates=batch)
                await session.commit()
        except Exception:  # at worst a delivery again sends these replies twice
            log.warning("could not mark %d updates as answered", len(batch), exc_info=True)

    def _queue(self, turn: Turn, replies: Sequence[outbox.QueuedReply]) -> None:
        outbox.queue_replies(turn.session, clock=self.app.clock, channel=turn.who.channel,
                             chat_id=turn.who.external_id, user_id=turn.user.id if turn.user else None,
                             replies=replies)

    async def defer(self, who: Who, replies: Sequence[outbox.QueuedReply]) -> None:
        """Replies the channel could not send (after its retries, nothing of them left; or only their first
        `parts` messages): the outbox sends them, in order, one copy each."""
        if not replies:
            return
        try:
            async with self.app.session_maker() as session:
                await self._queue_for(session, who, replies)
                await session.commit()
        except Exception:  # the database too: nothing more can be done for these replies
            log.exception("%d replies to a %s person could not be queued either", len(replies), who.channel)
            return
        log.warning("%d replies to a %s person could not be sent now: queued in the outbox", len(replies),
                    who.channel)
        if self.app.outbox is not None:
            self.app.outbox.notify()

    async def _queue_for(self, session: AsyncSession, who: Who, replies: Sequence[outbox.QueuedReply]) -> None:
        """Replies to a person, outside their turn, to the outbox (in the caller's transaction)."""
        user = await repos.get_user(session, channel=who.channel, external_id=who.external_id)
        outbox.queue_replies(session, clock=self.app.clock, channel=who.channel, chat_id=who.external_id,
                             user_id=user.id if user else None, replies=replies)

    def _sorry(self, _: Callable[[str], str]) -> Reply:
        contact = centre_contact(_, self.app.settings)
        return Reply.of(_(SORRY), *([contact] if contact else []))

    async def _run(self, turn: Turn, action: Action, menu: dict[str, Any]) -> None:
        if turn.conversation is not None and self.flows.before is not None and await self.flows.before(turn, action):
            return
        flow, action = self.flows.route(turn, action, menu)
        if isinstance(action, CommandEvent) and flow is self.flows.fallback and action.name not in self.flows.commands \
                and turn.replies:
            return  # the open form was just closed (said above); the command is sent again once it has gone
        if flow is not None:
            await flow(turn, action)

    async def _person(self, session: AsyncSession, who: Who, user: User | None, identity: Identity | None,
                      staff: frozenset[tuple[str, str]]) -> User | None:
        """Staff by the settings get their row at once; a known person's identity is marked as just used
        (and becomes where they are notified, with NOTIFY_IDENTITY=last)."""
        settings = self.app.settings
        if user is None:
            return await bootstrap_staff(session, clock=self.app.clock, staff=staff, who=(who.channel, who.external_id),
                                         locale=locale_from_language_code(who.language, settings.default_locale))
        if identity is not None:
            await seen(session, clock=self.app.clock, user=user, identity=identity, notify=settings.notify_identity)
        return user

    def _turn(self, session: AsyncSession, who: Who, user: User | None, conversation: Conversation | None,
              caps: Capabilities, *, linked_staff: bool) -> Turn:
        """The turn of this person; `linked_staff`: staff by the settings on another of their channels."""
        settings = self.app.settings
        role = Role.STAFF if linked_staff else effective_role(
            user, settings.admin_ids, who=(who.channel, who.external_id), staff=settings.staff_identities())
        locale = user.locale if user is not None else locale_from_language_code(
            who.language, self.app.settings.default_locale)
        return Turn(self.app, session, who, user, role, locale, caps, conversation)

    @staticmethod
    def _menu(items: dict[str, Any], caps: Capabilities) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the numbers last shown, on a text channel; what the last turn kept for this one)."""
        items = dict(items)
        kept = items.pop(KEPT, None)
        return ({} if caps.buttons else items), (dict(kept) if isinstance(kept, dict) else {})

    async def _render(self, turn: Turn, renderer: Renderer, before: dict[str, Any]) -> list[Rendered]:
        """Render in the transaction: on a text channel the numbers shown become the pending menu; what the
        turn keeps for the next is saved with it (on every channel). Not written when it is as it was (`before`:
        the saved items)."""
        menu: dict[str, Any] = {}
        if renderer.caps.buttons:
            rendered = [renderer.render(reply) for reply in turn.replies]
            for out, reply in zip(rendered, turn.replies, strict=True):
                out.source = reply
        else:
            zero = Choice(turn._(MENU_LINE), A.MENU)
            rendered = []
            for reply in turn.replies:
                extra = {"unavailable": turn._(FILE_AT_CENTRE)} if reply.media is not None else {}
                out = renderer.render(reply, zero=zero, hint=turn._(CHOOSE_HINT), **extra) if reply.choices else \
                    renderer.render(reply, **extra)
                menu = {k: list(v) for k, v in out.menu.items()} or menu
                out.source = reply
                rendered.append(out)
        # Button channels have a row only while a turn keeps something: no write when there is none to clear.
        if turn.replies and (not renderer.caps.buttons or turn.keep or turn.kept):
            items = {**menu, KEPT: turn.keep} if turn.keep else menu
            if _same_json(items, before) and not turn.session.info.get(repos.MENUS_CLEARED):
                return rendered  # as saved: nothing to write
            await repos.save_pending_menu(turn.session, channel=turn.who.channel, external_id=turn.who.external_id,
                                          items=items, now=turn.app.clock.now())
        return rendered


def _same_json(items: dict[str, Any], before: dict[str, Any]) -> bool:
    """Whether `items` would be stored as `before` was: compared as JSON, not with `==` (for which `True == 1`
    and `1 == 1.0`: a menu changed only so would be taken as unchanged, and not saved)."""
    return json.dumps(items, sort_keys=True) == json.dumps(before, sort_keys=True)


def queued(rendered: Sequence[Rendered], caps: Capabilities, *, done: int = 0,
           unknown: bool = False) -> list[outbox.QueuedReply]:
    """What is left to send of rendered replies once their first `done` messages were (the one after them
    not sent, or with `unknown` perhaps sent: it is skipped, never sent twice). A text channel's messages
    are kept as shown, so the numbers of the saved pending menu stay true."""
    skip = done + (1 if unknown else 0)
    out: list[outbox.QueuedReply] = []
    for item in rendered:
        count = len(item.messages)
        if item.source is not None and item.source.file is not None and skip < count:
            log.warning("a reply carrying a made file could not be sent; it is made again when asked for")
        elif item.source is not None and skip < count:
            texts = None if caps.buttons else [asdict(m) for m in item.messages if is_dataclass(m)]  # type: ignore[arg-type]
            out.append((item.source, max(0, skip), texts))
        skip -= count
    return out


def flatten(rendered: Sequence[Rendered]) -> list[object]:
    return [message for out in rendered for message in out.messages]
