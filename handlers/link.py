"""/link (and "liên kết"): one person on several channels.

On the first channel `/link` shows a one-time code; on the other, `/link CODE` (or "liên kết CODE")
attaches that channel's account to the person, who then finds their facility, needs and settings there.
"""

from __future__ import annotations

from bot.conversation.events import Action, CommandEvent
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Bold, Code, Reply
from bot.services import accounts, linking
from bot.services.linking import LinkResult, Outcome

CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo"}
LINK_WORDS = ("lien ket", "link")


async def link(turn: Turn, action: Action) -> None:
    """`/link` alone shows a code to type on the other channel; `/link CODE` uses one."""
    code = action.args.strip() if isinstance(action, CommandEvent) else ""
    if code:
        await use_code(turn, code)
    else:
        await show_code(turn)


async def show_code(turn: Turn) -> None:
    _ = turn._
    if turn.user is None:
        # Nothing personal: the channel's id and the language only (see accounts.first_contact).
        turn.user = await accounts.first_contact(turn.session, clock=turn.app.clock, channel=turn.who.channel,
                                                 external_id=turn.who.external_id, locale=turn.locale)
    code, expires_at = await linking.new_code(turn.session, clock=turn.app.clock, user=turn.user)
    until = expires_at.astimezone(turn.app.tz).strftime("%H:%M")
    turn.add(Reply.of(
        Block(Bold(_("Use the bot on another channel too"))),
        Block(_("To use your account on your other channel (Telegram or Zalo) too, send this message to the "
                "bot there:")),
        Block(Code(f"/link {code}")),
        Block(_("or type: liên kết {code}").format(code=code)),
        Block(_("The code works once, until {time} (15 minutes). Your facility, needs and settings will then be "
                "the same on both channels. Do not give this code to anyone: whoever types it gets your "
                "account.").format(time=until)),
    ))


async def use_code(turn: Turn, code: str) -> None:
    result = await linking.link(turn.session, clock=turn.app.clock, who=(turn.who.channel, turn.who.external_id),
                                raw_code=code, notify=turn.app.settings.notify_identity)
    if result.person is not None and result.outcome in (Outcome.LINKED, Outcome.MERGED):
        turn.user, turn.conversation, turn.locale = result.person, None, result.person.locale
    turn.say(_outcome_text(turn, result))


def _outcome_text(turn: Turn, result: LinkResult) -> str:
    _ = turn._
    channel = CHANNEL_NAMES.get(turn.who.channel, turn.who.channel)
    if result.outcome is Outcome.LINKED:
        return _("Done: this {channel} account is now linked to your account. Your facility, needs and settings "
                 "are here too; notifications come to the channel you used last. Send /help to see what you can "
                 "do.").format(channel=channel)
    if result.outcome is Outcome.MERGED:
        return _("Done: this {channel} account is now linked to your account. The empty profile it had here "
                 "(nothing registered) was removed. Your facility, needs and settings are here now; "
                 "notifications come to the channel you used last. Send /help to see what you can "
                 "do.").format(channel=channel)
    if result.outcome is Outcome.SAME:
        return _("This {channel} account is already linked to your account: nothing was changed.").format(
            channel=channel)
    if result.outcome is Outcome.HAS_DATA:
        return _("This {channel} account already has data of its own (a registered facility, needs, sign-ups, "
                 "reports or a role), so it was not linked and nothing was changed. You can keep using both "
                 "accounts separately, or delete this one's data with /forget and then type the code again "
                 "(it stays valid for 15 minutes).").format(channel=channel)
    if result.outcome is Outcome.LOCKED:
        until = result.retry_at.astimezone(turn.app.tz).strftime("%H:%M") if result.retry_at else "—"
        return _("Too many wrong codes. To protect your account, codes typed here are not checked until "
                 "{time}. Please try again then.").format(time=until)
    return _("This code is not valid: it may be mistyped, already used or expired (a code works once, for 15 "
             "minutes). Send /link on your other channel to get a new one. Tries left: {left}.").format(
        left=result.tries_left)


def register(flows: Flows) -> None:
    flows.command("link")(link)
    for word in LINK_WORDS:
        flows.words[word] = "link"
        flows.arg_words[word] = "link"
