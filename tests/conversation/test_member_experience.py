"""What people see, on both renderers (issue 12): shortened labels keep what tells items apart, the
announcement form's summary shows staff's formatting as formatting, profile editing does not ask consent
again, and one date format."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.telegram_render import TelegramRenderer
from bot.clock import FakeClock
from bot.conversation.events import Who
from bot.conversation.form_view import shorten, step_replies
from bot.services import announcements as svc
from bot.services.forms import SUMMARY, ChoiceInput, TextInput
from bot.services.forms.definitions import FORMS
from bot.services.forms.engine import FormEngine
from storage.models import Facility, User
from tests.conftest import make_settings
from tests.conversation.test_announce_flows import staff_of
from tests.conversation.test_staff_flows import RENDERERS
from tests.conversation.test_typing_only import Phone

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




@pytest.mark.parametrize("renderer", RENDERERS)
async def test_the_announcement_summary_shows_staff_formatting_without_tags_or_entities(renderer: Any) -> None:
    """Staff's HTML in the announcement form's summary: formatted on Telegram, plain words elsewhere — never
    raw tags or "&amp;", also where a long text is cut (the cut falls inside a tag and an entity here)."""
    engine = FormEngine(FORMS, today=lambda: date(2026, 3, 2))
    state = engine.start("announce")
    await engine.answer(state, ChoiceInput("fair"))
    await engine.answer(state, TextInput("Hội chợ & OCOP 2026"))
    body = "Gian hàng " + "rất đẹp " * 35 + "<b>miễn phí</b> &amp; <i>có điện</i>"
    await engine.answer(state, TextInput(body))
    while engine.step(state).kind != SUMMARY:
        assert engine.skip(state) is not None or engine.step(state).kind == SUMMARY
    (reply,) = step_replies(engine, state, lambda m: m, renderer().caps)
    text = "\n".join(m.text for m in renderer().render(reply).messages)
    assert "&amp;amp;" not in text and "&lt;" not in text and "&am…" not in text
    if renderer is TelegramRenderer:
        assert "Hội chợ &amp; OCOP 2026" in text and "<b>Text:</b> Gian hàng rất đẹp" in text
        assert "<b>miễn phí</b>…" in text  # bold kept, cut after it
    else:
        assert "• Title: Hội chợ & OCOP 2026" in text and "<" not in text and "&amp;" not in text
        assert "miễn phí…" in text
    assert "có điện" not in text


async def test_editing_the_profile_by_typing_does_not_ask_consent_again(engine: AsyncEngine, clock: FakeClock) -> None:
    """On a text-only phone: /profile → Edit opens the facility's answers at their summary without the consent
    (given at registration); changing an answer and confirming saves it, consent never asked."""
    app = create_app(make_settings(), engine, clock=clock)
    lan = Phone(app.pipeline, Who("zalo", "b0b1b2b3", "Lan", "en"))
    await lan.type("chao")
    for answer in ("Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", "0912 345 678", "long xuyen"):
        await lan.type(answer)
    await lan.type(lan.number_of("Food processing"))
    await lan.type("nước mắm")
    assert "Do you agree?" in lan.last  # asked once, at registration
    await lan.type(lan.number_of("I agree"))
    assert "is registered" in await lan.type(lan.number_of("Confirm"))

    await lan.type("/profile")
    summary = await lan.type(lan.number_of("Edit"))
    assert "Please check your answers" in summary and "consent" not in summary.lower()
    menu = await lan.type(lan.number_of("Edit"))
    assert "Main products" in menu and "consent" not in menu.lower()
    await lan.type(lan.number_of("Main products"))
    back = await lan.type("nước mắm, mắm cá linh")
    assert "• Main products: nước mắm, mắm cá linh" in back and "agree" not in back.lower()
    assert "profile has been updated" in await lan.type(lan.number_of("Confirm"))
    async with app.session_maker() as s:
        (facility,) = (await s.exec(select(Facility))).all()
    assert facility.products == "nước mắm, mắm cá linh"
