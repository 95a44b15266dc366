"""The HTTP API (Litestar): callbacks, notifications, plugins, health, metrics, docs."""

import os

from notigate.config.loading import env

# prometheus_client picks multi-process mode at import when the variable merely exists; an
# empty one counts as unset (product.md), so it goes before the API imports the client.
if env("PROMETHEUS_MULTIPROC_DIR") is None:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

from notigate.api.app import create_app

__all__ = ["create_app"]
