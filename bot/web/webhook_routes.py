"""`POST /webhook/telegram` and `POST /webhook/zalo`: the messengers' updates in webhook mode (TELEGRAM_MODE,
ZALO_MODE), served by the console's ASGI app so any number of identical web processes can sit behind a load
balancer. No sign-in and no CSRF token: each channel's secret header admits a request (checked by the
channel's receiver, bot/channels/telegram_webhook.py and bot/channels/zalo/runner.py); a wrong or missing
one gets 403 and nothing is processed. A channel not in webhook mode in this process is 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

# body, headers → the HTTP status to answer
Receiver = Callable[[bytes, Mapping[str, str]], Awaitable[int]]

router = APIRouter()


@router.post("/webhook/{channel}")
async def webhook(channel: str, request: Request) -> Response:
    receivers: dict[str, Receiver] = getattr(request.app.state, "webhooks", {})
    receive = receivers.get(channel)
    if receive is None:
        raise HTTPException(404)
    status = await receive(await request.body(), request.headers)
    body = {"ok": True} if status == 200 else {"ok": False, "error_code": status, "description": "Forbidden"}
    return JSONResponse(body, status_code=status)
