"""The facility's own contribution (vốn đối ứng) to a machine: asked after the estimated cost, typed on Zalo
or answered with Telegram's buttons, refused above the cost without losing an answer, shown to staff."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.clock import FakeClock
from bot.conversation.events import Who
from storage.models import Conversation, Need
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb, make_settings, register_facility
from tests.conversation.test_typing_only import Phone

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def _register_by_typing(lan: Phone) -> None:
    await lan.type("chào")
    for answer in ("Cơ sở cơ khí Nam Tiến", "Trần Văn Nam", "0912 345 678", "long xuyen"):
        await lan.type(answer)
    await lan.type(lan.number_of("Cơ khí"))
    await lan.type("máy xay lúa")
    await lan.type(lan.number_of("Tôi đồng ý"))
    await lan.type(lan.number_of("Xác nhận"))


async def test_typed_in_vietnamese_refused_above_the_cost_then_filed(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    nam = Phone(app.pipeline, Who("zalo", "a0b1c2d5", "Nam", "vi"))
    await _register_by_typing(nam)
    await nam.type("/need")
    await nam.type(nam.number_of("Máy móc thiết bị"))
    await nam.type("Cần máy sấy lúa để giảm hao hụt")
    await nam.type("Máy sấy lúa 10 tấn/mẻ")
    asked = await nam.type("150")
    assert "cơ sở tự chi trả (vốn đối ứng) bao nhiêu triệu đồng" in asked
    assert "Gõ “bỏ qua” nếu không có." in asked  # it can be skipped by typing

    refused = await nam.type("200")
    assert refused.startswith("⚠️ Vốn đối ứng anh/chị vừa nhập (200 triệu đồng) lớn hơn kinh phí dự kiến "
                              "(150 triệu đồng). Vui lòng nhập số tiền từ 0 đến 150 triệu đồng, "
                              "hoặc bỏ qua câu hỏi này.")
    assert "vốn đối ứng" in refused.split("\n\n", 1)[1]  # the question is asked again
    async with app.session_maker() as s:
        conv = (await s.exec(select(Conversation))).one()
    assert conv.step == "own_contribution"  # nothing answered before is lost
    assert (conv.data["description"], conv.data["machine"], conv.data["est_cost"]) == (
        "Cần máy sấy lúa để giảm hao hụt", "Máy sấy lúa 10 tấn/mẻ", "150.00")

    assert "tháng/năm" in await nam.type("45 triệu")
    await nam.type("12/2026")
    summary = await nam.type("bỏ qua")
    assert "• Kinh phí dự kiến (triệu đồng): 150\n• Vốn đối ứng (triệu đồng): 45\n" in summary
    assert "NC-2026-0001" in await nam.type(nam.number_of("Xác nhận"))
    async with app.session_maker() as s:
        need = (await s.exec(select(Need))).one()
    assert (need.est_cost_million, need.own_contribution_million) == (Decimal("150.00"), Decimal("45.00"))


async def _machinery_to_own_contribution(chat: ChatHarness, p: Person) -> None:
    await register_facility(chat, p)
    await chat.send(p, "/need")
    await chat.press(p, form_cb("c", "need", "category", "machinery"))
    await chat.send(p, "Mở rộng sản xuất nước mắm")
    await chat.send(p, "Máy chiết rót")
    calls = await chat.send(p, "80")
    assert "own contribution" in calls[-1].text and "Skip" in str(calls[-1].buttons())


async def test_telegram_none_given_zero_and_an_amount(chat: ChatHarness) -> None:
    """Skipped: nothing stored and no line for staff; 0 is an answer (the facility pays nothing)."""
    for person_id, answer, stored, shown in ((5101, None, None, "—"), (5102, "0", Decimal("0.00"), "0"),
                                             (5103, "80", Decimal("80.00"), "80")):
        p = Person(person_id, language_code=EN)
        await _machinery_to_own_contribution(chat, p)
        if answer is None:
            await chat.press_button(p, "Skip")
        else:
            await chat.send(p, answer)
        await chat.send(p, "5/2026")
        calls = await chat.press(p, form_cb("s", "need", "attachment"))
        assert f"<b>Own contribution (million đồng):</b> {shown}\n" in calls[-1].text
        await chat.press(p, form_cb("ok", "need", "__summary__"))
        async with chat.app.session_maker() as s:
            need = (await s.exec(select(Need).order_by(Need.id.desc()))).first()  # type: ignore[union-attr]
        assert need is not None and need.own_contribution_million == stored

        await chat.send(STAFF, "/start")
        detail = (await chat.press(STAFF, f"ib.o:{need.id}||||"))[-1].text
        assert ("Own contribution:" in detail) is (stored is not None)
        if stored is not None:
            assert f"Own contribution: {shown} million đồng" in detail


async def test_telegram_a_lower_cost_is_refused_while_the_contribution_stands(chat: ChatHarness) -> None:
    p = Person(5104, language_code=EN)
    await _machinery_to_own_contribution(chat, p)
    await chat.send(p, "60")
    await chat.send(p, "5/2026")
    await chat.press(p, form_cb("s", "need", "attachment"))
    await chat.press(p, form_cb("ed", "need", "__summary__"))
    await chat.press_button(p, "Estimated cost")
    calls = await chat.send(p, "50")
    assert calls[-1].text.startswith(
        "⚠️ The estimated cost you typed, 50 million đồng, is less than the facility's own contribution "
        "(60 million đồng). Please type at least 60 million đồng, or go back and change the own contribution first.")
    calls = await chat.press_button(p, "Back")
    summary = calls[-1].text
    assert "<b>Estimated cost (million đồng):</b> 80\n" in summary  # the old cost is back
    assert "<b>Own contribution (million đồng):</b> 60\n" in summary
    await chat.press(p, form_cb("ok", "need", "__summary__"))
    async with chat.app.session_maker() as s:
        need = (await s.exec(select(Need))).one()
    assert (need.est_cost_million, need.own_contribution_million) == (Decimal("80.00"), Decimal("60.00"))
