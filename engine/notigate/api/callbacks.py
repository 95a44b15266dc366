"""``POST /api/v1/platforms/{platform}/callbacks``: the platforms' way in."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from notigate.api.deps import GatewayDep
from notigate.pipeline import handle_callback
from notigate.platform import CallbackRequest


@post(
    "/api/v1/platforms/{platform:str}/callbacks",
    status_code=200,
    tags=["platforms"],
    summary="Receive a platform's native callback",
    description="Authenticated by the platform's own signature; answered in the form the platform expects. "
    "The `Notigate-Notification-Ids` header lists the notifications the callback became.",
)
async def receive_callback(platform: FromPath[str], request: Request[Any, Any, Any], gateway: GatewayDep) -> Response[bytes]:
    plugin = gateway.platforms.get(platform.lower())
    if plugin is None:
        raise NotFoundException(f"no enabled platform named {platform!r}")
    native = CallbackRequest(
        body=await request.body(),
        headers={k.lower(): v for k, v in request.headers.items()},
        path=request.url.path,
        query=request.url.query or "",
    )
    answer, ids = await handle_callback(gateway, plugin, native)
    headers = dict(answer.headers)
    if ids:
        headers["Notigate-Notification-Ids"] = ",".join(ids)
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type, headers=headers)
