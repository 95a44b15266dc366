"""Discovery through the entry point, the Platform protocol, config and answers."""

from __future__ import annotations

import msgspec
import pytest

from notigate import CallbackRequest, CallbackResult, ConfigError, Platform, convert
from notigate.testing import PlatformContract
from notigate_platform_arindo._config import ArindoConfig
from notigate_platform_arindo._platform import ArindoPlatform


def test_platform_satisfies_the_protocol(platform: ArindoPlatform) -> None:
    """ArindoPlatform has the name, config type, sample config and methods the engine needs."""
    assert isinstance(platform, Platform)
    assert ArindoPlatform.name == "arindo"
    assert ArindoPlatform.config_type is ArindoConfig
    assert ArindoPlatform.sample_config == {"server_key": "SB-Mid-server-EXAMPLE"}


def test_sample_config_decodes_into_the_config_type() -> None:
    """The embedded default's section is a valid ArindoConfig."""
    config = convert(ArindoPlatform.sample_config, ArindoPlatform.config_type, "platforms.arindo")
    assert config == ArindoConfig(server_key="SB-Mid-server-EXAMPLE")


@pytest.mark.parametrize(
    "section, key",
    [
        ({}, "server_key"),
        ({"server_key": ""}, "server_key"),
        ({"server_key": "k", "serverkey": "typo"}, "serverkey"),
    ],
)
def test_bad_config_names_the_key(section: dict[str, str], key: str) -> None:
    """A missing, empty or misspelled key is a ConfigError naming the section and the key."""
    with pytest.raises(ConfigError) as info:
        convert(section, ArindoConfig, "platforms.arindo")
    assert str(info.value).startswith("platforms.arindo") and key in str(info.value)


def test_config_repr_hides_the_server_key() -> None:
    """The secret never shows in a repr (logs, tracebacks)."""
    assert "SECRET" not in repr(ArindoConfig(server_key="SB-Mid-server-SECRET"))


@pytest.mark.parametrize("status", [200, 400, 401, 415, 503])
def test_answer_keeps_the_proposed_status(platform: ArindoPlatform, status: int) -> None:
    """ARINDO acknowledges any 2xx and retries on anything else, so the proposal stands."""
    answer = platform.answer(CallbackResult(status_code=status, notification_ids=["ntf_1"]), CallbackRequest(body=b""))
    assert answer.status_code == status
    body = msgspec.json.decode(answer.body)
    assert body["status_code"] == status
    assert ("notification_ids" in body) == (200 <= status < 300)


class TestContract(PlatformContract):
    """The engine's contract (``notigate.testing``): discovered, switched off by config, the base class, the sample."""

    plugin_class = ArindoPlatform
    entry_point = "platform_arindo"
    distribution = "notigate-platform-arindo"
