"""App-wide objects, built once by the factory and handed to handlers as a Dispatcher kwarg."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.services.communes import CommuneDirectory, CommuneLookup
from bot.services.forms.engine import FormEngine

if TYPE_CHECKING:
    from bot.conversation.pipeline import Pipeline
    from bot.i18n import I18n
    from bot.media import MediaStore
    from bot.services.outbox import OutboxWorker
    from bot.services.throttle import Throttle


@dataclass
class AppContext:
    settings: Settings
    clock: Clock
    session_maker: async_sessionmaker[AsyncSession]
    i18n: I18n
    communes: CommuneDirectory
    forms: FormEngine
    outbox: OutboxWorker | None = None
    pipeline: Pipeline | None = None
    media: MediaStore | None = None  # files people send, kept under our own ids
    # The per-person flood throttle (bot/services/throttle.py), made by the channels' wiring (`throttle_of`);
    # None: no throttle (tests of other things).
    throttle: Throttle | None = None
    # The Telegram bot's @username, for deep links (known once the bot has asked Telegram who it is).
    bot_username: str | None = None
    commune_lookup: CommuneLookup = field(init=False)

    def __post_init__(self) -> None:
        self.commune_lookup = CommuneLookup(self.communes)

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()

    def translate(self, msgid: str, locale: str) -> str:
        """Translate for someone other than the current reader (e.g. a notification)."""
        return self.i18n.gettext(msgid, locale=locale)
