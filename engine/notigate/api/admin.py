"""Admin operations: reload the configuration without a restart."""

from __future__ import annotations

import msgspec
from litestar import post
from litestar.exceptions import ValidationException

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.config.loading import load_settings
from notigate.errors import ConfigError


class Reloaded(msgspec.Struct, frozen=True):
    rules: int
    warnings: list[str]


@post(
    "/api/v1/admin/reload",
    status_code=200,
    guards=[require_api_key],
    security=SECURITY,
    opt={"scope": "admin"},
    tags=["admin"],
    summary="Re-read the configuration, rules and templates; keep the old ones if invalid",
)
async def reload_config(gateway: GatewayDep) -> Reloaded:
    """Like SIGHUP, for this process. A broken file is answered 400 with every problem; nothing changes."""
    try:
        warnings = await gateway.reload(load_settings(gateway.config_path))
    except ConfigError as exc:
        raise ValidationException(
            "the new configuration was rejected; the running one stays",
            extra=[{"key": "config", "message": p} for p in exc.problems],
        ) from None
    return Reloaded(rules=len(gateway.settings.rules), warnings=warnings)
