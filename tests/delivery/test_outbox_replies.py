"""Outbox rows hold neutral replies, rendered for the recipient's channel when they are sent."""

from sqlmodel import select

from bot.channels.zalo.send import ZaloSender
from bot.clock import FakeClock
from bot.domain import Role
from bot.services import announcements
from bot.services.outbox import OutboxWorker
from storage.db import create_session_maker
from storage.models import OutboxMessage, User
from tests.conftest import make_settings

TITLE = "Hội chợ <2026> & làng nghề"


class FakeZalo:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_message(self, chat_id: str, text: str) -> None:
        self.sent.append((chat_id, text))


async def broadcast(engine, clock: FakeClock, people: list[tuple[str, str, Role]]) -> int:
    """A fair (sign-up kind) with a title holding "<" and "&", sent to (channel, external id, role)."""
    from bot.app import create_app

    app = create_app(make_settings(), engine, clock=clock)
    async with app.session_maker() as s:
        users = [User(channel=channel, external_id=ext, role=role, locale="vi", created_at=clock.now(),
                      updated_at=clock.now()) for channel, ext, role in people]
        s.add_all(users)
        await s.flush()
        ann = await announcements.create(s, clock=clock, author=users[0], data={
            "kind": "fair", "title": TITLE, "body": "Gian hàng <b>miễn phí</b> cho cơ sở."})
        await announcements.start(s, clock=clock, ann_id=ann.id or 0, translate=app.translate, default_locale="vi")
        await s.commit()
    return ann.id or 0


async def test_a_broadcast_renders_as_html_with_buttons_on_telegram(engine, clock, sandbox, telegram) -> None:
    ann_id = await broadcast(engine, clock, [("telegram", "4001", Role.USER), ("telegram", "4002", Role.COLLABORATOR)])
    sandbox.user(4001), sandbox.user(4002)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": telegram}, clock)
    await worker.deliver_due(drain=True)
    (msg,) = sandbox.bot_messages(4001)
    assert "<b>Hội chợ &lt;2026&gt; &amp; làng nghề</b>" in msg["text"]  # the title escaped by construction
    assert "<b>miễn phí</b>" in msg["text"]  # the staff's own formatting kept
    rows = [[b["callback_data"] for b in row] for row in msg["reply_markup"]["inline_keyboard"]]
    assert rows == [[f"ar:s:{ann_id}", f"ar:n:{ann_id}"]]
    (ctv,) = sandbox.bot_messages(4002)
    assert [b["callback_data"] for b in ctv["reply_markup"]["inline_keyboard"][1]] == [f"ar:sh:{ann_id}"]
    async with create_session_maker(engine)() as s:
        stored = (await s.exec(select(OutboxMessage).where(OutboxMessage.chat_id == "4001"))).one()
    assert stored.status == "sent" and TITLE in stored.text and "<b>" not in stored.text  # plain words for staff


async def test_a_row_queued_before_replies_still_sends_on_telegram(engine, clock, sandbox, telegram) -> None:
    sandbox.user(4003)
    async with create_session_maker(engine)() as s:
        s.add(OutboxMessage(channel="telegram", chat_id="4003", kind="announcement", text="Tin <b>cũ</b> &amp; nút",
                            payload={"parse_mode": "HTML", "buttons": [[{"text": "✅ Đăng ký", "data": "ar:s:7"}]]},
                            status="pending", next_attempt_at=clock.now(), created_at=clock.now()))
        await s.commit()
    await OutboxWorker(create_session_maker(engine), {"telegram": telegram}, clock).deliver_due(drain=True)
    (msg,) = sandbox.bot_messages(4003)
    assert msg["text"] == "Tin <b>cũ</b> &amp; nút"
    assert msg["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ar:s:7"


async def test_a_broadcast_on_a_text_channel_shows_the_sign_up_keyword_not_numbers(engine, clock) -> None:
    ann_id = await broadcast(engine, clock, [("zalo", "z1", Role.USER)])
    zalo = FakeZalo()
    await OutboxWorker(create_session_maker(engine), {"zalo": ZaloSender(zalo)}, clock).deliver_due(drain=True)
    (text,) = [t for _chat, t in zalo.sent]
    assert "Hội chợ <2026> & làng nghề" in text and "miễn phí" in text and "<b>" not in text
    assert text.endswith(f"Để đăng ký, nhắn: DK {ann_id}")
    assert "1." not in text and "Không quan tâm" not in text  # no number: the person may be mid-conversation
