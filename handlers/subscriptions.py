"""/subscriptions (announcement topics) and /stop (no announcements at all; /start turns them back on)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import KIND_LABELS, TOPICS
from bot.services import announcements as svc
from handlers.callbacks import TopicCb
from handlers.common import ensure_user
from handlers.keyboards import inline
from storage.models import User

router = Router(name="subscriptions")


def _topics_keyboard(user: User) -> InlineKeyboardMarkup:
    followed = set(user.topics) if user.topics is not None else {t.value for t in TOPICS}
    rows = [[(("✅ " if t.value in followed else "⬜ ") + _(KIND_LABELS[t]), TopicCb(topic=t.value).pack())]
            for t in TOPICS]
    rows.append([(_("Follow all"), TopicCb(topic="all").pack()), (_("Follow none"), TopicCb(topic="none").pack())])
    return inline(rows)


def _topics_text(user: User) -> str:
    text = _("<b>Announcement topics</b>\nPress a topic to follow or stop following it. "
             "General announcements and news about your own needs always arrive.")
    if user.announcements_off:
        text += "\n\n" + _("Announcements are turned off (/stop). Send /start to turn them back on.")
    return text


@router.message(Command("subscriptions"))
async def subscriptions(message: Message, app: AppContext, session: AsyncSession, user: User | None,
                        i18n: I18n) -> None:
    """/subscriptions: the topics this person follows, as toggles."""
    user = await ensure_user(message, app=app, session=session, user=user, tg_user=message.from_user,
                             locale=i18n.current_locale)
    await message.answer(_topics_text(user), reply_markup=_topics_keyboard(user))


@router.callback_query(TopicCb.filter())
async def toggle_topic(query: CallbackQuery, callback_data: TopicCb, app: AppContext, session: AsyncSession,
                       user: User | None, i18n: I18n) -> None:
    """A topic toggle under /subscriptions."""
    user = await ensure_user(query.message, app=app, session=session, user=user, tg_user=query.from_user,
                             locale=i18n.current_locale)
    everything = [t.value for t in TOPICS]
    followed = list(user.topics) if user.topics is not None else everything
    topic = callback_data.topic
    if topic == "all":
        followed = everything
    elif topic == "none":
        followed = []
    elif topic in everything:
        followed = [t for t in followed if t != topic] if topic in followed else [*followed, topic]
    else:
        await query.answer(_("This button is no longer active."))
        return
    await svc.set_topics(session, clock=app.clock, user=user, topics=None if set(followed) == set(everything)
                         else sorted(followed))
    await query.answer(_("Saved."))
    await query.message.edit_text(_topics_text(user), reply_markup=_topics_keyboard(user))


@router.message(Command("stop"))
async def stop(message: Message, app: AppContext, session: AsyncSession, user: User | None, i18n: I18n) -> None:
    """/stop: no more announcements; the bot keeps working for this person."""
    user = await ensure_user(message, app=app, session=session, user=user, tg_user=message.from_user,
                             locale=i18n.current_locale)
    await svc.set_announcements_off(session, clock=app.clock, user=user, off=True)
    await message.answer(_("You will no longer receive announcements. Replies about your own needs still arrive. "
                           "Send /start to turn announcements back on."))
