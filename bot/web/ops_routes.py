"""Operations endpoints, without sign-in: `/healthz` for load balancers and orchestrators, and `/metrics`
for Prometheus (only with METRICS_ENABLED; it should not be public: let the reverse proxy refuse it from
outside, or scrape the process on its private address)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from bot import health, metrics
from bot.web.security import ctx

router = APIRouter()
metrics_router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    state = request.app.state
    status, body = await health.check(ctx(request), scheduler=getattr(state, "scheduler", None),
                                      leader=getattr(state, "leader", None))
    return JSONResponse(body, status_code=status)


@metrics_router.get("/metrics")
async def metrics_text(request: Request) -> Response:
    await metrics.refresh(ctx(request).session_maker)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
