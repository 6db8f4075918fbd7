"""A quick restart never leaves a broadcast hanging: the scheduler tick settles rows a killed sender left
in `sending` once they are older than the client timeout (plus a margin), and the broadcast finishes."""

from sqlalchemy import update
from sqlmodel import col, select

from bot.channels.telegram import TelegramProgress
from bot.scheduler import broadcasts_tick, register, unregister
from storage.models import Announcement, OutboxMessage, User
from tests.conftest import ChatHarness
from tests.updates.test_announcements import STAFF, compose, people


async def test_the_tick_settles_stale_sending_rows_and_the_broadcast_reaches_its_final_report(
        chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat, kind="competition", title="Bình chọn SP CNNT 2026", deadline="27/3/2026",
                           questions=None)
    chat.app.outbox.notify = lambda: None  # the sender process is killed before it sends anything
    await chat.press(STAFF, f"an:go:{ann_id}:")
    async with chat.app.session_maker() as s:
        owner = (await s.exec(select(User).where(User.external_id == str(who["owner_cd"].id)))).one()
        # The killed process had started this call: it may have left.
        await s.exec(update(OutboxMessage).where(col(OutboxMessage.user_id) == owner.id)
                     .values(status="sending", claimed_at=chat.clock.now(), attempts=1))
        await s.commit()
    await chat.deliver()  # the restarted sender (seconds later) sends the rest
    register("settle", chat.app, TelegramProgress(chat.bot))
    try:
        await broadcasts_tick("settle")
        async with chat.app.session_maker() as s:
            assert (await s.get(Announcement, ann_id)).status == "sending"  # that call may still be running
        chat.clock.advance(chat.app.outbox.stale_after.total_seconds() + 1)
        await broadcasts_tick("settle")
    finally:
        unregister("settle")
    async with chat.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        row = (await s.exec(select(OutboxMessage).where(OutboxMessage.user_id == owner.id))).one()
    assert ann.status == "sent" and ann.finished_at == chat.clock.now()
    assert row.status == "unknown"
    report = [c for c in chat.api.calls if c.method == "EditMessageText" and "Finished" in c.text][-1].text
    assert "Sent: 3 of 4" in report and "Failed: 0" in report
    assert "Delivery unknown (not resent, to avoid a second copy): 1" in report
    assert [c for c in chat.to(who["owner_cd"]) if "Bình chọn" in c.text] == []  # never resent
