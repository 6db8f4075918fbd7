"""Signing up for an announcement on both renderers: by typing only on a text channel ("DK 12", then the
answers), by buttons on Telegram; a sign-up is never erased silently, and cancelling it is confirmed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.text import TextRenderer
from bot.channels.zalo.send import ZaloSender
from bot.clock import FakeClock
from bot.conversation.events import Event, TextEvent, Who
from bot.conversation.pipeline import flatten
from bot.services import announcements
from bot.services.outbox import OutboxWorker
from storage.models import Announcement, Signup, User
from tests.conftest import ChatHarness, make_settings
from tests.delivery.test_outbox_replies import FakeZalo
from tests.updates.test_announcements import STAFF, compose, people

LAN_ZALO = Who("zalo", "lan-zalo-1", "Lan", "vi")


async def signup_of(app, user_id: int, ann_id: int) -> Signup | None:
    async with app.session_maker() as s:
        return (await s.exec(select(Signup).where(Signup.user_id == user_id, Signup.announcement_id == ann_id))).first()


async def test_signing_up_with_questions_by_typing_only(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    async with app.session_maker() as s:
        lan = User(channel="zalo", external_id=LAN_ZALO.external_id, locale="vi", created_at=clock.now(),
                   updated_at=clock.now())
        s.add(lan)
        await s.flush()
        ann = await announcements.create(s, clock=clock, author=lan, data={
            "kind": "fair", "title": "Hội chợ <CNNT> 2026", "body": "Gian hàng miễn phí.",
            "deadline_on": "2026-03-20", "questions": "Sản phẩm trưng bày?\nCần mấy gian hàng?"})
        await announcements.start(s, clock=clock, ann_id=ann.id or 0, translate=app.translate, default_locale="vi")
        await s.commit()
        ann_id, lan_id = ann.id or 0, lan.id or 0
    zalo = FakeZalo()
    await OutboxWorker(app.session_maker, {"zalo": ZaloSender(zalo)}, clock).deliver_due(drain=True)
    (received,) = [t for _c, t in zalo.sent]
    assert f"Để đăng ký, nhắn: DK {ann_id}" in received

    async def say(text: str) -> str:
        return "\n---\n".join(m.text for m in flatten(await app.pipeline.handle(Event(LAN_ZALO, TextEvent(text)),
                                                                              TextRenderer())))
    first = await say(f"đk {ann_id}")  # typed with its accent, lower case
    assert first.startswith("Đăng ký tham gia “Hội chợ <CNNT> 2026”.\n\nSản phẩm trưng bày?")
    assert (await say("Nước mắm")).startswith("Cần mấy gian hàng?")
    summary = await say("2")
    assert "• Cần mấy gian hàng?: 2" in summary and "1. ✅ Xác nhận" in summary
    done = await say("1")
    assert done.startswith("✅ Anh/chị đã đăng ký tham gia “Hội chợ <CNNT> 2026”.") and "1. Hủy đăng ký" in done
    # Each answer under its question, as the person gave it.
    assert "Câu trả lời của anh/chị:\n  Sản phẩm trưng bày?\n  → Nước mắm\n  Cần mấy gian hàng?\n  → 2" in done
    signup = await signup_of(app, lan_id, ann_id)
    assert signup is not None and signup.status == "signed_up"
    assert list(signup.answers.values()) == ["Nước mắm", "2"]
    again = await say(f"dang ky {ann_id}")
    assert again.startswith("Anh/chị đã đăng ký “Hội chợ <CNNT> 2026” rồi.")
    assert "1. ✏️ Sửa câu trả lời" in again and "2. Hủy đăng ký" in again
    assert (await say("1")).startswith("Đăng ký tham gia")  # change my answers: the questions again
    assert (await say("hủy")).startswith("Đã hủy. Anh/chị vẫn đăng ký, với các câu trả lời trước.")
    signup = await signup_of(app, lan_id, ann_id)
    assert signup.status == "signed_up" and list(signup.answers.values()) == ["Nước mắm", "2"]
    assert "2. Hủy đăng ký" in await say(f"DK{ann_id}")
    asked = await say("2")
    assert asked.startswith("Hủy đăng ký “Hội chợ <CNNT> 2026”?") and "1. Có, hủy" in asked
    assert (await signup_of(app, lan_id, ann_id)).status == "signed_up"  # nothing changes before the answer
    assert (await say("1")) == "Đã hủy đăng ký “Hội chợ <CNNT> 2026”."
    assert (await signup_of(app, lan_id, ann_id)).status == "declined"


async def test_on_telegram_not_interested_never_erases_a_sign_up(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat, questions=None)
    await chat.press(STAFF, f"an:tc:{ann_id}:")
    await chat.deliver()
    test_copy = chat.last(STAFF)
    assert test_copy.text.startswith("🧪 Test copy") and test_copy.buttons()[0][1] == f"ar:pv:{ann_id}"
    calls = await chat.press(STAFF, f"ar:pv:{ann_id}")
    assert calls[0].params["text"] == "This is only a preview: its buttons do nothing."
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    owner = who["owner_cd"]  # English
    calls = await chat.press(owner, f"ar:s:{ann_id}")
    signed = calls[-1]
    assert signed.text.startswith("✅ You are signed up for “Hội chợ CNNT Vĩnh Long 2026”.")
    assert [t for t, _d in signed.buttons()] == ["Cancel my sign-up"]  # instead of both buttons
    async with chat.app.session_maker() as s:
        user = (await s.exec(select(User).where(User.external_id == str(owner.id)))).one()
    calls = await chat.press(owner, f"ar:n:{ann_id}")  # the old message's "Not interested"
    assert calls[-1].text.startswith("You are already signed up for “Hội chợ CNNT Vĩnh Long 2026”.")
    assert (await signup_of(chat.app, user.id, ann_id)).status == "signed_up"
    calls = await chat.press(owner, f"ar:c:{ann_id}")
    assert [d for _t, d in calls[-1].buttons()] == [f"ar:cy:{ann_id}", f"ar:ck:{ann_id}"]
    calls = await chat.press(owner, f"ar:ck:{ann_id}")
    assert "stands" in calls[-1].text and (await signup_of(chat.app, user.id, ann_id)).status == "signed_up"
    await chat.press(owner, f"ar:cy:{ann_id}")
    assert (await signup_of(chat.app, user.id, ann_id)).status == "declined"


async def test_past_the_capacity_a_sign_up_waits_with_its_number_and_moves_up_when_a_place_frees(
        chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat, questions=None, capacity="1")  # one place, typed in the announce form
    async with chat.app.session_maker() as s:
        assert (await s.get(Announcement, ann_id)).capacity == 1
    await chat.press(STAFF, f"an:tc:{ann_id}:")
    await chat.deliver()
    await chat.press(STAFF, f"ar:pv:{ann_id}")  # a test copy's button: inert, takes no place
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(Signup))).all() == []
    bay, lan = who["owner_cd"], who["owner_lx"]  # English, Vietnamese
    assert (await chat.press(bay, f"ar:s:{ann_id}"))[-1].text.startswith(
        "✅ You are signed up for “Hội chợ CNNT Vĩnh Long 2026”.")
    waiting = (await chat.press(lan, f"ar:s:{ann_id}"))[-1]
    assert waiting.text == ("⏳ “Hội chợ CNNT Vĩnh Long 2026” đã đủ suất nên anh/chị được xếp vào danh sách chờ: "
                            "số 1. Khi có suất trống, chúng tôi sẽ báo anh/chị tại đây.")
    assert [t for t, _d in waiting.buttons()] == ["Hủy đăng ký"]
    again = (await chat.press(lan, f"ar:s:{ann_id}"))[-1]
    assert again.text.startswith("Anh/chị đã đăng ký “Hội chợ CNNT Vĩnh Long 2026” rồi và đang ở danh sách chờ: số 1.")
    listing = (await chat.press(STAFF, f"an:su:{ann_id}:"))[-1].text  # staff's list in the chat
    assert "Places: 1 of 1 taken, 1 on the waiting list." in listing
    assert "Xưởng cơ khí Minh Phát</b> 0912 345 678 — Registered\n" in listing
    assert "Cơ sở nước mắm Hưng Thịnh</b> 0912 345 678 — Registered · waiting list: number 1" in listing
    await chat.press(bay, f"ar:cy:{ann_id}")  # a place frees
    await chat.deliver()
    assert chat.last(lan).text.startswith(
        "<b>🎉 Đã có suất trống: anh/chị đã có suất tham gia “Hội chợ CNNT Vĩnh Long 2026”.</b>")
    assert (await chat.press(lan, f"ar:s:{ann_id}"))[-1].text.startswith(
        "Anh/chị đã đăng ký “Hội chợ CNNT Vĩnh Long 2026” rồi.")
