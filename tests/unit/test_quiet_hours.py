"""The quiet-hours rule (bot/services/announcements.QuietHours) at its boundaries, across midnight and in local
time stored as UTC; and when a broadcast's size needs confirming."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.services.announcements import QuietHours, needs_confirmation

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NIGHT = QuietHours(time(21, 0), time(7, 0))


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=HCM)


@pytest.mark.parametrize(("at", "quiet", "allowed"), [
    (local(2, 20, 59), False, local(2, 20, 59)),
    (local(2, 21, 0), True, local(3, 7, 0)),
    (local(2, 23, 59), True, local(3, 7, 0)),
    (local(3, 0, 0), True, local(3, 7, 0)),  # past midnight: the same morning
    (local(3, 2, 10), True, local(3, 7, 0)),
    (local(3, 6, 59), True, local(3, 7, 0)),
    (local(3, 7, 0), False, local(3, 7, 0)),
    (local(3, 12, 0), False, local(3, 12, 0)),
])
def test_quiet_hours_and_the_next_allowed_time(at: datetime, quiet: bool, allowed: datetime) -> None:
    assert NIGHT.contains(at) is quiet
    assert NIGHT.next_allowed(at) == allowed
    assert NIGHT.next_allowed(at).tzinfo is HCM
    assert not NIGHT.contains(NIGHT.next_allowed(at))


def test_the_next_morning_in_utc_crosses_the_date_line_back() -> None:
    """02:10 local on 3 March is 19:10 UTC on 2 March; the 07:00 that follows is 00:00 UTC on 3 March."""
    chosen = datetime(2026, 3, 2, 19, 10, tzinfo=UTC).astimezone(HCM)
    assert NIGHT.contains(chosen)
    assert NIGHT.next_allowed(chosen).astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    evening = datetime(2026, 3, 2, 14, 0, tzinfo=UTC).astimezone(HCM)  # 21:00 local
    assert NIGHT.next_allowed(evening).astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


def test_quiet_hours_within_one_day_and_none_at_all() -> None:
    siesta = QuietHours(time(12, 0), time(13, 30))
    assert not siesta.contains(local(2, 11, 59)) and siesta.contains(local(2, 12, 0))
    assert siesta.next_allowed(local(2, 13, 29)) == local(2, 13, 30) and not siesta.contains(local(2, 13, 30))
    assert siesta.next_allowed(local(2, 22, 0)) == local(2, 22, 0)
    never = QuietHours(time(0, 0), time(0, 0))  # QUIET_START = QUIET_END (the e2e harness)
    assert not any(never.contains(local(2, h, m)) for h in range(24) for m in (0, 59))
    assert NIGHT.label() == "21:00–07:00"


def test_more_than_the_threshold_needs_confirming() -> None:
    assert not needs_confirmation(500, above=500)
    assert needs_confirmation(501, above=500)
    assert not needs_confirmation(0, above=0) and needs_confirmation(1, above=0)
