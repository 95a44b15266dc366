"""The HTTP API (Litestar): callbacks, notifications, plugins, health, metrics, docs."""

from notigate.api.app import create_app

__all__ = ["create_app"]
