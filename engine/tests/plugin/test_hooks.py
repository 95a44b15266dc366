"""Every hook of ``notigate.plugin.hookspecs`` has a test here named ``test_hook_<hook>``, and each
one goes through the plugin manager; discovery through entry points is ``test_manager``'s. Datasette's
rule: a hook without a test is a hook nobody knows still works."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec

from notigate import (
    CallbackRequest,
    ChannelBase,
    Delivered,
    Event,
    Message,
    Notification,
    Outcome,
    PlatformBase,
    Rendered,
    Route,
    hookimpl,
)
from notigate.plugin import hookspecs
from notigate.plugin.manager import Plugins, load_plugins


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class FakePlatform(PlatformBase):
    name: ClassVar[str] = "fake"
    config_type: ClassVar[type[msgspec.Struct]] = _Config

    async def parse(self, request: CallbackRequest) -> list[Event]:
        return []

    def sample_request(self, code: str | None = None) -> CallbackRequest:
        return CallbackRequest(body=b"{}")


class FakeChannel(ChannelBase):
    name: ClassVar[str] = "fake"
    config_type: ClassVar[type[msgspec.Struct]] = _Config

    def render(self, message: Message) -> Rendered:
        return Rendered(body=message.text)

    async def send(self, message: Message, rendered: Rendered) -> Outcome:
        return Delivered()


class NotSubclassed:
    """Has the shape of a platform and a channel, but not the kit's base classes."""

    name = "shaped"
    config_type = _Config


def _registering(hook: str, *classes: type[Any]) -> object:
    class Plugin:
        pass

    def register(self: object, register: Callable[[type[Any]], None]) -> None:
        for cls in classes:
            register(cls)

    register.__name__ = hook
    setattr(Plugin, hook, hookimpl(register))
    return Plugin()


def _registered(hook: str, good: type[Any]) -> tuple[Plugins, str]:
    """Plugins ``good`` (registering ``good``) and ``bad`` (registering ``NotSubclassed``) loaded; the
    error that marks ``bad`` broken."""
    plugins = load_plugins(
        entry_points=list,
        builtins=[("good", _registering(hook, good)), ("bad", _registering(hook, NotSubclassed))],
    )
    [broken] = [i for i in plugins.infos if i.name == "bad"]
    assert broken.kind == "broken"
    return plugins, broken.error or ""


def test_hook_notigate_register_platforms() -> None:
    """A registered PlatformBase subclass is offered under its name; a class that only has the
    shape marks its plugin broken, naming the base class it lacks."""
    plugins, error = _registered("notigate_register_platforms", FakePlatform)
    assert plugins.platforms == {"fake": FakePlatform}
    assert "notigate.PlatformBase" in error


def test_hook_notigate_register_channels() -> None:
    """A registered ChannelBase subclass is offered under its name, with the base's defaults."""
    plugins, error = _registered("notigate_register_channels", FakeChannel)
    assert plugins.channels == {"fake": FakeChannel}
    assert "notigate.ChannelBase" in error
    channel = FakeChannel(_Config())
    assert channel.validate_recipient("anyone") is None and channel.uses_templates


def test_hook_notigate_route_event(make_notification: Callable[..., Notification]) -> None:
    """Every enabled implementation edits the same list of routes, in registration order."""

    class Adds:
        @hookimpl
        def notigate_route_event(self, notification: Notification, routes: list[Route]) -> None:
            routes.append(Route(channel="fake", recipient=notification.id, rule="adds"))

    class Removes:
        @hookimpl(trylast=True)
        def notigate_route_event(self, notification: Notification, routes: list[Route]) -> None:
            routes[:] = [r for r in routes if r.recipient != "drop-me"]

    plugins = load_plugins(entry_points=list, builtins=[("adds", Adds()), ("removes", Removes())])
    n = make_notification()
    routes = [Route(channel="fake", recipient="drop-me", rule="earlier")]
    plugins.hook("notigate_route_event")(notification=n, routes=routes)
    assert [(r.recipient, r.rule) for r in routes] == [(n.id, "adds")]


def test_every_hook_has_a_test() -> None:
    """A new hook specification fails here until a ``test_hook_<name>`` exists for it."""
    hooks = {name for name in vars(hookspecs) if name.startswith("notigate_")}
    tested = {name.removeprefix("test_hook_") for name in vars(sys.modules[__name__]) if name.startswith("test_hook_")}
    assert hooks and hooks <= tested, f"hooks without a test: {sorted(hooks - tested)}"
