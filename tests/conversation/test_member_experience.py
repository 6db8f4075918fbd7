"""What people see, on both renderers (issue 12): shortened labels keep what tells items apart, the
announcement form's summary shows staff's formatting as formatting, profile editing does not ask consent
again, and one date format."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.clock import FakeClock
from bot.conversation.form_view import shorten
from bot.services import announcements as svc
from storage.models import User
from tests.conversation.test_announce_flows import staff_of
from tests.conversation.test_staff_flows import RENDERERS

LONG_TITLE = "Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh năm 2026"


def test_a_shortened_label_ends_with_an_ellipsis_and_keeps_the_year_or_code() -> None:
    assert shorten(LONG_TITLE, 40) == "Bình chọn sản phẩm CNNT tiêu… (2026)"
    assert shorten("NC-2026-0052 · Đã tiếp nhận · Cơ sở nước mắm Hưng Thịnh Long Xuyên", 40) == \
        "NC-2026-0052 · Đã tiếp nhận · Cơ sở…"  # the code is at the start: kept as it is
    assert shorten("Hội chợ", 40) == "Hội chợ"
    assert all(len(shorten(LONG_TITLE + " bis" * n, 40)) <= 40 for n in range(10))


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_broadcasts_list_shortens_a_long_title_keeping_its_year(sqlite_engine: AsyncEngine, clock: FakeClock,
                                                                      renderer: Any) -> None:
    staff = await staff_of(sqlite_engine, clock, renderer)
    async with staff.app.session_maker() as s:
        author = (await s.exec(select(User).where(User.role == "staff"))).first()
        for year in (2025, 2026):
            await svc.create(s, clock=clock, author=author, data={
                "kind": "competition", "title": LONG_TITLE.replace("2026", str(year)), "body": "Thể lệ."})
        await s.commit()
    await staff.send("/broadcasts")
    assert staff.has_choice("Bình chọn sản phẩm CNNT tiêu… (2025)")
    assert staff.has_choice("Bình chọn sản phẩm CNNT tiêu… (2026)")
    assert "cấp tỉ\n" not in staff.text and not staff.text.rstrip().endswith("cấp tỉ")


