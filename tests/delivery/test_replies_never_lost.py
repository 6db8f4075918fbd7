"""A reply the Bot API refuses to connect for (after the sender's retries) is sent later by the outbox, once;
later replies to that person queue behind it."""

from sqlmodel import select

from bot.domain import OutboxStatus, Priority
from storage.models import OutboxMessage
from tests.conftest import ChatHarness, Person

HELP = "<b>What I can do for you</b>"


async def outbox_rows(chat: ChatHarness) -> list[OutboxMessage]:
    async with chat.app.session_maker() as s:
        return list((await s.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_a_reply_refused_three_times_arrives_later_from_the_outbox_once(chat: ChatHarness) -> None:
    chat.api.connect_failures = 3  # the reply sender's three attempts all fail to connect
    calls = await chat.send(Person(5101, language_code="en"), "/help")
    helps = [c for c in calls if c.method == "SendMessage" and c.text.startswith(HELP)]
    assert len(helps) == 1 and helps[0].chat_id == 5101
    (row,) = await outbox_rows(chat)
    assert (row.kind, row.priority, row.status, row.attempts) == ("reply", Priority.REPLY, OutboxStatus.SENT, 1)
    assert chat.clock.slept[:2] == [0.5, 1.0]


async def test_later_replies_queue_behind_a_reply_still_waiting(chat: ChatHarness) -> None:
    person = Person(5102, language_code="en")
    # The reply's three attempts and the outbox's first tries fail: the reply waits there (back-off).
    chat.api.connect_failures = 9
    first = await chat.send(person, "/help")
    assert not [c for c in first if c.method == "SendMessage"]
    await chat.send(person, "/mydata")
    await chat.app.outbox.deliver_due(drain=True)  # type: ignore[union-attr]
    sent = [c.text for c in chat.api.calls if c.method == "SendMessage"]
    assert len(sent) == 2 and sent[0].startswith(HELP) and not sent[1].startswith(HELP)  # in order, once each
    rows = await outbox_rows(chat)
    assert [(r.kind, r.status) for r in rows] == [("reply", OutboxStatus.SENT)] * 2
    assert rows[0].attempts > 1 and rows[1].attempts == 1


async def test_a_zalo_reply_that_could_not_be_sent_comes_from_the_outbox_as_shown(sqlite_engine, clock) -> None:
    """Zalo's numbered menu is kept as the person was to see it (the saved numbers stay true)."""
    import asyncio

    from bot.app import create_app
    from bot.channels.zalo.client import ZaloClient
    from bot.channels.zalo.runner import SEND_ATTEMPTS, ZaloChannel
    from bot.channels.zalo.send import ZaloSender
    from bot.sandbox.limits import RateLimits
    from bot.sandbox.zalo import ZaloSandbox
    from bot.services.outbox import OutboxWorker
    from tests.conftest import make_settings
    from tests.sandbox.test_zalo_channel import TOKEN

    server = ZaloSandbox(bot_token=TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    app = create_app(make_settings(), sqlite_engine, clock=clock)
    client = ZaloClient(TOKEN, base=server.base_url)
    app.outbox = OutboxWorker(app.session_maker, {"zalo": ZaloSender(client)}, clock)
    channel = ZaloChannel(client, app.pipeline, poll_timeout=5, sleep=clock.sleep)  # type: ignore[arg-type]
    polling = asyncio.create_task(channel.run_polling())
    try:
        await server.polling.wait()
        server.faults.update({"next_5xx": SEND_ATTEMPTS})  # every attempt of the direct reply fails
        mark = server.last_seq("5a6b7d")
        await server.send_text("5a6b7d", "/subscriptions")
        event = await server.wait_for("5a6b7d", after=mark, timeout=15)
        assert "1. ✅ Hội chợ" in event["text"] and "0. Về menu chính" in event["text"]
        await app.outbox.deliver_due()  # after the round that sent it has recorded it
        async with app.session_maker() as s:
            (row,) = (await s.exec(select(OutboxMessage))).all()
        assert (row.kind, row.status) == ("reply", OutboxStatus.SENT)
        assert len([e for e in server.events("5a6b7d") if e["kind"] == "message"]) == 1
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await channel.stop()
        await client.close()
        await server.stop()


def test_what_is_left_to_send_resumes_after_what_left_and_never_repeats_an_unknown_one() -> None:
    from bot.channels.capabilities import TELEGRAM
    from bot.conversation.pipeline import queued
    from bot.conversation.replies import Rendered, Reply

    first, second = Reply.of("một"), Reply.of("hai")
    rendered = [Rendered(["a", "b"], source=first), Rendered(["c"], source=second)]
    assert queued(rendered, TELEGRAM) == [(first, 0, None), (second, 0, None)]
    assert queued(rendered, TELEGRAM, done=1) == [(first, 1, None), (second, 0, None)]  # "a" left, "b" did not
    assert queued(rendered, TELEGRAM, done=1, unknown=True) == [(second, 0, None)]  # "b" may have arrived
    assert queued(rendered, TELEGRAM, done=3) == []
