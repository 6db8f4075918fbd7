"""Inbound events, one type for every channel: who wrote, and what they did."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Who:
    """A person as one channel knows them. `external_id` is the channel's id as text (Telegram's
    numbers and Zalo's hex strings alike)."""

    channel: str
    external_id: str
    display_name: str = ""
    language: str | None = None

    @property
    def address(self) -> str:
        return f"{self.channel}:{self.external_id}"


@dataclass(frozen=True)
class TextEvent:
    text: str


@dataclass(frozen=True)
class CommandEvent:
    """`/name args` on any channel (and menu words mapped to a command by the adapter)."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class ChooseEvent:
    """A choice made by pressing a button or typing its number: an action id and its argument."""

    action: str
    arg: str = ""


@dataclass(frozen=True)
class ContactEvent:
    phone: str


@dataclass(frozen=True)
class MediaEvent:
    """A file the person sent, already kept in our media store under `ref`."""

    ref: str
    kind: str  # "photo" | "document"
    name: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class UnsupportedEvent:
    """Something the bot cannot use (a sticker, a location…): flows answer politely."""

    what: str = ""


Action = TextEvent | CommandEvent | ChooseEvent | ContactEvent | MediaEvent | UnsupportedEvent


@dataclass(frozen=True)
class Event:
    who: Who
    action: Action
