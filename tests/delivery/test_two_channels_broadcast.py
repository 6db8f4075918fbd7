"""One broadcast to 300 people on Telegram and 300 on Zalo at once, through both sandbox servers over HTTP with
their rate limits on (Telegram about 30/s, Zalo 10/s; both on the test's movable clock): every person gets
exactly one copy — on Zalo a 2,500-character body in two ordered parts — neither server ever answers 429,
Zalo's slower pace does not hold Telegram back, and the month's message count is what Zalo received."""

from __future__ import annotations

from collections import Counter

from sqlmodel import select

from bot.app import create_app
from bot.channels.telegram import TelegramSender
from bot.channels.zalo.client import ZaloClient
from bot.channels.zalo.send import ZaloSender
from bot.clock import FakeClock
from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer
from bot.sandbox.zalo import ZaloSandbox
from bot.services import announcements, usage
from bot.services.outbox import OutboxWorker
from storage.models import OutboxMessage, User
from tests.conftest import make_settings
from tests.delivery.conftest import TOKEN, sandbox_bot

TITLE = "Hội chợ hàng công nghiệp nông thôn 2027"
BODY = ("Trung tâm Khuyến công hỗ trợ gian hàng miễn phí cho cơ sở công nghiệp nông thôn tiêu biểu. " * 28).strip()
ZALO_TOKEN = "1234567890:zalo-broadcast-secret"
N = 300


async def test_300_on_telegram_and_300_on_zalo_each_get_one_copy_within_each_channels_limits(engine) -> None:
    assert 2_000 < len(BODY) < 3_000
    clock = FakeClock()
    telegram_server = SandboxServer(bot_token=TOKEN, clock=clock.monotonic, limits=RateLimits())
    zalo_server = ZaloSandbox(bot_token=ZALO_TOKEN, clock=clock.monotonic)  # Zalo's own limits: 10/s
    await telegram_server.start()
    await zalo_server.start("127.0.0.1", 0)
    app = create_app(make_settings(), engine, clock=clock)
    now = clock.now()
    async with app.session_maker() as s:
        people = [User(channel="telegram", external_id=str(50_000 + i), role="user", locale="vi",
                       created_at=now, updated_at=now) for i in range(N)]
        people += [User(channel="zalo", external_id=f"5a1f{i:04x}", role="user", locale="vi",
                        created_at=now, updated_at=now) for i in range(N)]
        s.add_all(people)
        await s.flush()
        ann = await announcements.create(s, clock=clock, author=people[0], data={
            "kind": "general", "title": TITLE, "body": BODY})
        await announcements.start(s, clock=clock, ann_id=ann.id or 0, translate=app.translate, default_locale="vi")
        await s.commit()
    for p in people:
        if p.channel == "zalo":
            zalo_server.user(p.external_id).has_written = True  # Zalo lets a bot message only these
        else:
            telegram_server.user(int(p.external_id))
    bot, zalo = sandbox_bot(telegram_server.base_url, timeout=10), ZaloClient(ZALO_TOKEN, base=zalo_server.base_url)
    worker = OutboxWorker(app.session_maker, {"telegram": TelegramSender(bot), "zalo": ZaloSender(zalo)}, clock,
                          rate=25, rates={"zalo": 5})
    start = clock.monotonic()
    try:
        await worker.deliver_due(drain=True)
    finally:
        await bot.session.close()
        await zalo.close()
        await telegram_server.stop()
        await zalo_server.stop()
    elapsed = clock.monotonic() - start

    async with app.session_maker() as s:
        rows = (await s.exec(select(OutboxMessage).where(OutboxMessage.announcement_id == ann.id))).all()
        zalo_count = await usage.of_month(s, channel="zalo", moment=clock.now(), quota=3000)
    assert Counter((r.channel, r.status) for r in rows) == Counter({("telegram", "sent"): N, ("zalo", "sent"): N})
    for p in people:
        if p.channel == "telegram":
            got = [m for m in telegram_server.bot_messages(int(p.external_id)) if TITLE in (m.get("text") or "")]
            assert len(got) == 1, p.external_id
        else:
            texts = zalo_server.bot_texts(p.external_id)
            assert len(texts) == 2 and TITLE in texts[0] and all(len(t) <= 2_000 for t in texts), p.external_id
            assert (texts[0] + texts[1]).count("Trung tâm Khuyến công") == 28  # both parts, in order, once
    assert telegram_server.stats.get("429", 0) == 0 and zalo_server.stats["429"] == 0
    assert zalo_count.sent == 2 * N  # two parts each
    tg_done = max(r.sent_at for r in rows if r.channel == "telegram")
    zalo_done = max(r.sent_at for r in rows if r.channel == "zalo")
    assert (tg_done - now).total_seconds() < N / 25 * 1.3  # Telegram at its own pace (about 12 s)
    assert N / 5 * 0.9 <= (zalo_done - now).total_seconds() <= elapsed  # Zalo at 5/s: about a minute
