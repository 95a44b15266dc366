"""One contract, run against every installed platform and channel plugin."""

from __future__ import annotations

from typing import Any

import pytest

from notigate import (
    CallbackRequest,
    CallbackResult,
    Message,
    PlatformInputError,
    Rendered,
)
from notigate.config.loading import convert
from notigate.events import TAXONOMY
from notigate.ingest.pipeline import normalize
from notigate.plugin.manager import load_plugins

PLUGINS = load_plugins()
PLATFORMS = sorted(PLUGINS.platforms.items())
CHANNELS = sorted(PLUGINS.channels.items())


def _platform(cls: Any) -> Any:
    return cls(convert(cls.sample_config, cls.config_type, f"platforms.{cls.name}"))


@pytest.mark.parametrize(("name", "cls"), PLATFORMS, ids=[n for n, _ in PLATFORMS])
async def test_platform_sample_round_trips(name: str, cls: Any) -> None:
    """The platform's own signed sample parses into events with taxonomy codes, aware times and its name."""
    platform = _platform(cls)
    events = await platform.parse(platform.sample_request(None))
    assert events and all(e.platform == name and e.code in TAXONOMY and e.occurred_at.tzinfo for e in events)
    assert all(normalize(e).id.startswith("ntf_") for e in events)


@pytest.mark.parametrize(("name", "cls"), PLATFORMS, ids=[n for n, _ in PLATFORMS])
async def test_platform_refuses_garbage_with_an_input_error(name: str, cls: Any) -> None:
    """Garbage bodies are refused with one of the input errors, never anything else."""
    platform = _platform(cls)
    for body, content_type in ((b"", "application/json"), (b"\x00\xff", "application/xml"), (b"{}", "text/plain")):
        with pytest.raises(PlatformInputError):
            await platform.parse(CallbackRequest(body=body, headers={"content-type": content_type}))


@pytest.mark.parametrize(("name", "cls"), PLATFORMS, ids=[n for n, _ in PLATFORMS])
@pytest.mark.parametrize("status", [200, 400, 401, 413, 415, 500, 503])
def test_platform_answers_every_situation(name: str, cls: Any, status: int) -> None:
    """answer() shapes an HTTP answer for every situation the engine reports, keeping success and failure apart."""
    answer = _platform(cls).answer(CallbackResult(status_code=status, detail="d"), CallbackRequest(body=b""))
    assert 100 <= answer.status_code < 600
    assert (200 <= answer.status_code < 300) == (status == 200)


@pytest.mark.parametrize(("name", "cls"), CHANNELS, ids=[n for n, _ in CHANNELS])
def test_channel_config_type_and_render(name: str, cls: Any, make_message: Any) -> None:
    """Every channel declares its name and config type, and renders a message without sending it."""
    assert cls.name == name and isinstance(cls.config_type, type)
    sample = getattr(cls, "sample_config", {})
    channel = cls(convert(sample, cls.config_type, f"channels.{name}"))
    assert isinstance(channel.render(make_message(name)), Rendered)


@pytest.fixture
def make_message() -> Any:
    from datetime import UTC, datetime
    from decimal import Decimal

    from notigate.events import Notification

    addresses = {"webhook": "http://127.0.0.1:9/hooks", "email": "ops@example.com", "sms": "+6281200000001"}

    def build(channel: str) -> Message:
        now = datetime.now(UTC)
        n = Notification(
            id="ntf_01J9Z3ABCDEFGHJKMNPQRSTVWX",
            platform="arindo",
            code="card_declined",
            severity="warning",
            message="Card declined",
            platform_code="deny/202",
            occurred_at=now,
            received_at=now,
            amount=Decimal("150000.00"),
            currency="IDR",
        )
        return Message(
            id="dlv_01J9Z3ABCDEFGHJKMNPQRSTVWX",
            channel=channel,
            recipient="r",
            address=addresses.get(channel, "r"),
            notification=n,
            subject="[warning] arindo: card_declined",
            text="Card declined",
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )

    return build
