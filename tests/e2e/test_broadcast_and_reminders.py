"""Announcements and reminders end to end: the bot process, the sandbox server with Telegram's limits."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from storage.db import create_engine, create_session_maker
from storage.models import Announcement, Reminder, Signup, User
from tests.e2e.harness import STAFF, BotProcess, Person

RECIPIENTS = 300
BLOCKED = {3000 + i for i in range(0, RECIPIENTS, 33)}  # about 3 %


async def test_broadcast_to_a_few_hundred_people(server, tmp_path, bot_db) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{bot_db}")
    now = datetime.now(UTC)
    async with create_session_maker(engine)() as s:
        for i in range(RECIPIENTS):
            uid = 3000 + i
            s.add(User(channel="telegram", external_id=str(uid), role="user", locale="vi" if i % 4 else "en",
                       created_at=now, updated_at=now))
            server.user(uid, first_name=f"Người {i}")
            if uid in BLOCKED:
                server.set_blocked(uid)
        await s.commit()
    bot = BotProcess(server, tmp_path)
    await bot.start()
    try:
        staff = Person(server, STAFF, first_name="Hà", language_code="en")
        await staff.say("/start")
        await staff.say("/announce")
        await staff.press("f.c:announce|kind|general")
        await staff.say("Thông báo lịch tập huấn")
        await staff.say("Lớp tập huấn <b>thương mại điện tử</b> cho cơ sở CNNT.")
        for step in ("place", "starts_on", "deadline_on", "attachment"):
            await staff.press(f"f.s:announce|{step}|")
        audience = await staff.press("f.ok:announce|__summary__|")
        # Everyone plus the staff member; the bot cannot know yet who blocked it.
        assert f"<b>{RECIPIENTS + 1}</b>" in audience["text"]
        await staff.press("an:pv:")
        mark = server.last_seq()
        message_id, data = await staff.wait_button("an:go:")
        started = asyncio.get_running_loop().time()
        await server.press(staff.id, message_id, data)

        def final_report(e: dict) -> bool:
            return e["kind"] == "edit" and "Finished" in (e["message"].get("text") or "")

        report = await server.wait_for(staff.id, final_report, after=mark, timeout=60)
        seconds = asyncio.get_running_loop().time() - started
        copies = Counter()
        for uid in range(3000, 3000 + RECIPIENTS):
            copies[uid] = sum(1 for e in server.events(uid) if "Thông báo lịch tập huấn" in
                              (e.get("message", {}).get("text") or ""))
        reachable = [u for u in copies if u not in BLOCKED]
        assert all(copies[u] == 1 for u in reachable), [u for u in reachable if copies[u] != 1][:5]
        assert all(copies[u] == 0 for u in BLOCKED)
        assert f"Blocked the bot: {len(BLOCKED)}" in report["message"]["text"]
        assert seconds >= (RECIPIENTS - len(BLOCKED)) / 30  # never faster than Telegram allows
        async with create_session_maker(engine)() as s:
            unreachable = {int(u.external_id) for u in (await s.exec(select(User))).all() if u.unreachable_at}
        assert unreachable == BLOCKED
    finally:
        await bot.stop()
        await engine.dispose()


async def test_a_due_reminder_reaches_the_persons_chat(server, tmp_path, bot_db) -> None:
    bot = BotProcess(server, tmp_path)
    await bot.start()
    engine = create_engine(f"sqlite+aiosqlite:///{bot_db}")
    try:
        lan = Person(server, 4001)
        await lan.say("/start")  # she exists for the bot
        async with create_session_maker(engine)() as s:
            user = (await s.exec(select(User).where(User.external_id == "4001"))).one()
            now = datetime.now(UTC)
            ann = Announcement(kind="competition", title="Bình chọn sản phẩm CNNT tiêu biểu", body="…", audience={},
                               status="sent", deadline_on=date.today() + timedelta(days=1), created_at=now,
                               updated_at=now)
            s.add(ann)
            await s.flush()
            s.add(Signup(announcement_id=ann.id, user_id=user.id, status="signed_up", created_at=now, updated_at=now))
            # What the planner writes for "1 day before", due a moment from now instead of at 08:00.
            s.add(Reminder(kind="deadline", user_id=user.id, announcement_id=ann.id, days_before=1,
                           audience="signed_up", due_at=now + timedelta(seconds=1), status="pending",
                           dedupe_key="e2e", created_at=now))
            await s.commit()
        reminder = await lan.wait_text("Nhắc nhở", timeout=30)
        assert "Bình chọn sản phẩm CNNT tiêu biểu" in reminder["text"]
        assert reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"ar:done:{ann.id}"
        toast_mark = server.last_seq()
        await server.press(lan.id, reminder["message_id"], f"ar:done:{ann.id}")
        toast = await server.wait_for(lan.id, lambda e: e["kind"] == "toast", after=toast_mark)
        assert "Cảm ơn" in toast["text"]
    finally:
        await bot.stop()
        await engine.dispose()
