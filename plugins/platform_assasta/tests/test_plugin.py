"""Discovery through the entry point, the Platform protocol, and the configuration section."""

from __future__ import annotations

from typing import Any

import pytest

from notigate import ConfigError, Platform, convert
from notigate.testing import PlatformContract
from notigate_platform_assasta._config import AssastaConfig, MerchantCredentials
from notigate_platform_assasta._platform import AssastaPlatform


def test_platform_satisfies_the_protocol(platform: AssastaPlatform) -> None:
    """AssastaPlatform has the name, config type, sample config and methods the engine needs."""
    assert isinstance(platform, Platform)
    assert AssastaPlatform.name == "assasta"
    assert AssastaPlatform.config_type is AssastaConfig
    assert AssastaPlatform.sample_config == {"merchants": {"31835": {"user_id": "bot31835", "password": "p@ssw0rd"}}}


def test_sample_config_decodes_into_the_config_type() -> None:
    """The embedded default's section is a valid AssastaConfig with the guide's merchant and a 64 KiB bound."""
    config = convert(AssastaPlatform.sample_config, AssastaPlatform.config_type, "platforms.assasta")
    assert config == AssastaConfig(merchants={"31835": MerchantCredentials(user_id="bot31835", password="p@ssw0rd")})
    assert config.max_body_size == 65536


def test_toml_section_as_the_product_documents_it() -> None:
    """[platforms.assasta.merchants.31835] with user_id and password, plus max_body_size, decodes."""
    section = {
        "merchants": {"31835": {"user_id": "bot31835", "password": "x"}, "40001": {"user_id": "b", "password": "y"}},
        "max_body_size": 4096,
    }
    config = convert(section, AssastaConfig, "platforms.assasta")
    assert set(config.merchants) == {"31835", "40001"} and config.max_body_size == 4096


@pytest.mark.parametrize(
    "section, key",
    [
        ({}, "merchants"),
        ({"merchants": {}}, "merchants"),
        ({"merchants": {"31835": {"user_id": "bot31835"}}}, "password"),
        ({"merchants": {"31835": {"password": "p"}}}, "user_id"),
        ({"merchants": {"31835": {"user_id": "", "password": "p"}}}, "user_id"),
        ({"merchants": {"31835": {"user_id": "u", "password": ""}}}, "password"),
        ({"merchants": {"31835": {"user_id": "u", "password": "p", "pasword": "typo"}}}, "pasword"),
        ({"merchants": {"31835": {"user_id": "u", "password": "p"}}, "merchant": {}}, "merchant"),
        ({"merchants": {"31835": {"user_id": "u", "password": "p"}}, "max_body_size": 10}, "max_body_size"),
        ({"merchants": {"": {"user_id": "u", "password": "p"}}}, "merchants"),
    ],
)
def test_bad_config_names_the_key(section: dict[str, Any], key: str) -> None:
    """A missing, empty or misspelled key is a ConfigError naming the section and the key."""
    # msgspec reports a merchant's entry as ``merchants[...]``, without its id.
    with pytest.raises(ConfigError) as info:
        convert(section, AssastaConfig, "platforms.assasta")
    assert str(info.value).startswith("platforms.assasta") and key in str(info.value)


def test_config_repr_hides_passwords() -> None:
    """Passwords never show in a repr (logs, tracebacks), the user ids do."""
    config = AssastaConfig(merchants={"31835": MerchantCredentials(user_id="bot31835", password="SECRET-PW")})
    assert "SECRET-PW" not in repr(config) and "SECRET-PW" not in repr(config.merchants["31835"])
    assert "bot31835" in repr(config)


class TestContract(PlatformContract):
    """The engine's contract (``notigate.testing``): discovered, switched off by config, the base class, the sample."""

    plugin_class = AssastaPlatform
    entry_point = "platform_assasta"
    distribution = "notigate-platform-assasta"
