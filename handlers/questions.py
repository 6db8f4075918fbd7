"""A registered person's message the bot did not understand: the menu, and their words offered to the centre
as a question ("Send this as a question to the centre": a button on Telegram, a number on a text channel).

The words are too long for a button's data, so the turn keeps them for the next one (`Turn.keep`, stored with
the pending menu); the choice carries only their fingerprint, so a press after newer words — or a second press —
sends nothing twice and nothing the person did not see offered.
"""

from __future__ import annotations

import hashlib

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent, TextEvent
from bot.conversation.pipeline import Flows, Turn, centre_contact
from bot.conversation.replies import Block, Choice, Italic, Reply
from bot.i18n_marker import N_
from bot.services import questions
from handlers.help import turn_help

KEPT_WORDS = "question"
QUOTE_LENGTH = 200

NOT_UNDERSTOOD = N_("Sorry, I didn't understand that.")
OFFER = N_("If it is a question for the centre, I can send it to an officer, who will answer you here:")
SEND = N_("✉️ Send this as a question to the centre")
SENT = N_("✅ Your question was sent to the centre; the answer will come here.")
STALE = N_("That message is no longer waiting to be sent. Please type your question again.")


def fingerprint(words: str) -> str:
    return hashlib.sha256(words.encode()).hexdigest()[:12]


def _quote(words: str) -> str:
    return words if len(words) <= QUOTE_LENGTH else words[:QUOTE_LENGTH].rstrip() + "…"


async def offer(turn: Turn, action: Action) -> None:
    """What this person can do (the menu, with the centre's contact), and for words they typed the choice to
    send them to the centre as a question."""
    turn.add(await turn_help(turn, before=(Block(turn._(NOT_UNDERSTOOD)),)))
    words = questions.question_text(action.text) if isinstance(action, TextEvent) else None
    if words is None:
        return
    turn.keep[KEPT_WORDS] = words
    turn.add(Reply.of(Block(turn._(OFFER), "\n", Italic("“", _quote(words), "”")),
                      choices=[[Choice(turn._(SEND), A.QUESTION, fingerprint(words))]]))


async def send(turn: Turn, action: ChooseEvent) -> None:
    """"Send this as a question" chosen: the words kept from the last turn become an open question."""
    words = turn.kept.get(KEPT_WORDS)
    if turn.user is None or not isinstance(words, str) or fingerprint(words) != action.arg:
        turn.add(Reply.of(turn._(STALE), notice=True))
        return
    settings = turn.app.settings
    alert = questions.StaffAlert(staff=settings.staff_identities(), translate=turn.app.translate,
                                 default_locale=settings.default_locale, console_url=settings.public_base_url)
    await questions.ask(turn.session, clock=turn.app.clock, user=turn.user, role=turn.role,
                        channel=turn.who.channel, text=words, alert=alert)
    contact = centre_contact(turn._, turn.app.settings)
    turn.add(Reply.of(turn._(SENT), *([contact] if contact else []), replace_previous=True))


def register(flows: Flows) -> None:
    flows.action(A.QUESTION)(send)
