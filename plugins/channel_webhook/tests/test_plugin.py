"""The plugin as the engine sees it: discovered through its entry point, configured by msgspec."""

from __future__ import annotations

import pytest

from notigate import ConfigError, convert
from notigate.testing import ChannelContract
from notigate_channel_webhook import WebhookChannel, WebhookConfig


def test_config_defaults() -> None:
    """An empty [channels.webhook] section gives the documented defaults."""
    assert convert({}, WebhookConfig, "channels.webhook") == WebhookConfig(
        timeout="10s", connect_timeout="5s", max_connections=100, user_agent="Notigate-Webhooks/0.1"
    )


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"timeuot": "5s"}, ["channels.webhook", "timeuot"]),
        ({"timeout": "ten seconds"}, ["channels.webhook.timeout"]),
        ({"max_connections": 0}, ["channels.webhook.max_connections"]),
    ],
)
def test_config_errors_name_the_key(section: dict[str, object], words: list[str]) -> None:
    """A typo or a bad value in [channels.webhook] is reported with its key."""
    with pytest.raises(ConfigError) as caught:
        convert(section, WebhookConfig, "channels.webhook")
    assert all(word in str(caught.value) for word in words)


class TestContract(ChannelContract):
    """The engine's contract (``notigate.testing``): discovered, switched off by config, the base class, the sample."""

    plugin_class = WebhookChannel
    entry_point = "channel_webhook"
    distribution = "notigate-channel-webhook"
    sample_address = "http://127.0.0.1:9/hooks"
