"""The plugin as the engine sees it: discovered through its entry point, configured by msgspec."""

from __future__ import annotations

import pytest

from notigate import ConfigError, convert
from notigate.testing import ChannelContract
from notigate_channel_email import EmailChannel, EmailConfig


def test_config_defaults() -> None:
    """An empty [channels.email] section gives the documented defaults."""
    assert convert({}, EmailConfig, "channels.email") == EmailConfig(
        host="127.0.0.1",
        port=25,
        sender="Notigate <notigate@localhost>",
        security="none",
        username=None,
        password=None,
        timeout="10s",
        ca_file=None,
        max_connections=4,
    )


def test_config_from_product_example() -> None:
    """The [channels.email] example of product.md is accepted."""
    config = convert(
        {"host": "127.0.0.1", "port": 25, "sender": "Notigate <alerts@example.com>"}, EmailConfig, "channels.email"
    )
    assert config.sender == "Notigate <alerts@example.com>"


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"hots": "smtp"}, ["channels.email", "hots"]),
        ({"sender": "nobody"}, ["channels.email", "sender"]),
        ({"security": "ssl"}, ["channels.email.security"]),
        ({"port": 0}, ["channels.email.port"]),
        ({"timeout": "ten seconds"}, ["channels.email.timeout"]),
        ({"max_connections": 0}, ["channels.email.max_connections"]),
        ({"password": "x"}, ["channels.email", "username"]),
        ({"ca_file": "/nonexistent/ca.pem"}, ["channels.email", "ca_file"]),
    ],
)
def test_config_errors_name_the_key(section: dict[str, object], words: list[str]) -> None:
    """A typo or a bad value in [channels.email] is reported with its key."""
    with pytest.raises(ConfigError) as caught:
        convert(section, EmailConfig, "channels.email")
    assert all(word in str(caught.value) for word in words)


def test_password_not_in_config_error() -> None:
    """A config error elsewhere in the section does not quote the password."""
    with pytest.raises(ConfigError) as caught:
        convert({"password": "s3cr3t", "username": "u", "sender": "nobody"}, EmailConfig, "channels.email")
    assert "s3cr3t" not in str(caught.value)


def test_breaker_destination_is_the_smtp_server() -> None:
    """All recipients share one circuit breaker: the SMTP host and port."""
    from notigate import convert
    from notigate_channel_email._channel import EmailChannel
    from notigate_channel_email._config import EmailConfig

    channel = EmailChannel(convert({"host": "smtp.example.com", "port": 587}, EmailConfig, "channels.email"))
    assert channel.destination(None) == "smtp:smtp.example.com:587"  # type: ignore[arg-type]


class TestContract(ChannelContract):
    """The engine's contract (``notigate.testing``): discovered, switched off by config, the base class, the sample."""

    plugin_class = EmailChannel
    entry_point = "channel_email"
    distribution = "notigate-channel-email"
    sample_address = "ops@example.com"
