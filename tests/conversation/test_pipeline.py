"""The unit of work: route an event to its flow, render, save a text channel's numbers, commit, then send."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.telegram_render import TelegramRenderer
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.conversation.events import ChooseEvent, CommandEvent, Event, TextEvent, Who
from bot.conversation.pipeline import Flows, Pipeline, Turn, flatten
from bot.conversation.replies import Choice
from bot.errors import DomainError
from storage import repos
from storage.models import User
from tests.conftest import make_settings

ZALO = Who("zalo", "a1b2c3d4", "Lan", "en")


def demo_flows(log: list[str] | None = None, gate: asyncio.Event | None = None,
               entered: asyncio.Event | None = None) -> Flows:
    flows = Flows()
    flows.words["menu"] = "start"

    @flows.command("start")
    async def start(turn: Turn, action: CommandEvent) -> None:
        turn.say("Chọn ngành:", choices=[[Choice("Thực phẩm", "pick", "food")], [Choice("Cơ khí", "pick", "mech")]])

    @flows.action("pick")
    async def pick(turn: Turn, action: ChooseEvent) -> None:
        turn.say(f"Đã chọn: {action.arg}")

    @flows.command("fail")
    async def fail(turn: Turn, action: CommandEvent) -> None:
        turn.session.add(User(channel="zalo", external_id="x", created_at=turn.app.clock.now(),
                              updated_at=turn.app.clock.now()))
        raise DomainError("This invitation link is not valid.")

    @flows.command("slow")
    async def slow(turn: Turn, action: CommandEvent) -> None:
        assert log is not None and gate is not None
        log.append(f"start {action.args}")
        if action.args == "1":
            assert entered is not None
            entered.set()
            await gate.wait()
        log.append(f"end {action.args}")

    async def fallback(turn: Turn, action: object) -> None:
        turn.say("Xin lỗi, tôi chưa hiểu.")

    flows.fallback = fallback
    return flows


def texts(rendered) -> list[str]:
    return [m.text for m in flatten(rendered)]


async def test_a_typed_number_means_what_the_person_saw_even_after_a_restart(engine: AsyncEngine,
                                                                              clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    shown = await Pipeline(app, demo_flows()).handle(Event(ZALO, CommandEvent("start")), TextRenderer())
    assert texts(shown) == ["Chọn ngành:\n\n1. Thực phẩm\n2. Cơ khí\n0. Menu\nType the number of your choice."]
    restarted = Pipeline(create_app(make_settings(), engine, clock=clock), demo_flows())
    assert texts(await restarted.handle(Event(ZALO, TextEvent(" 2 ")), TextRenderer())) == ["Đã chọn: mech"]
    # That reply had no numbers: "2" means nothing any more, and the person is told so.
    assert texts(await restarted.handle(Event(ZALO, TextEvent("2")), TextRenderer())) == ["Xin lỗi, tôi chưa hiểu."]
    assert texts(await restarted.handle(Event(ZALO, TextEvent("Menu")), TextRenderer()))[0].startswith("Chọn ngành")


async def test_buttons_channels_keep_no_pending_menu(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    pipeline = Pipeline(app, demo_flows())
    who = Who("telegram", "4242", "Lan", "vi")
    await pipeline.handle(Event(who, CommandEvent("start")), TelegramRenderer())
    async with app.session_maker() as session:
        assert await repos.pending_menu(session, channel="telegram", external_id="4242") == {}
    shown = await pipeline.handle(Event(who, ChooseEvent("pick", "food")), TelegramRenderer())
    assert texts(shown) == ["Đã chọn: food"]


async def test_a_failing_flow_saves_nothing_and_says_why(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    shown = await Pipeline(app, demo_flows()).handle(Event(ZALO, CommandEvent("fail")), TextRenderer())
    assert texts(shown) == ["This invitation link is not valid."]
    async with app.session_maker() as session:
        assert await repos.get_user(session, channel="zalo", external_id="x") is None


async def test_one_persons_events_are_handled_in_order(engine: AsyncEngine, clock: FakeClock) -> None:
    log: list[str] = []
    gate, entered = asyncio.Event(), asyncio.Event()
    pipeline = Pipeline(create_app(make_settings(), engine, clock=clock), demo_flows(log, gate, entered))
    first = asyncio.create_task(pipeline.handle(Event(ZALO, CommandEvent("slow", "1")), TextRenderer()))
    second = asyncio.create_task(pipeline.handle(Event(ZALO, CommandEvent("slow", "2")), TextRenderer()))
    await entered.wait()
    for _ in range(20):  # let the second event run as far as it can
        await asyncio.sleep(0)
    assert log == ["start 1"]
    gate.set()
    await asyncio.gather(first, second)
    assert log == ["start 1", "end 1", "start 2", "end 2"]


async def test_a_database_out_of_reach_still_gets_an_apology(engine: AsyncEngine, clock: FakeClock) -> None:
    """The pool exhausted under load, or the database down: the person hears back, in their language."""
    app = create_app(make_settings(), engine, clock=clock)

    def no_connection() -> object:
        raise TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out")

    app.session_maker = no_connection  # type: ignore[assignment]
    shown = await Pipeline(app, demo_flows()).handle(Event(Who("zalo", "0a0b", "Lan", "vi"), TextEvent("2")),
                                                     TextRenderer())
    assert texts(shown) == ["Xin lỗi, hệ thống đang gặp sự cố. Vui lòng thử lại sau ít phút."]


async def test_a_flood_of_refused_events_is_slowed_like_any_other(engine: AsyncEngine, clock: FakeClock) -> None:
    """A refused event's unit of work is rolled back; on PostgreSQL the flood throttle's count was in it."""
    from bot.services.throttle import throttle_of

    app = create_app(make_settings(), engine, clock=clock)
    throttle_of(app)
    pipeline = Pipeline(app, demo_flows())
    answers = [texts(await pipeline.handle(Event(ZALO, CommandEvent("fail")), TextRenderer())) for _ in range(9)]
    assert answers[:6] == [["This invitation link is not valid."]] * 6
    assert len(answers[6]) == 1 and "very quickly" in answers[6][0]
    assert answers[7:] == [[], []]


async def test_what_a_turn_keeps_is_saved_when_only_its_type_changed(engine: AsyncEngine, clock: FakeClock) -> None:
    """`True` equals `1` and `1` equals `1.0` in Python, but they are different JSON: a kept value that changed
    only so is still saved, and the next turn gets what was kept, not what was kept before."""
    import json

    from bot.conversation.pipeline import KEPT

    flows = demo_flows()
    values = {"one": 1, "yes": True, "float": 1.0, "nested": {"n": [1]}, "nested_yes": {"n": [True]}}

    @flows.command("keep")
    async def keep(turn: Turn, action: CommandEvent) -> None:
        turn.say(f"kept before: {json.dumps(turn.kept.get('v'))}")
        turn.keep["v"] = values[action.args]

    app = create_app(make_settings(), engine, clock=clock)
    pipeline = Pipeline(app, flows)
    who = Who("telegram", "4243", "Lan", "en")
    seen = []
    for name in ("one", "yes", "float", "one", "nested", "nested_yes", "nested_yes"):
        seen += texts(await pipeline.handle(Event(who, CommandEvent("keep", name)), TelegramRenderer()))
        async with app.session_maker() as session:
            stored = (await repos.pending_menu(session, channel="telegram", external_id="4243"))[KEPT]["v"]
        assert json.dumps(stored) == json.dumps(values[name])
    assert seen == ["kept before: null", "kept before: 1", "kept before: true", "kept before: 1.0",
                    "kept before: 1", "kept before: {\"n\": [1]}", "kept before: {\"n\": [true]}"]
