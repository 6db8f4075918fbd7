"""The media store: files received on any channel are kept at once under our own id, and each channel sends
them back its own way (Telegram by cached file_id or upload, a text channel by link or a line)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.telegram_render import TelegramRenderer
from bot.channels.telegram_send import TelegramReplySender, telegram_media
from bot.channels.text import TextRenderer
from bot.channels.zalo.client import ZaloNotSent, ZaloUpdate
from bot.channels.zalo.runner import ZaloChannel
from bot.clock import FakeClock
from bot.conversation.replies import MediaRef, Reply
from bot.media import MediaStore, media_id_of
from storage.models import Media, Need
from tests.conftest import ChatHarness, Person, form_cb, make_settings, register_facility
from tests.fakebot import RecordingSession

PDF = b"%PDF-1.4 bao gia may dong chai"


async def test_a_file_is_kept_once_with_its_record(engine: AsyncEngine, clock: FakeClock, tmp_path: Path) -> None:
    app = create_app(make_settings(media_dir=str(tmp_path / "m")), engine, clock=clock)
    store = app.media
    assert store is not None and store.folder == tmp_path / "m"
    ref = await store.keep(PDF, kind="document", name="../../bao-gia.pdf", channel="telegram", channel_id="F1")
    again = await store.keep(PDF, kind="document", name="other.pdf")
    assert again == ref and ref.name == "bao-gia.pdf" and ref.kind == "document"
    assert (tmp_path / "m" / ref.ref).read_bytes() == PDF and len(list((tmp_path / "m").iterdir())) == 1
    async with app.session_maker() as session:
        (media,) = (await session.exec(select(Media))).all()
    assert (media.id, media.size, media.sha256) == (ref.ref, len(PDF), hashlib.sha256(PDF).hexdigest())
    assert media.channel_ids == {"telegram": "F1"} and media.created_at == clock.now()
    with pytest.raises(ValueError):
        store.path("../etc")


def test_the_default_folder_is_beside_the_sqlite_database() -> None:
    settings = make_settings(media_dir="", database_url="sqlite+aiosqlite:////srv/kc/data/khuyencong.db")
    assert settings.media_folder() == Path("/srv/kc/data/media")
    pg = make_settings(media_dir="", database_url="postgresql+asyncpg://u@db/kc")
    assert pg.media_folder() == Path("data/media")


async def test_a_document_sent_on_telegram_is_downloaded_and_kept(chat: ChatHarness) -> None:
    owner = Person(8801, language_code="en")
    await register_facility(chat, owner)
    chat.api.files["FILE-bao-gia.pdf"] = PDF
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "training"))
    await chat.send(owner, "Cần tập huấn")
    await chat.send(owner, "5/2026")
    await chat.document(owner, "bao-gia.pdf")
    await chat.press(owner, form_cb("ok", "need", "__summary__"))
    async with chat.app.session_maker() as session:
        (media,) = (await session.exec(select(Media))).all()
        need = (await session.exec(select(Need))).one()
    assert chat.app.media is not None and chat.app.media.path(media.id).read_bytes() == PDF
    assert media.name == "bao-gia.pdf" and media.channel_ids == {"telegram": "FILE-bao-gia.pdf"}
    # The need names our copy; Telegram still gets it by its own id (cached), Zalo by our address.
    assert need.attachment_file_id == f"media:{media.id}" and need.attachment_name == "bao-gia.pdf"


async def test_a_flood_of_files_is_not_downloaded_beyond_the_throttle(chat: ChatHarness) -> None:
    """Files are fetched before the pipeline sees them (the flood throttle's place): past the burst, the channel
    does not fetch what the throttle is about to drop."""
    from aiogram.types import Update

    flooder = Person(8803, language_code="en")
    chat.api.files["FILE-anh.pdf"] = PDF
    for n in range(10):
        update = chat._message(flooder, document={"file_id": "FILE-anh.pdf", "file_unique_id": "anh",
                                                  "file_name": "anh.pdf"})
        update["update_id"] = 88_000 + n
        await chat.dp.feed_update(chat.bot, Update.model_validate(update, context={"bot": chat.bot}))
    assert len([c for c in chat.api.calls if c.method == "GetFile"]) == 6  # the burst
    slow = [c for c in chat.to(flooder) if "very quickly" in (c.text or "")]
    assert len(slow) == 1


async def test_a_file_that_cannot_be_downloaded_is_still_taken(chat: ChatHarness) -> None:
    owner = Person(8802, language_code="en")
    await register_facility(chat, owner)
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "training"))
    await chat.send(owner, "Cần tập huấn")
    await chat.send(owner, "5/2026")
    chat.api.fail_next("GetFile", 400, "Bad Request: file is too big")
    await chat.document(owner, "lon.pdf")
    await chat.press(owner, form_cb("ok", "need", "__summary__"))
    async with chat.app.session_maker() as session:
        assert (await session.exec(select(Media))).all() == []
        assert (await session.exec(select(Need))).one().attachment_file_id == "FILE-lon.pdf"


async def test_telegram_uploads_a_kept_file_once_then_sends_its_file_id(engine: AsyncEngine, clock: FakeClock,
                                                                        tmp_path: Path) -> None:
    app = create_app(make_settings(media_dir=str(tmp_path)), engine, clock=clock)
    assert app.media is not None
    ref = await app.media.keep(PDF, kind="document", name="bao-gia.pdf", channel="zalo")
    api = RecordingSession()
    sender = TelegramReplySender(Bot(token="123456:TEST-token", session=api), *telegram_media(app))
    messages = TelegramRenderer().render(Reply.of("Báo giá <mới>", media=ref)).messages
    for _ in range(2):
        await sender.deliver(55, messages)
    first, second = api.calls
    assert first.params["document"] == {"filename": "bao-gia.pdf", "data": PDF}
    assert first.params["caption"] == "Báo giá &lt;mới&gt;"
    assert second.params["document"] == "doc"  # the file_id Telegram gave the upload
    assert await app.media.channel_id(ref.ref, "telegram") == "doc"


def test_text_channels_get_a_link_or_a_line_saying_where_the_file_is(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, None, FakeClock(), public_base_url="https://kc.example.vn/")  # type: ignore[arg-type]
    ab12, cd34 = "ab12" * 6, "cd34" * 6  # our ids: 24 hex digits
    doc, photo = MediaRef(ab12, "document", "bao-gia.pdf"), MediaRef(f"media:{cd34}", "photo")
    linked = TextRenderer(media_url=store.url)
    (message,) = linked.render(Reply.of("Báo giá", media=doc)).messages
    assert message.text == f"📎 bao-gia.pdf: https://kc.example.vn/media/{ab12}\n\nBáo giá"
    (message,) = linked.render(Reply.of("Ảnh máy", media=photo)).messages
    assert (message.photo_url, message.text) == (f"https://kc.example.vn/media/{cd34}", "Ảnh máy")
    # A Telegram file_id (an attachment from before the media store) has no address of ours: named only.
    (message,) = linked.render(Reply.of("Ảnh cũ", media=MediaRef("AgACAgIAAxkBAAIC" * 4, "photo"))).messages
    assert (message.photo_url, message.text) == (None, "📎 photo\n\nẢnh cũ")
    (message,) = TextRenderer().render(Reply.of("Báo giá", media=doc), unavailable="bạn có thể nhận tệp này tại "
                                                                                   "trung tâm.").messages
    assert message.text == "📎 bao-gia.pdf — bạn có thể nhận tệp này tại trung tâm.\n\nBáo giá"
    assert media_id_of("media:ab12") == "ab12" and media_id_of("AgACAgIAAxk") is None


class FakeZalo:
    def __init__(self, data: bytes | None) -> None:
        self.data = data
        self.fetched: list[str] = []

    async def download(self, url: str, limit: int) -> bytes:
        self.fetched.append(url)
        if self.data is None:
            raise ZaloNotSent("file download answered 404")
        return self.data


def photo_update(**overrides: Any) -> ZaloUpdate:
    values: dict[str, Any] = {"event_name": "message.image.received", "message_id": "m1", "sender_id": "z1",
                              "display_name": "Lan", "chat_id": "z1", "chat_type": "PRIVATE",
                              "photo_url": "https://zalo.example/p/1.jpg"}
    values.update(overrides)
    return ZaloUpdate(**values)


async def test_a_zalo_photo_is_downloaded_at_once(engine: AsyncEngine, clock: FakeClock, tmp_path: Path) -> None:
    app = create_app(make_settings(media_dir=str(tmp_path)), engine, clock=clock)
    assert app.pipeline is not None and app.media is not None
    channel = ZaloChannel(FakeZalo(b"\xff\xd8jpeg"), app.pipeline)  # type: ignore[arg-type]
    media_id = await channel._kept_photo(photo_update())
    assert media_id is not None and app.media.path(media_id).read_bytes() == b"\xff\xd8jpeg"
    assert (await app.media.get(media_id)).kind == "photo"  # type: ignore[union-attr]
    assert await ZaloChannel(FakeZalo(None), app.pipeline)._kept_photo(photo_update()) is None  # type: ignore[arg-type]
    assert await channel._kept_photo(photo_update(event_name="message.text.received", text="hi")) is None


class FloodedZalo(FakeZalo):
    """A Zalo that serves a different photo at each address, and records what the bot says."""

    def __init__(self) -> None:
        super().__init__(None)
        self.texts: list[str] = []

    async def download(self, url: str, limit: int) -> bytes:
        self.fetched.append(url)
        return b"\xff\xd8jpeg " + url.encode()

    async def send_message(self, chat_id: str, text: str) -> None:
        self.texts.append(text)


async def test_a_flood_of_zalo_photos_is_not_downloaded_beyond_the_throttle(engine: AsyncEngine, clock: FakeClock,
                                                                            tmp_path: Path) -> None:
    """As on Telegram: a photo is fetched before the pipeline sees it, so past the burst the channel asks the
    throttle first and does not fetch (nor keep) what is about to be dropped."""
    from bot.services.throttle import throttle_of

    app = create_app(make_settings(media_dir=str(tmp_path / "media"), default_locale="en"), engine, clock=clock)
    assert app.pipeline is not None and app.media is not None
    throttle_of(app)  # as the runner wires it
    zalo = FloodedZalo()
    channel = ZaloChannel(zalo, app.pipeline)  # type: ignore[arg-type]
    for n in range(10):
        await channel._handle(photo_update(message_id=f"flood-{n}", photo_url=f"https://zalo.example/p/{n}.jpg"))
    assert zalo.fetched == [f"https://zalo.example/p/{n}.jpg" for n in range(6)]  # the burst only
    async with app.session_maker() as session:
        assert len((await session.exec(select(Media))).all()) == 6
    assert len(list((tmp_path / "media").iterdir())) == 6
    assert len([t for t in zalo.texts if "very quickly" in t]) == 1


async def test_a_photo_kept_from_zalo_is_a_needs_attachment_by_our_id(engine: AsyncEngine, clock: FakeClock,
                                                                       tmp_path: Path) -> None:
    from bot.conversation.events import Event, MediaEvent, Who
    from tests.conversation.test_typing_only import Phone

    app = create_app(make_settings(media_dir=str(tmp_path)), engine, clock=clock)
    assert app.pipeline is not None and app.media is not None
    who = Who("zalo", "a0b1c2d9", "Lan", "en")
    lan = Phone(app.pipeline, who)
    for text in ("chao", "Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", "0912 345 678", "long xuyen"):
        await lan.type(text)
    await lan.type(lan.number_of("Food processing"))
    await lan.type("nước mắm")
    await lan.type(lan.number_of("I agree"))
    await lan.type(lan.number_of("Confirm"))
    await lan.type("/need")
    await lan.type(lan.number_of("Training"))
    await lan.type("Cần tập huấn")
    assert "send a photo or document" in await lan.type("5/2026")
    ref = await app.media.keep(b"\xff\xd8jpeg", kind="photo", channel="zalo")
    shown = await app.pipeline.handle(Event(who, MediaEvent(ref.ref, "photo")), TextRenderer())
    lan.last = "\n".join(m.text for out in shown for m in out.messages)
    assert "Please check your answers" in lan.last
    assert "Thank you" in await lan.type(lan.number_of("Confirm"))
    async with app.session_maker() as session:
        need = (await session.exec(select(Need))).one_or_none()
    assert need is not None and need.attachment_file_id == f"media:{ref.ref}" and need.attachment_kind == "photo"


async def test_the_app_serves_kept_files_by_their_id(engine: AsyncEngine, clock: FakeClock, tmp_path: Path) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.media import media_routes

    app = create_app(make_settings(media_dir=str(tmp_path)), engine, clock=clock)
    assert app.media is not None
    ref = await app.media.keep(PDF, kind="document", name="báo giá.pdf")
    web_app = web.Application()
    web_app.add_routes(media_routes(app.media))
    async with TestClient(TestServer(web_app)) as client:
        got = await client.get(f"/media/{ref.ref}")
        assert got.status == 200 and await got.read() == PDF
        assert got.headers["Content-Disposition"] == "attachment; filename*=UTF-8''b%C3%A1o%20gi%C3%A1.pdf"
        for wrong in ("0" * 24, "..%2F..%2Fetc%2Fpasswd", "a" * 40):
            assert (await client.get(f"/media/{wrong}")).status == 404
