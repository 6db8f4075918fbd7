"""How many messages the bot sent on each channel this month, against the channel's monthly quota.

Zalo's free plan is reported (by a third party; Zalo's documents say nothing) to allow about 3,000 messages
a month: ZALO_MONTHLY_QUOTA. Every message counts — replies and what the outbox sends, each part of a long
text and each photo — in the local calendar month. Telegram has no quota; its figure is shown for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import repos

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def month_key(moment: datetime, tz: ZoneInfo = LOCAL) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")


@dataclass(frozen=True)
class Usage:
    channel: str
    month: str
    sent: int
    quota: int  # 0: no quota

    @property
    def left(self) -> int | None:
        return None if not self.quota else max(0, self.quota - self.sent)


async def record(session: AsyncSession, *, channel: str, moment: datetime, messages: int,
                 tz: ZoneInfo = LOCAL) -> None:
    """Count messages sent (in the caller's transaction)."""
    await repos.count_sent(session, channel=channel, month=month_key(moment, tz), messages=messages)


async def of_month(session: AsyncSession, *, channel: str, moment: datetime, quota: int,
                   tz: ZoneInfo = LOCAL) -> Usage:
    month = month_key(moment, tz)
    return Usage(channel, month, await repos.sent_in_month(session, channel=channel, month=month), quota)
