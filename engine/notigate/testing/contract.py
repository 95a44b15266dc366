"""The engine's contract with a plugin, as test classes a plugin's own tests subclass.

::

    from notigate.testing import PlatformContract

    class TestContract(PlatformContract):
        plugin_class = AcmePlatform
        entry_point = "platform_acme"          # its name in the entry-point group ``notigate``
        distribution = "notigate-platform-acme"

pytest then runs every ``test_…`` method below against the plugin. They are plain functions (an
``async`` step runs in ``asyncio.run``), so a plugin needs no asyncio plugin for pytest to use them.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any, ClassVar

import msgspec
import pytest

from notigate.config.loading import convert
from notigate.config.secret import Secret
from notigate.errors import ConfigError, PlatformInputError
from notigate.events import TAXONOMY
from notigate.ingest.pipeline import normalize
from notigate.masking import is_secret_key
from notigate.plugin.channel import Channel, ChannelBase, Rendered
from notigate.plugin.manager import load_plugins
from notigate.plugin.platform import CallbackRequest, CallbackResult, Platform, PlatformBase
from notigate.testing.messages import sample_message

GARBAGE = ((b"", "application/json"), (b"\x00\xff", "application/xml"), (b"{}", "text/plain"))
"""Bodies no platform accepts: each must be refused with an input error, never anything else."""

SITUATIONS = (200, 400, 401, 413, 415, 500, 503)
"""The statuses the engine proposes to ``answer()``: stored, unusable, unsigned, too large,
unsupported, the gateway's own failure, and "could not store, retry later"."""


def _secrets(struct: msgspec.Struct) -> list[str]:
    """The credentials in ``struct``: its ``Secret`` values and the strings of fields named like one
    (``password``, ``auth_token``, ``server_key``…), nested structs and mappings included."""
    found: list[str] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, str):
            if value and (isinstance(value, Secret) or is_secret_key(name)):
                found.append(str(value))
        elif isinstance(value, msgspec.Struct):
            for field in value.__struct_fields__:
                walk(getattr(value, field), field)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, str(key))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, name)

    walk(struct, "")
    return found


class _Contract:
    kind: ClassVar[str]
    plugin_class: ClassVar[type[Any]]
    entry_point: ClassVar[str]
    distribution: ClassVar[str]

    def _provided(self, plugins: Any) -> dict[str, type[Any]]:
        """The classes of this kind that ``plugins`` registered, by name."""
        raise NotImplementedError

    def _section(self) -> str:
        return f"{self.kind}s.{self.plugin_class.name}"

    def config(self) -> Any:
        """The plugin's sample section, decoded as the engine decodes it."""
        return convert(self.plugin_class.sample_config, self.plugin_class.config_type, self._section())

    def test_entry_point_is_declared_by_the_distribution(self) -> None:
        """The distribution declares the plugin in the entry-point group ``notigate``."""
        found = [ep for ep in importlib.metadata.entry_points(group="notigate") if ep.name == self.entry_point]
        assert len(found) == 1, f"no entry point {self.entry_point!r} in group notigate"
        assert found[0].dist is not None and found[0].dist.name == self.distribution

    def test_discovered_and_registered(self) -> None:
        """The engine's plugin manager finds the plugin and registers the class under its name."""
        plugins = load_plugins()
        assert self._provided(plugins)[self.plugin_class.name] is self.plugin_class
        [info] = [i for i in plugins.infos if i.name == self.entry_point]
        assert (info.kind, info.enabled, info.provides) == (self.kind, True, [self.plugin_class.name])
        assert info.error is None

    def test_switched_off_by_config(self) -> None:
        """``[plugins] disabled`` keeps the plugin's class out, without a problem reported."""
        plugins = load_plugins(disabled=[self.entry_point])
        assert self.plugin_class.name not in self._provided(plugins)
        assert not plugins.problems()

    def test_sample_config_decodes_into_the_config_type(self) -> None:
        """The embedded default's section is a valid config of the plugin."""
        assert isinstance(self.config(), self.plugin_class.config_type)

    def test_unknown_keys_are_refused_by_name(self) -> None:
        """A misspelled key is a ConfigError naming the section and the key, so typos show at start."""
        section = {**self.plugin_class.sample_config, "no_such_key_here": "x"}
        with pytest.raises(ConfigError) as caught:
            convert(section, self.plugin_class.config_type, self._section())
        assert str(caught.value).startswith(self._section()) and "no_such_key_here" in str(caught.value)

    def test_config_repr_hides_secrets(self) -> None:
        """No credential of the sample config shows in its repr (logs, tracebacks)."""
        config = self.config()
        for secret in _secrets(config):
            assert secret not in repr(config), "the config's repr shows a credential"


