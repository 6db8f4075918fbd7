"""Telegram updates → the one event type. A thin shim: it knows aiogram's types and nothing of the flows."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message
from aiogram.types import User as TgUser

from bot.channels.telegram_render import unpack_callback
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

CHANNEL = "telegram"
NAME_LIMIT = 120


def who_of(user: TgUser) -> Who:
    """The person, with a name fit for a column: printable characters only, bounded."""
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:NAME_LIMIT]
    return Who(CHANNEL, str(user.id), name, user.language_code)


def action_of_message(message: Message) -> Action:
    if message.chat.type != "private":
        return UnsupportedEvent("group")
    if message.text is not None:
        text = message.text
        if text.startswith("/") and len(text) > 1:
            head, _sep, args = text[1:].partition(" ")
            name = head.split("@", 1)[0]
            if name and name.isascii() and name.replace("_", "").isalnum():
                return CommandEvent(name.lower(), args.strip())
        return TextEvent(text)
    if message.contact is not None:
        # Only one's own contact counts as one's phone number (a forwarded card is someone else's).
        if message.from_user is not None and message.contact.user_id not in (None, message.from_user.id):
            return UnsupportedEvent("contact")
        return ContactEvent(message.contact.phone_number)
    if message.document is not None:
        return MediaEvent(f"tg:{message.document.file_id}", "document", message.document.file_name,
                          message.caption)
    if message.photo:
        return MediaEvent(f"tg:{message.photo[-1].file_id}", "photo", None, message.caption)
    return UnsupportedEvent(message.content_type)


def private(message: Message | None) -> bool:
    return message is not None and message.chat.type == "private"


def ignored(message: Message) -> bool:
    """A message the bot neither answers nor hands on: in a group, anything but a person's command (members
    talking among themselves, posts by bots and anonymous admins). Groups are never served."""
    if private(message):
        return False
    user = message.from_user
    return user is None or user.is_bot or not (message.text or "").startswith("/")


def event_of_message(message: Message) -> Event | None:
    if message.from_user is None or message.from_user.is_bot:
        return None
    return Event(who_of(message.from_user), action_of_message(message))


def event_of_callback(query: CallbackQuery) -> Event | None:
    if query.from_user.is_bot or query.data is None:
        return None
    if query.message is not None and not private(query.message):  # type: ignore[arg-type]
        return Event(who_of(query.from_user), UnsupportedEvent("group"))
    action, arg = unpack_callback(query.data)
    return Event(who_of(query.from_user), ChooseEvent(action, arg))
