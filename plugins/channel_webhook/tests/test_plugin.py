"""The plugin as the engine sees it: discovered through its entry point, configured by msgspec."""

from __future__ import annotations

import importlib.metadata

import pytest

from notigate import Channel, ConfigError
from notigate.config import convert
from notigate.plugins import load_plugins
from notigate_channel_webhook import WebhookChannel, WebhookConfig


def test_entry_point() -> None:
    """The distribution notigate-channel-webhook declares channel_webhook in group notigate."""
    (ep,) = [ep for ep in importlib.metadata.entry_points(group="notigate") if ep.name == "channel_webhook"]
    assert ep.dist is not None and ep.dist.name == "notigate-channel-webhook"
    assert ep.value == "notigate_channel_webhook"


def test_discovered() -> None:
    """The engine's plugin manager finds and registers the webhook channel."""
    plugins = load_plugins()
    assert plugins.channels["webhook"] is WebhookChannel
    (info,) = [i for i in plugins.infos if i.name == "channel_webhook"]
    assert (info.kind, info.provides, info.enabled) == ("channel", ["webhook"], True)


def test_disabled() -> None:
    """[plugins] disabled switches the channel off without uninstalling it."""
    assert "webhook" not in load_plugins(disabled=["channel_webhook"]).channels


def test_is_a_channel() -> None:
    """WebhookChannel satisfies the engine's Channel protocol."""
    assert isinstance(WebhookChannel(WebhookConfig()), Channel)
    assert WebhookChannel.config_type is WebhookConfig


def test_config_defaults() -> None:
    """An empty [channels.webhook] section gives the documented defaults."""
    assert convert({}, WebhookConfig, "channels.webhook") == WebhookConfig(
        timeout="10s", connect_timeout="5s", max_connections=100, user_agent="Notigate-Webhooks/0.1")


@pytest.mark.parametrize(("section", "words"), [
    ({"timeuot": "5s"}, ["channels.webhook", "timeuot"]),
    ({"timeout": "ten seconds"}, ["channels.webhook.timeout"]),
    ({"max_connections": 0}, ["channels.webhook.max_connections"]),
])
def test_config_errors_name_the_key(section: dict[str, object], words: list[str]) -> None:
    """A typo or a bad value in [channels.webhook] is reported with its key."""
    with pytest.raises(ConfigError) as caught:
        convert(section, WebhookConfig, "channels.webhook")
    assert all(word in str(caught.value) for word in words)
