"""``[channels.webhook]``: how long to wait for a subscriber and how many sockets to hold."""

from __future__ import annotations

from typing import Annotated

import msgspec

from notigate import Duration


class WebhookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Settings of the webhook channel; unknown keys are reported at start.

    ``timeout`` bounds each read, write and wait for a pooled connection, and
    ``connect_timeout`` the TCP/TLS handshake; a whole exchange never outlasts their sum.
    """

    timeout: Duration = "10s"
    connect_timeout: Duration = "5s"
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 100
    user_agent: str = "Notigate-Webhooks/0.1"
