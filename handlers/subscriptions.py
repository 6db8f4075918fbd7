"""/subscriptions (announcement topics) and /stop (no announcements at all; /start turns them back on).

Channel-neutral flows: they take an event and add replies; the pipeline renders them as buttons on
Telegram and as numbered lines on a text channel.
"""

from __future__ import annotations

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Bold, Choice, Reply
from bot.domain import KIND_LABELS, TOPICS
from bot.i18n_marker import N_
from bot.services import accounts
from bot.services import announcements as svc
from storage.models import User

ALL, NONE = "all", "none"


def topics_reply(turn: Turn, user: User, *, replace: bool = False) -> Reply:
    _ = turn._
    followed = set(user.topics) if user.topics is not None else {t.value for t in TOPICS}
    rows = [[Choice(("✅ " if t.value in followed else "⬜ ") + _(KIND_LABELS[t]), A.TOPIC, t.value)]
            for t in TOPICS]
    rows.append([Choice(_("Follow all"), A.TOPIC, ALL), Choice(_("Follow none"), A.TOPIC, NONE)])
    blocks = [Block(Bold(_("Announcement topics"))),
              Block(_("Choose a topic to follow it or to stop following it. General announcements and news "
                      "about your own needs always arrive."))]
    if user.announcements_off:
        blocks.append(Block(_("Announcements are turned off (/stop). Send /start to turn them back on.")))
    return Reply.of(*blocks, choices=rows, replace_previous=replace)


async def _person(turn: Turn) -> User:
    if turn.user is not None:
        return turn.user
    # Nothing personal before consent: the channel's id and the language only (see accounts.first_contact).
    turn.user = await accounts.first_contact(
        turn.session, clock=turn.app.clock, channel=turn.who.channel, external_id=turn.who.external_id,
        locale=turn.locale)
    return turn.user


async def subscriptions(turn: Turn, action: Action) -> None:
    """/subscriptions: the topics this person follows, as toggles."""
    turn.add(topics_reply(turn, await _person(turn)))


async def toggle_topic(turn: Turn, action: ChooseEvent) -> None:
    """A topic toggle, "follow all" or "follow none"."""
    user = await _person(turn)
    everything = [t.value for t in TOPICS]
    followed = list(user.topics) if user.topics is not None else everything
    if action.arg == ALL:
        followed = everything
    elif action.arg == NONE:
        followed = []
    elif action.arg in everything:
        followed = [t for t in followed if t != action.arg] if action.arg in followed else [*followed, action.arg]
    else:
        turn.say(turn._(STALE), notice=True)
        return
    await svc.set_topics(turn.session, clock=turn.app.clock, user=user,
                         topics=None if set(followed) == set(everything) else sorted(followed))
    turn.say(turn._("Saved."), notice=True)
    turn.add(topics_reply(turn, user, replace=True))


async def stop(turn: Turn, action: Action) -> None:
    """/stop: no more announcements; the bot keeps working for this person."""
    await svc.set_announcements_off(turn.session, clock=turn.app.clock, user=await _person(turn), off=True)
    turn.say(turn._("You will no longer receive announcements. Replies about your own needs still arrive. "
                    "Send /start to turn announcements back on."))


STALE = N_("This button is no longer active.")


def register(flows: Flows) -> None:
    flows.command("subscriptions")(subscriptions)
    flows.command("stop")(stop)
    flows.action(A.TOPIC)(toggle_topic)
