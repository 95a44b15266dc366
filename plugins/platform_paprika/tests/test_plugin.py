"""Discovery through the entry point, the Platform protocol, config and answers."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from notigate import CallbackRequest, CallbackResult, ConfigError, Platform, convert
from notigate.testing import PlatformContract
from notigate_platform_paprika._config import PaprikaConfig
from notigate_platform_paprika._platform import PaprikaPlatform

SAMPLE = {"client_id": "MCH-PAP-0001", "secret_key": "SK-PAP-EXAMPLE-SECRET"}


def test_platform_satisfies_the_protocol(platform: PaprikaPlatform) -> None:
    """PaprikaPlatform has the name, config type, sample config and methods the engine needs."""
    assert isinstance(platform, Platform)
    assert PaprikaPlatform.name == "paprika"
    assert PaprikaPlatform.config_type is PaprikaConfig
    assert PaprikaPlatform.sample_config == SAMPLE


def test_sample_config_decodes_with_the_defaults() -> None:
    """The embedded default's section is the guide's credentials with the default path and skew."""
    config = convert(PaprikaPlatform.sample_config, PaprikaPlatform.config_type, "platforms.paprika")
    assert config == PaprikaConfig(**SAMPLE)
    assert config.public_path == "/api/v1/platforms/paprika/callbacks"
    assert config.max_clock_skew == "5m"


def test_engine_constructs_it_with_a_real_clock() -> None:
    """Built the way the engine builds it (config only), the clock is the current aware UTC time."""
    platform = PaprikaPlatform(PaprikaConfig(**SAMPLE))
    now = platform.clock()
    assert now.utcoffset() is not None and now.utcoffset().total_seconds() == 0


def test_full_section_decodes() -> None:
    """Every documented key of [platforms.paprika] is accepted, as product.md shows it."""
    section = {**SAMPLE, "public_path": "/paprika/callbacks", "max_clock_skew": "90s"}
    config = convert(section, PaprikaConfig, "platforms.paprika")
    assert (config.public_path, config.max_clock_skew) == ("/paprika/callbacks", "90s")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"secret_key": "s"}, "client_id"),
        ({"client_id": "c"}, "secret_key"),
        ({"client_id": "", "secret_key": "s"}, "client_id"),
        ({"client_id": "c", "secret_key": ""}, "secret_key"),
        ({**SAMPLE, "secretkey": "typo"}, "secretkey"),
        ({**SAMPLE, "public_path": "api/v1/platforms/paprika/callbacks"}, "public_path"),
        ({**SAMPLE, "public_path": "/callbacks?x=1"}, "public_path"),
        ({**SAMPLE, "max_clock_skew": "5 minutes"}, "max_clock_skew"),
        ({**SAMPLE, "max_clock_skew": "0s"}, "max_clock_skew"),
    ],
)
def test_bad_config_names_the_key(section: dict[str, str], key: str) -> None:
    """A missing, empty, misspelled or malformed key is a ConfigError naming the section and the key."""
    with pytest.raises(ConfigError) as info:
        convert(section, PaprikaConfig, "platforms.paprika")
    assert str(info.value).startswith("platforms.paprika") and key in str(info.value)


def test_config_repr_hides_the_secret_key() -> None:
    """The secret never shows in a repr (logs, tracebacks); the rest does."""
    text = repr(PaprikaConfig(client_id="MCH-PAP-0001", secret_key="SK-PAP-SECRET-VALUE"))
    assert "SK-PAP-SECRET-VALUE" not in text and "MCH-PAP-0001" in text


@pytest.mark.parametrize("proposed", [200, 201, 202, 204])
def test_accepted_callback_is_answered_exactly_200(platform: PaprikaPlatform, proposed: int) -> None:
    """Only 200 acknowledges for PAPRIKA (202 would be a failure), so any accepted result is answered 200."""
    result = CallbackResult(status_code=proposed, notification_ids=["ntf_1"], duplicates=1)
    answer = platform.answer(result, CallbackRequest(body=b"{}"))
    assert answer.status_code == 200
    body = msgspec.json.decode(answer.body)
    assert body["status_code"] == 200 and body["notification_ids"] == ["ntf_1"]
    assert answer.media_type == "application/json"


@pytest.mark.parametrize("status", [400, 401, 413, 415, 500, 503])
def test_rejections_and_failures_keep_their_status(platform: PaprikaPlatform, status: int) -> None:
    """4xx rejections and 5xx gateway failures are not acknowledged, so PAPRIKA retries."""
    result = CallbackResult(status_code=status, detail="why")
    answer = platform.answer(result, CallbackRequest(body=b""))
    assert answer.status_code == status
    assert msgspec.json.decode(answer.body) == {"status_code": status, "detail": "why"}


async def test_answer_to_a_parsed_rejection_keeps_401(platform: PaprikaPlatform, signed: Any) -> None:
    """A parse rejection's status reaches the answer unchanged."""
    from notigate import SignatureError

    request = signed(secret="wrong")
    with pytest.raises(SignatureError) as info:
        await platform.parse(request)
    result = CallbackResult(status_code=info.value.status_code, detail=info.value.detail)
    assert platform.answer(result, request).status_code == 401


class TestContract(PlatformContract):
    """The engine's contract (``notigate.testing``): discovered, switched off by config, the base class, the sample."""

    plugin_class = PaprikaPlatform
    entry_point = "platform_paprika"
    distribution = "notigate-platform-paprika"