class PlatformContract(_Contract):
    """The contract of a platform plugin. Set ``plugin_class``, ``entry_point`` and ``distribution``."""

    kind = "platform"
    plugin_class: ClassVar[type[PlatformBase]]

    def _provided(self, plugins: Any) -> dict[str, type[Any]]:
        return dict(plugins.platforms)

    def platform(self) -> PlatformBase:
        """The platform as the engine builds it on the embedded default."""
        return self.plugin_class(self.config())

    def test_subclasses_the_base_and_meets_the_protocol(self) -> None:
        assert issubclass(self.plugin_class, PlatformBase)
        assert isinstance(self.platform(), Platform)
        assert self.plugin_class.name == self.plugin_class.name.lower() and self.plugin_class.name.isidentifier()

    def test_sample_round_trips(self) -> None:
        """Its own signed sample parses into events with taxonomy codes, aware times and its name."""
        platform = self.platform()
        events = asyncio.run(platform.parse(platform.sample_request(None)))
        assert events
        for event in events:
            assert event.platform == self.plugin_class.name
            assert event.code in TAXONOMY
            assert event.occurred_at.tzinfo is not None
            assert normalize(event).id.startswith("ntf_")  # the engine can store it

    def test_garbage_is_refused_with_an_input_error(self) -> None:
        """Unusable bodies raise one of the input errors (400, 401, 415), never anything else."""
        platform = self.platform()
        for body, content_type in GARBAGE:
            with pytest.raises(PlatformInputError):
                asyncio.run(platform.parse(CallbackRequest(body=body, headers={"content-type": content_type})))

    def test_answers_every_situation(self) -> None:
        """``answer()`` shapes an HTTP answer for every situation, keeping success and failure apart."""
        platform = self.platform()
        for status in SITUATIONS:
            answer = platform.answer(CallbackResult(status_code=status, detail="d"), CallbackRequest(body=b""))
            assert 100 <= answer.status_code < 600
            assert (200 <= answer.status_code < 300) == (status == 200), f"proposed {status}"


class ChannelContract(_Contract):
    """The contract of a channel plugin. Set ``plugin_class``, ``entry_point``, ``distribution``, and
    ``sample_address``: an address the channel sends to (a URL, an email address, a phone number)."""

    kind = "channel"
    plugin_class: ClassVar[type[ChannelBase]]
    sample_address: ClassVar[str]

    def _provided(self, plugins: Any) -> dict[str, type[Any]]:
        return dict(plugins.channels)

    def test_subclasses_the_base_and_meets_the_protocol(self) -> None:
        assert issubclass(self.plugin_class, ChannelBase) and isinstance(self.plugin_class.config_type, type)
        channel = self.plugin_class(self.config())
        try:
            assert isinstance(channel, Channel)
        finally:
            asyncio.run(channel.aclose())

    def test_renders_a_sample_message_without_sending_it(self) -> None:
        """``render()`` builds what would go on the wire (what sandbox mode stores) from a message."""
        channel = self.plugin_class(self.config())
        try:
            message = sample_message(
                self.plugin_class.name,
                self.sample_address,
                secret="whsec_c2VjcmV0LWZvci10ZXN0cw==",
                subject="[warning] arindo: card_declined",
                text="Card declined",
            )
            assert channel.validate_recipient(self.sample_address) is None
            assert isinstance(channel.render(message), Rendered)
            assert channel.destination(message)
        finally:
            asyncio.run(channel.aclose())
