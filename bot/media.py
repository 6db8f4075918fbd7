"""The media store: files received on any channel, downloaded at once and kept under our own id.

A file is written to the media folder (MEDIA_DIR) as `<id>` and recorded in the `media` table (kind, name,
size, sha256, and each channel's own id for it once known — Telegram's file_id), so every channel can send
it again its own way: Telegram by the cached file_id or by uploading the file, a text channel by a link
under PUBLIC_BASE_URL. The same bytes sent twice are kept once. Channel ids never leave this module's
callers' edges; flows see only `MediaRef`.

Need.attachment_file_id holds a Telegram file_id (older rows, and files that came from Telegram, which the
staff inbox still sends by it) or `media:<id>` for a kept file from another channel (`media_id_of`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation.replies import MediaRef
from storage import repos
from storage.models import Media

log = logging.getLogger(__name__)
STORED_PREFIX = "media:"
MAX_BYTES = 20 * 1024 * 1024  # what Telegram lets a bot download; larger files are not kept


def media_id_of(stored: str | None) -> str | None:
    """Our id in a stored attachment reference (`media:<id>`), or None for a channel's own file id."""
    if stored and stored.startswith(STORED_PREFIX):
        return stored[len(STORED_PREFIX):]
    return None


def is_media_id(value: str) -> bool:
    """Our ids are 24 hex digits (a Telegram file_id is longer and not hex)."""
    return len(value) == 24 and all(ch in "0123456789abcdef" for ch in value)


def _safe_name(name: str | None) -> str | None:
    if not name:
        return None
    cleaned = "".join(ch for ch in Path(name).name if ch.isprintable()).strip()
    return cleaned[:255] or None


class MediaStore:
    def __init__(self, folder: Path, session_maker: async_sessionmaker[AsyncSession], clock: Clock, *,
                 public_base_url: str = "") -> None:
        self.folder = folder
        self.session_maker = session_maker
        self.clock = clock
        self.public_base_url = public_base_url.rstrip("/")

    def path(self, media_id: str) -> Path:
        if not media_id.isalnum():  # ids are ours (hex): never a path from outside
            raise ValueError(f"not a media id: {media_id[:40]!r}")
        return self.folder / media_id

    async def keep(self, data: bytes, *, kind: str, name: str | None = None, channel: str | None = None,
                   channel_id: str | None = None) -> MediaRef:
        """Keep a received file (once per content and kind); returns its reference."""
        if len(data) > MAX_BYTES:
            raise ValueError(f"file over {MAX_BYTES} bytes")
        digest = hashlib.sha256(data).hexdigest()
        async with self.session_maker() as session:
            media = await repos.media_by_sha256(session, sha256=digest, kind=kind)
            if media is None or not self.path(media.id).exists():
                media_id = secrets.token_hex(12)
                await asyncio.to_thread(self._write, media_id, data)
                media = await repos.add_media(session, media=Media(
                    id=media_id, kind=kind, name=_safe_name(name), size=len(data), sha256=digest,
                    channel_ids={}, created_at=self.clock.now()))
            if channel and channel_id:
                await repos.set_media_channel_id(session, media_id=media.id, channel=channel, channel_id=channel_id)
            ref = MediaRef(media.id, media.kind, media.name or _safe_name(name))
            await session.commit()
        return ref

    def _write(self, media_id: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{media_id}.part"
        partial.write_bytes(data)
        partial.replace(self.path(media_id))

    async def read(self, media_id: str) -> bytes:
        return await asyncio.to_thread(self.path(media_id).read_bytes)

    async def get(self, media_id: str) -> Media | None:
        async with self.session_maker() as session:
            return await repos.get_media(session, media_id=media_id)

    async def channel_id(self, media_id: str, channel: str) -> str | None:
        media = await self.get(media_id)
        return media.channel_ids.get(channel) if media is not None else None

    async def remember(self, media_id: str, channel: str, channel_id: str) -> None:
        async with self.session_maker() as session:
            await repos.set_media_channel_id(session, media_id=media_id, channel=channel, channel_id=channel_id)
            await session.commit()

    def url(self, ref: MediaRef) -> str | None:
        """Where a text channel fetches the file (served by the app), when the app has a public address."""
        media_id = media_id_of(ref.ref) or ref.ref
        if not self.public_base_url or not is_media_id(media_id):
            return None  # a channel's own file id (Telegram's) has no address of ours
        return f"{self.public_base_url}/media/{media_id}"


def media_routes(store: MediaStore) -> list[web.RouteDef]:
    """GET /media/<id>: a kept file, for the app's web server to serve (the links text channels get).
    Ids are long random tokens; anything else is 404."""

    async def serve(request: web.Request) -> web.StreamResponse:
        media_id = request.match_info["media_id"]
        media = await store.get(media_id) if media_id.isalnum() and len(media_id) <= 32 else None
        if media is None or not store.path(media.id).exists():
            raise web.HTTPNotFound()
        content_type = "image/jpeg" if media.kind == "photo" else "application/octet-stream"
        disposition = "inline" if media.kind == "photo" else "attachment"
        name = quote(media.name or media.id)
        return web.FileResponse(store.path(media.id), headers={
            "Content-Type": content_type, "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff"})

    return [web.get("/media/{media_id}", serve)]
