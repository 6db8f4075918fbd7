"""GET /media/<id>: a file of the media store, at the address text channels are given (PUBLIC_BASE_URL).

Zalo fetches an announcement's photo from here (it takes photos by URL only), and a person on a text channel
opens a document's link. No sign-in: the ids are 24 random hex digits, unguessable, and name nothing else;
anything that is not such an id is 404. Photos are shown inline, other files downloaded.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from bot.media import is_media_id

router = APIRouter()


@router.get("/media/{media_id}")
async def media_file(request: Request, media_id: str) -> FileResponse:
    store = request.app.state.ctx.media
    media = await store.get(media_id) if store is not None and is_media_id(media_id) else None
    if media is None or not store.path(media.id).exists():
        raise HTTPException(status_code=404)
    photo = media.kind == "photo"
    name = quote(media.name or media.id)
    return FileResponse(store.path(media.id), media_type="image/jpeg" if photo else "application/octet-stream",
                        headers={"Content-Disposition": f"{'inline' if photo else 'attachment'}; "
                                                        f"filename*=UTF-8''{name}",
                                 "Cache-Control": "private, max-age=86400"})
