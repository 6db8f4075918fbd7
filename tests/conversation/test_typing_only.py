"""Journeys on a text-only channel (Zalo): everything a button does on Telegram is done by typing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.text import TextRenderer
from bot.channels.zalo.inbound import command_or_text as text_event
from bot.clock import FakeClock
from bot.conversation.events import Event, Who
from bot.conversation.pipeline import Pipeline, flatten
from storage.models import Facility, Need
from tests.conftest import make_settings


class Phone:
    """A person typing on a text-only phone; `last` is what the bot last said."""

    def __init__(self, pipeline: Pipeline, who: Who) -> None:
        self.pipeline, self.who, self.last = pipeline, who, ""

    async def type(self, text: str) -> str:
        rendered = await self.pipeline.handle(Event(self.who, text_event(text)), TextRenderer())
        self.last = "\n---\n".join(m.text for m in flatten(rendered))
        return self.last

    def number_of(self, label: str) -> str:
        """The number shown in front of a line containing `label`."""
        for line in self.last.splitlines():
            number, dot, rest = line.partition(". ")
            if dot and number.isdigit() and label in rest:
                return number
        raise AssertionError(f"no numbered line with {label!r} in:\n{self.last}")


async def test_register_and_file_a_need_by_typing_only(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    lan = Phone(app.pipeline, Who("zalo", "a0b1c2d3", "Lan", "en"))
    assert "let's register your facility" in await lan.type("chao")
    await lan.type("Cơ sở nước mắm Hưng Thịnh")
    assert "phone number" in await lan.type("Nguyễn Thị Lan")
    assert "Type “cancel” to stop." in lan.last and "Share" not in lan.last.split("\n\n")[-1]
    await lan.type("0912 345 678")
    assert "Which sector" in await lan.type("long xuyen")
    assert lan.last.startswith("✓ Commune/ward: Phường Long Xuyên")  # what "long xuyen" was taken to mean
    await lan.type(lan.number_of("Food processing"))
    assert lan.last.startswith("✓ Sector: Food processing")
    await lan.type("nước mắm, khô cá")
    await lan.type(lan.number_of("I agree"))
    assert "Please check your answers" in lan.last and "• Commune/ward: Phường Long Xuyên" in lan.last
    assert "is registered" in await lan.type(lan.number_of("Confirm"))

    await lan.type("/need")
    await lan.type(lan.number_of("Training"))
    await lan.type("Cần tập huấn quản lý sản xuất")
    await lan.type("5/2026")
    assert "Type “skip” if you have none." in lan.last
    await lan.type("bỏ qua")
    assert "Please check your answers" in lan.last
    await lan.type(lan.number_of("Edit"))  # edit from the summary, by number
    await lan.type(lan.number_of("Description"))
    await lan.type("Cần tập huấn quản lý sản xuất và bán hàng online")
    assert "bán hàng online" in lan.last
    assert "NC-2026-" in await lan.type(lan.number_of("Confirm"))
    async with app.session_maker() as session:
        facility = (await session.exec(select(Facility))).one()
        need = (await session.exec(select(Need))).one()
    assert facility.name == "Cơ sở nước mắm Hưng Thịnh" and facility.phone == "+84912345678"
    assert need.description == "Cần tập huấn quản lý sản xuất và bán hàng online"


async def test_a_number_answer_is_an_answer_not_a_menu_choice(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    ba = Phone(app.pipeline, Who("zalo", "d4c3b2a1", "Ba", "en"))
    await ba.type("/start")
    assert "Type “cancel” to stop." in ba.last
    await ba.type("2")  # an answer, not a menu number: the form goes on to the next question
    assert "What is the owner's full name?" in ba.last
    await ba.type("huỷ")
    assert "Cancelled. Nothing was saved." in ba.last


async def test_forget_by_typing_mid_form_erases_the_account(engine: AsyncEngine, clock: FakeClock) -> None:
    from storage import repos
    from storage.models import Conversation, User

    app = create_app(make_settings(), engine, clock=clock)
    tu = Phone(app.pipeline, Who("zalo", "f0f1f2", "Tư", "en"))
    await tu.type("/start")
    await tu.type("Cơ sở bánh pía Tư Ký")  # a form is open
    assert "The form you have open will be closed too." in await tu.type("/forget")
    await tu.type(tu.number_of("No, keep it"))
    assert tu.last == "Nothing was deleted."
    await tu.type("/forget")
    assert "has been deleted" in await tu.type(tu.number_of("Yes, delete my data"))
    async with app.session_maker() as session:
        assert (await session.exec(select(User))).all() == []
        assert (await session.exec(select(Conversation))).all() == []
        assert await repos.pending_menu(session, channel="zalo", external_id="f0f1f2") == {}


async def test_forget_while_an_earlier_reply_waits_in_the_outbox_is_answered_at_once_and_leaves_no_chat_id(
        engine: AsyncEngine, clock: FakeClock) -> None:
    """An earlier reply could not be sent and waits in the outbox: /forget cancels and blanks it, so the
    confirmation does not queue behind it (with the erased person's chat id) but is sent at once."""
    from bot.conversation.replies import Reply
    from bot.services import outbox
    from storage.models import OutboxMessage, User

    app = create_app(make_settings(), engine, clock=clock)
    tu = Phone(app.pipeline, Who("zalo", "f0f1f2", "Tư", "en"))
    await tu.type("/start")
    await tu.type("Cơ sở bánh pía Tư Ký")
    await tu.type("/forget")
    async with app.session_maker() as session:
        user = (await session.exec(select(User))).one()
        outbox.queue_replies(session, clock=app.clock, channel="zalo", chat_id="f0f1f2", user_id=user.id,
                             replies=[(Reply.of("an earlier answer"), 0, None)])
        await session.commit()
    assert "has been deleted" in await tu.type(tu.number_of("Yes, delete my data"))
    async with app.session_maker() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert [(row.chat_id, row.status, row.text) for row in rows] == [("", "cancelled", "")]


async def test_needs_list_and_withdraw_in_vietnamese(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    nam = Phone(app.pipeline, Who("zalo", "c1c2c3", "Nam", "vi"))
    for answer in ("/start", "Cơ sở cơ khí Nam Tiến", "Trần Văn Nam", "0912 345 678", "long xuyen"):
        await nam.type(answer)
    await nam.type(nam.number_of("Cơ khí"))
    await nam.type("máy xay lúa")
    await nam.type(nam.number_of("Tôi đồng ý"))
    await nam.type(nam.number_of("Xác nhận"))
    await nam.type("/need")
    await nam.type(nam.number_of("Đào tạo"))
    for answer in ("Cần tập huấn an toàn lao động", "5/2026", "bỏ qua"):
        await nam.type(answer)
    await nam.type(nam.number_of("Xác nhận"))
    listing = await nam.type("/needs")
    assert listing.startswith("Nhu cầu của anh/chị") and "Rút lại NC-2026-0001" in listing
    await nam.type(nam.number_of("Rút lại"))
    assert "1. Có, rút lại" in nam.last


async def test_a_whole_journey_by_typing_only(engine: AsyncEngine, clock: FakeClock) -> None:
    """Registration, a machinery need, a sign-up with questions from an announcement's message, and /forget —
    on a text-only phone, by typing only."""
    from bot.channels.zalo.send import ZaloSender
    from bot.services import announcements
    from bot.services.outbox import OutboxWorker
    from storage.models import Signup, User
    from tests.delivery.test_outbox_replies import FakeZalo

    app = create_app(make_settings(), engine, clock=clock)
    lan = Phone(app.pipeline, Who("zalo", "a0b1c2d4", "Lan", "en"))
    await lan.type("hello")
    for answer in ("Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", "0912 345 678", "long xuyen"):
        await lan.type(answer)
    await lan.type(lan.number_of("Food processing"))
    await lan.type("nước mắm, khô cá")
    await lan.type(lan.number_of("I agree"))
    assert "is registered" in await lan.type(lan.number_of("Confirm"))

    await lan.type("/need")
    await lan.type(lan.number_of("machinery"))
    await lan.type("Cần máy chiết rót để đóng chai nhanh hơn")
    assert "Which machine" in lan.last
    assert "Estimated cost" in await lan.type("Máy chiết rót bán tự động")
    assert "own contribution" in await lan.type("150")
    await lan.type("45")
    await lan.type("cuối năm")
    await lan.type("bỏ qua")
    assert "• Machine/equipment: Máy chiết rót bán tự động" in lan.last
    assert "• Own contribution (million đồng): 45" in lan.last
    assert "NC-2026-" in await lan.type(lan.number_of("Confirm"))

    async with app.session_maker() as s:
        author = (await s.exec(select(User))).one()
        ann = await announcements.create(s, clock=clock, author=author, data={
            "kind": "fair", "title": "Hội chợ CNNT 2026", "body": "Gian hàng miễn phí.",
            "deadline_on": "2026-12-20", "questions": "Sản phẩm trưng bày?"})
        await announcements.start(s, clock=clock, ann_id=ann.id or 0, translate=app.translate, default_locale="vi")
        await s.commit()
        ann_id = ann.id or 0
    zalo = FakeZalo()
    await OutboxWorker(app.session_maker, {"zalo": ZaloSender(zalo)}, clock).deliver_due(drain=True)
    (received,) = [t for _c, t in zalo.sent]
    keyword = f"DK {ann_id}"
    assert keyword in received  # the message says what to type
    assert "Sản phẩm trưng bày?" in await lan.type(keyword.lower())
    await lan.type("Nước mắm cá cơm")
    await lan.type(lan.number_of("Confirm"))
    async with app.session_maker() as s:
        signup = (await s.exec(select(Signup))).one()
    assert signup.status == "signed_up" and list(signup.answers.values()) == ["Nước mắm cá cơm"]

    await lan.type("/forget")
    await lan.type(lan.number_of("Yes"))
    async with app.session_maker() as s:
        facility = (await s.exec(select(Facility))).one()
        need = (await s.exec(select(Need))).one()
        signup = (await s.exec(select(Signup))).one()
        people = (await s.exec(select(User))).all()
    assert people == [] and facility.phone is None and facility.owner_user_id is None
    # Free text is erased; the kind of machine stays for the centre's figures (it says nothing about a person).
    assert need.registrant_user_id is None and "chiết rót" not in need.description
    assert "Nước mắm cá cơm" not in str(signup.answers)
