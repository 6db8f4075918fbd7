"""An announcement's photo on Zalo: Zalo takes photos only by URL, so the outbox sends our address
(PUBLIC_BASE_URL/media/<id>) and the app serves the file there; with no public address, a line says where the
file is instead. Telegram keeps sending the same photo by its cached file_id."""

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import attach_outbox, create_app
from bot.clock import FakeClock
from bot.conversation.replies import MediaRef, Reply
from bot.services.outbox import enqueue
from bot.web.app import create_app as create_web
from storage.models import User
from tests.conftest import make_settings

JPEG = b"\xff\xd8\xff\xe0 anh hoi cho lang nghe"


class FakeZalo:
    def __init__(self) -> None:
        self.photos: list[tuple[str, str, str | None]] = []
        self.texts: list[tuple[str, str]] = []

    async def send_message(self, chat_id: str, text: str) -> None:
        self.texts.append((chat_id, text))

    async def send_photo(self, chat_id: str, photo: str, caption: str | None = None) -> None:
        self.photos.append((chat_id, photo, caption))


async def queue_photo(app, clock: FakeClock, ref: MediaRef, body: str) -> None:
    async with app.session_maker() as s:
        user = User(channel="zalo", external_id="ab12cd", role="user", locale="vi", created_at=clock.now(),
                    updated_at=clock.now())
        s.add(user)
        await s.flush()
        await enqueue(s, clock=clock, user=user, kind="announcement", reply=Reply.of(body, media=ref))
        await s.commit()


async def test_zalo_gets_the_photo_by_our_address_and_the_app_serves_it(engine: AsyncEngine, clock: FakeClock,
                                                                        tmp_path: Path) -> None:
    app = create_app(make_settings(media_dir=str(tmp_path), public_base_url="https://kc.example.vn"), engine,
                     clock=clock)
    assert app.media is not None
    ref = await app.media.keep(JPEG, kind="photo", channel="telegram", channel_id="AgACAgIAAxkB-photo")
    await queue_photo(app, clock, MediaRef(f"media:{ref.ref}", "photo"), "Hội chợ làng nghề 2027: đăng ký gian hàng")
    zalo = FakeZalo()
    await attach_outbox(app, None, zalo).deliver_due(drain=True)  # type: ignore[arg-type]
    url = f"https://kc.example.vn/media/{ref.ref}"
    assert zalo.photos == [("ab12cd", url, "Hội chợ làng nghề 2027: đăng ký gian hàng")] and zalo.texts == []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_web(app)),
                                 base_url="https://kc.example.vn") as web:
        served = await web.get(f"/media/{ref.ref}")
        assert served.status_code == 200 and served.content == JPEG
        assert served.headers["content-type"] == "image/jpeg" and served.headers["content-disposition"].startswith(
            "inline")
        for wrong in ("0" * 24, "..%2F..%2Fetc%2Fpasswd", "AgACAgIAAxkB-photo", ref.ref.upper()):
            assert (await web.get(f"/media/{wrong}")).status_code == 404


async def test_without_a_public_address_zalo_is_told_where_the_file_is(engine: AsyncEngine, clock: FakeClock,
                                                                       tmp_path: Path) -> None:
    app = create_app(make_settings(media_dir=str(tmp_path), public_base_url=""), engine, clock=clock)
    assert app.media is not None
    ref = await app.media.keep(JPEG, kind="photo")
    await queue_photo(app, clock, MediaRef(f"media:{ref.ref}", "photo"), "Hội chợ làng nghề 2027")
    zalo = FakeZalo()
    await attach_outbox(app, None, zalo).deliver_due(drain=True)  # type: ignore[arg-type]
    assert zalo.photos == []
    ((_chat, text),) = zalo.texts
    assert text.startswith("📎 photo") and "Hội chợ làng nghề 2027" in text
