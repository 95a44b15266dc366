"""``notigate.plugin.manager``: discovery through entry points, disabling, broken plugins, hook calls."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import pluggy
import pytest

import notigate
from notigate.events import Notification
from notigate.plugin.manager import PluginInfo, Plugins, load_plugins
from notigate.plugin.route import Route

BROKEN = importlib.metadata.EntryPoint(name="broken", value="notigate_no_such_module", group="notigate")


def installed() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group="notigate"))


def info(plugins: Plugins, name: str) -> PluginInfo:
    (found,) = [i for i in plugins.infos if i.name == name]
    return found


class Probe:
    """A minimal in-test plugin that records its calls and adds one route."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @notigate.hookimpl
    def notigate_route_event(self, notification: Notification, routes: list[Route]) -> None:
        self.calls.append(notification.id)
        routes.append(Route(channel="webhook", recipient="probe", rule="probe"))


class FakeEntryPoint:
    """Quacks like ``importlib.metadata.EntryPoint`` but loads a given object."""

    dist = None

    def __init__(self, name: str, obj: object) -> None:
        self.name = name
        self._obj = obj

    def load(self) -> object:
        return self._obj


class Misspelled:
    @notigate.hookimpl
    def notigate_route_evnt(self, notification: Notification, routes: list[Route]) -> None:
        raise AssertionError("never called")


# -- discovery ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "distribution", "provides"),
    [
        ("platform_arindo", "platform", "notigate-platform-arindo", ["arindo"]),
        ("channel_webhook", "channel", "notigate-channel-webhook", ["webhook"]),
    ],
)
def test_installed_plugins_are_discovered_through_entry_points(
    name: str, kind: str, distribution: str, provides: list[str]
) -> None:
    """The bundled plugins are found through group ``notigate`` with their distribution and version."""
    plugins = load_plugins()
    i = info(plugins, name)
    assert (i.kind, i.distribution, i.enabled, i.provides, i.error) == (kind, distribution, True, provides, None)
    assert i.version == importlib.metadata.version(distribution)


def test_enabled_plugins_register_their_classes() -> None:
    """Enabled plugins' platform and channel classes are available by name."""
    plugins = load_plugins()
    assert plugins.platforms["arindo"].name == "arindo"
    assert plugins.channels["webhook"].name == "webhook"
    assert plugins.problems() == []


def test_infos_are_sorted_by_name() -> None:
    """Plugins are listed in name order, whatever the discovery order."""
    plugins = load_plugins(entry_points=lambda: list(reversed(installed())), builtins=[("probe", Probe())])
    names = [i.name for i in plugins.infos]
    assert names == sorted(names)


def test_builtins_are_listed_as_part_of_the_engine() -> None:
    """A built-in plugin is listed with the engine's distribution and version and its kind."""
    plugins = load_plugins(builtins=[("probe", Probe())])
    i = info(plugins, "probe")
    assert (i.kind, i.distribution, i.version, i.enabled) == (
        "rules",
        "notigate",
        importlib.metadata.version("notigate"),
        True,
    )


def test_injected_entry_points_replace_discovery() -> None:
    """``entry_points=`` replaces discovery: only what it yields is loaded."""
    arindo = [ep for ep in installed() if ep.name == "platform_arindo"]
    plugins = load_plugins(entry_points=lambda: arindo)
    assert [i.name for i in plugins.infos] == ["platform_arindo"]
    assert list(plugins.channels) == []


def test_duplicate_entry_point_names_load_once() -> None:
    """An entry point name seen twice is registered once (the first wins)."""
    plugins = load_plugins(entry_points=lambda: installed() + installed())
    assert sorted(i.name for i in plugins.infos) == sorted({ep.name for ep in installed()})


# -- disabling ---------------------------------------------------------------------


def test_disabled_plugin_is_listed_but_registers_nothing() -> None:
    """A disabled plugin is listed with ``enabled False`` and its classes are absent."""
    plugins = load_plugins(disabled=["platform_arindo"])
    i = info(plugins, "platform_arindo")
    assert (i.enabled, i.kind, i.provides) == (False, "platform", ["arindo"])
    assert "arindo" not in plugins.platforms
    assert "webhook" in plugins.channels
    assert plugins.problems() == []


def test_disabled_channel_plugin_registers_nothing() -> None:
    """Disabling ``channel_webhook`` removes the webhook channel and keeps ARINDO."""
    plugins = load_plugins(disabled=["channel_webhook"])
    assert "webhook" not in plugins.channels
    assert "arindo" in plugins.platforms
    assert info(plugins, "channel_webhook").enabled is False


