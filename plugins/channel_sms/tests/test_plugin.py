"""The plugin as the engine sees it: discovered through its entry point, configured by msgspec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from notigate import ConfigError, convert
from notigate.testing import ChannelContract, assemble
from notigate_channel_sms import SmsChannel, SmsConfig

from .conftest import ACCOUNT_SID, AUTH_TOKEN, SENDER

SECTION = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "sender": SENDER}


def test_config_defaults() -> None:
    """A section with only the credentials and sender gives the documented defaults."""
    config = convert(SECTION, SmsConfig, "channels.sms")
    assert (config.base_url, config.timeout, config.max_connections) == ("https://api.twilio.com", "10s", 20)


def test_sample_config() -> None:
    """The embedded default's sample section decodes into the config type, with placeholder credentials."""
    config = convert(SmsChannel.sample_config, SmsConfig, "channels.sms")
    assert config.sender == "+15005550006" and "sandbox" in config.auth_token


def test_unconfigured_is_an_error() -> None:
    """Without credentials the section does not decode, so the engine leaves the channel inactive."""
    with pytest.raises(ConfigError) as caught:
        convert({}, SmsConfig, "channels.sms")
    assert "channels.sms" in str(caught.value) and "required key is missing" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"sender": "0812-000-0001"}, ["channels.sms", "sender", "E.164"]),
        ({"sender": "+62 812"}, ["channels.sms", "sender"]),
        ({"base_url": "ftp://api.example.com"}, ["channels.sms.base_url"]),
        ({"base_url": "api.twilio.com"}, ["channels.sms.base_url"]),
        ({"timeout": "ten seconds"}, ["channels.sms.timeout"]),
        ({"timeout": "0s"}, ["channels.sms", "timeout"]),
        ({"max_connections": 0}, ["channels.sms.max_connections"]),
        ({"account_sid": "AC1/../x"}, ["channels.sms.account_sid"]),
        ({"auth_token": ""}, ["channels.sms.auth_token"]),
        ({"from": SENDER}, ["channels.sms", "from", "unknown key"]),
    ],
)
def test_config_errors_name_the_key(changes: dict[str, object], words: list[str]) -> None:
    """A typo or a bad value in [channels.sms], including a non-E.164 sender, is reported with its key."""
    with pytest.raises(ConfigError) as caught:
        convert(SECTION | changes, SmsConfig, "channels.sms")
    assert all(word in str(caught.value) for word in words), str(caught.value)


def test_bad_sender_direct() -> None:
    """Building the config in code with a non-E.164 sender raises ValueError."""
    with pytest.raises(ValueError, match=r"E\.164"):
        SmsConfig(**(SECTION | {"sender": "Notigate"}))


def test_repr_hides_token() -> None:
    """The auth token never appears in the config's repr."""
    text = repr(SmsConfig(**SECTION))
    assert AUTH_TOKEN not in text and ACCOUNT_SID in text and "auth_token='***'" in text


@pytest.mark.parametrize("number", ["+6281200000001", "+15005550006", "+447911123456", "+12345678"])
def test_recipient_accepted(number: str) -> None:
    """E.164 numbers are usable recipients."""
    assert SmsChannel(SmsConfig(**SECTION)).validate_recipient(number) is None


@pytest.mark.parametrize(
    "number",
    [
        "081200000001",
        "+0123",
        "+62 812",
        "+6281200000001234567",
        "6281200000001",
        "+62-812-0000-0001",
        "",
        "risk@example.com",
    ],
)
def test_recipient_rejected(number: str) -> None:
    """Anything but E.164 is rejected with an error that names the expected form."""
    error = SmsChannel(SmsConfig(**SECTION)).validate_recipient(number)
    assert error is not None and "E.164" in error and "+6281200000001" in error


def gateway(tmp_path: Path, **data: Any) -> Any:
    """A gateway from plain settings, on a SQLite file that is never opened."""
    return assemble(data, database_url=f"sqlite:///{tmp_path / 'x.db'}")


def test_gateway_rejects_bad_rule_recipient(tmp_path: Path) -> None:
    """At start, a rule's SMS recipient that is not E.164 is an error naming its key."""
    rules = [{"name": "r", "send": [{"channel": "sms", "to": ["+6281200000001", "081200000001"]}]}]
    with pytest.raises(ConfigError) as caught:
        gateway(tmp_path, channels={"sms": SECTION}, rules=rules)
    (problem,) = caught.value.problems
    assert problem.startswith("rules[0].send[0].to[1]: '081200000001' is not an E.164 phone number")


def test_gateway_configures_the_channel(tmp_path: Path) -> None:
    """A complete [channels.sms] gives an active sms channel with that configuration."""
    rules = [{"name": "r", "send": [{"channel": "sms", "to": ["+6281200000001"]}]}]
    gw = gateway(tmp_path, channels={"sms": SECTION}, rules=rules)
    assert isinstance(gw.channels["sms"], SmsChannel) and gw.channels["sms"].config == SmsConfig(**SECTION)


def test_gateway_leaves_unconfigured_channel_inactive(tmp_path: Path) -> None:
    """Without [channels.sms] the channel stays inactive with a warning, not a start-up error."""
    gw = gateway(tmp_path)
    assert "sms" not in gw.channels
    assert any(w.startswith("channels.sms: not configured") for w in gw.warnings)


def test_embedded_default_runs_on_the_sample(tmp_path: Path) -> None:
    """On the embedded default (sandbox on) the sms channel is active with its sample section."""
    gw = assemble(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    channel = gw.channels["sms"]
    assert gw.settings.sandbox.enabled and isinstance(channel, SmsChannel)
    assert channel.config == SmsConfig(**SmsChannel.sample_config)


def test_breaker_destination_is_the_provider_account() -> None:
    """All numbers share one circuit breaker: the provider URL and account."""
    from notigate import convert
    from notigate_channel_sms._channel import SmsChannel
    from notigate_channel_sms._config import SmsConfig

    config = convert(
        {"base_url": "https://api.example.com/", "account_sid": "AC1", "auth_token": "t", "sender": "+15005550006"},
        SmsConfig,
        "channels.sms",
    )
    assert SmsChannel(config).destination(None) == "sms:https://api.example.com/Accounts/AC1"  # type: ignore[arg-type]


class TestContract(ChannelContract):
    """The engine's contract (``notigate.testing``): discovered, switched off by config, the base class, the sample."""

    plugin_class = SmsChannel
    entry_point = "channel_sms"
    distribution = "notigate-channel-sms"
    sample_address = "+6281200000001"
