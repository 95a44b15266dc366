"""``POST /api/v1/platforms/{platform}/callbacks``: the platforms' way in."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath

from notigate.app.gateway import Gateway
from notigate.ingest.pipeline import platform_answer
from notigate.plugin.platform import CallbackRequest, CallbackResult


@post(
    "/api/v1/platforms/{platform:str}/callbacks",
    status_code=200,
    tags=["platforms"],
    summary="Receive a platform's native callback",
    description="Authenticated by the platform's own signature; answered in the form the platform expects. "
    "The `Notigate-Notification-Ids` header lists the notifications the callback became.",
)
async def receive_callback(platform: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    gateway: Gateway = request.app.state.gateway  # not injected: the hot path skips dependency resolution
    plugin = gateway.platforms.get(platform.lower())
    if plugin is None:
        raise NotFoundException(f"no enabled platform named {platform!r}")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        body = await request.body()
    except HTTPException as exc:  # over [server] max_body_size: still answered in the platform's form
        empty = CallbackRequest(body=b"", headers=headers, path=request.url.path)
        answer = platform_answer(plugin, CallbackResult(status_code=exc.status_code, detail=exc.detail), empty)
        return Response(
            answer.body, status_code=answer.status_code, media_type=answer.media_type, headers=answer.headers
        )
    native = CallbackRequest(body=body, headers=headers, path=request.url.path, query=request.url.query or "")
    answer, ids = await gateway.ingest.handle_callback(plugin, native)
    out = dict(answer.headers)
    if ids:
        out["Notigate-Notification-Ids"] = ",".join(ids)
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type, headers=out)