def test_hook_calls_enabled_plugins(make_notification: Callable[..., Notification]) -> None:
    """An enabled plugin's hook implementation is called through ``hook()``."""
    probe = Probe()
    plugins = load_plugins(builtins=[("probe", probe)])
    n = make_notification()
    routes: list[Route] = []
    plugins.hook("notigate_route_event")(notification=n, routes=routes)
    assert probe.calls == [n.id]
    assert [r.recipient for r in routes] == ["probe"]


def test_hook_skips_disabled_plugins(make_notification: Callable[..., Notification]) -> None:
    """A disabled plugin's hook implementation is never called through ``hook()``."""
    probe, other = Probe(), Probe()
    plugins = load_plugins(disabled=["probe"], builtins=[("probe", probe), ("other", other)])
    routes: list[Route] = []
    plugins.hook("notigate_route_event")(notification=make_notification(), routes=routes)
    assert probe.calls == []
    assert len(other.calls) == 1
    assert info(plugins, "probe").enabled is False


def test_unknown_disabled_name_is_reported() -> None:
    """A disabled name that matches no plugin is reported as a problem, not an error."""
    plugins = load_plugins(disabled=["channel_pigeon", "platform_arindo"])
    assert plugins.unknown_disabled == ["channel_pigeon"]
    assert plugins.problems() == ["plugins.disabled: no plugin named 'channel_pigeon' is installed"]


# -- broken plugins --------------------------------------------------------------------


def test_broken_entry_point_is_reported_and_the_others_load() -> None:
    """A plugin that fails to import is listed as broken with its error; every other plugin still loads."""
    plugins = load_plugins(entry_points=lambda: [BROKEN, *installed()])
    broken = info(plugins, "broken")
    assert (broken.kind, broken.enabled, broken.provides) == ("broken", False, [])
    assert broken.error is not None and broken.error.startswith("ModuleNotFoundError")
    assert "notigate_no_such_module" in broken.error
    assert "arindo" in plugins.platforms and "webhook" in plugins.channels
    (problem,) = plugins.problems()
    assert problem.startswith("plugin 'broken' failed to load: ModuleNotFoundError")


def test_broken_plugin_named_in_disabled_is_not_unknown() -> None:
    """Disabling a broken plugin does not also report its name as unknown."""
    plugins = load_plugins(disabled=["broken"], entry_points=lambda: [BROKEN, *installed()])
    assert plugins.unknown_disabled == []


def test_entry_point_with_an_invalid_hook_signature_is_reported() -> None:
    """A plugin whose hook implementation asks for an argument the spec lacks is reported, not fatal."""

    class BadArgs:
        @notigate.hookimpl
        def notigate_route_event(self, notification: Notification, routes: list[Route], extra: Any) -> None:
            pass

    bad = BadArgs()
    plugins = load_plugins(entry_points=lambda: [FakeEntryPoint("bad_args", bad), *installed()])
    i = info(plugins, "bad_args")
    assert i.kind == "broken" and i.error is not None and "PluginValidationError" in i.error
    assert not plugins.pm.is_registered(bad)
    assert "arindo" in plugins.platforms


def test_misspelled_hook_implementation_fails_at_load() -> None:
    """A hook implementation whose name matches no spec makes loading fail loudly (``check_pending``)."""
    with pytest.raises(pluggy.PluginValidationError, match="notigate_route_evnt"):
        load_plugins(builtins=[("typo", Misspelled())])


def test_plugin_without_hooks_has_kind_none() -> None:
    """A plugin that implements no hook is listed with kind ``none``."""
    plugins = load_plugins(entry_points=list, builtins=[("empty", object())])
    assert info(plugins, "empty").kind == "none"


def test_a_misspelled_hook_in_an_installed_plugin_marks_only_it_broken(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed plugin implementing an unknown hook is reported broken; the others still load."""
    (tmp_path / "notigate_misspelled.py").write_text(
        "from notigate import hookimpl\n\n@hookimpl\ndef notigate_register_platform(register):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    real = list(importlib.metadata.entry_points(group="notigate"))
    bad = importlib.metadata.EntryPoint(name="misspelled", value="notigate_misspelled", group="notigate")
    plugins = load_plugins(entry_points=lambda: [*real, bad])
    info = {i.name: i for i in plugins.infos}["misspelled"]
    assert (info.kind, info.enabled) == ("broken", False) and "notigate_register_platform" in (info.error or "")
    assert "arindo" in plugins.platforms
