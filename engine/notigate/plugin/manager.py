"""The plugin manager: entry points of group ``notigate``, then the built-in plugins.

A plugin is a module (or object) registered under its entry-point name
(``platform_arindo``). ``[plugins] disabled`` is configuration data: disabled plugins
stay registered so they can be listed, but their hook implementations are never
called. A plugin that fails to import is reported with its error; the gateway runs on.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import msgspec
import pluggy

from notigate.plugin import hookspecs
from notigate.plugin.channel import Channel, ChannelBase
from notigate.plugin.platform import Platform, PlatformBase

log = logging.getLogger(__name__)

GROUP = "notigate"
PluginKind = Literal["platform", "channel", "rules", "mixed", "none", "broken"]


class PluginInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One discovered plugin, as ``notigate plugins`` and ``GET /api/v1/plugins`` show it."""

    name: str
    kind: PluginKind
    distribution: str | None
    version: str | None
    enabled: bool
    provides: list[str] = []
    error: str | None = None


class Plugins:
    """The loaded plugins and what the enabled ones registered."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        infos: list[PluginInfo],
        unknown_disabled: list[str],
        platforms: dict[str, type[Platform]],
        channels: dict[str, type[Channel]],
        disabled_objects: list[object],
        disabled_channels: dict[str, str],
    ) -> None:
        self.pm = pm
        self.infos = infos
        self.unknown_disabled = unknown_disabled
        self.platforms = platforms
        self.channels = channels
        self.disabled_channels = disabled_channels
        """Channel name → the disabled plugin that provides it (and no enabled one does)."""
        self._disabled_objects = disabled_objects

    def hook(self, name: str) -> Any:
        """A caller for hook ``name`` that skips disabled plugins."""
        return self.pm.subset_hook_caller(name, remove_plugins=self._disabled_objects)

    def problems(self) -> list[str]:
        """Human-readable problems worth reporting at start (never fatal)."""
        out = [f"plugins.disabled: no plugin named {n!r} is installed" for n in self.unknown_disabled]
        out += [f"plugin {i.name!r} failed to load: {i.error}" for i in self.infos if i.error]
        return out


def _registrations(
    pm: pluggy.PluginManager, plugin: object, others: list[object]
) -> tuple[list[type[Platform]], list[type[Channel]]]:
    platforms: list[type[Platform]] = []
    channels: list[type[Channel]] = []
    pm.subset_hook_caller("notigate_register_platforms", remove_plugins=others)(register=platforms.append)
    pm.subset_hook_caller("notigate_register_channels", remove_plugins=others)(register=channels.append)
    return platforms, channels


def _not_subclassed(platforms: list[Any], channels: list[Any]) -> str | None:
    """What is wrong with registered classes that do not subclass the kit's base classes, or None."""
    wrong = [
        f"{cls!r} does not subclass notigate.PlatformBase"
        for cls in platforms
        if not (isinstance(cls, type) and issubclass(cls, PlatformBase))
    ]
    wrong += [
        f"{cls!r} does not subclass notigate.ChannelBase"
        for cls in channels
        if not (isinstance(cls, type) and issubclass(cls, ChannelBase))
    ]
    return "; ".join(wrong) or None


def _kind(platforms: list[Any], channels: list[Any], plugin: object) -> PluginKind:
    if platforms and channels:
        return "mixed"
    if platforms:
        return "platform"
    if channels:
        return "channel"
    return "rules" if hasattr(plugin, "notigate_route_event") else "none"


def load_plugins(
    disabled: Iterable[str] = (),
    builtins: Sequence[tuple[str, object]] = (),
    entry_points: Callable[[], Iterable[importlib.metadata.EntryPoint]] | None = None,
) -> Plugins:
    """Discover, register and check every plugin; never raises for a broken plugin.

    ``builtins`` are (name, object) pairs registered after the entry points, such as
    the rule evaluator. ``entry_points`` replaces discovery (tests only).
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    disabled_names = set(disabled)
    infos: list[PluginInfo] = []
    loaded: list[tuple[str, object, str | None, str | None]] = []
    eps = entry_points() if entry_points else importlib.metadata.entry_points(group=GROUP)
    seen: set[str] = set()
    for ep in eps:
        if ep.name in seen:
            continue
        seen.add(ep.name)
        dist = ep.dist.name if ep.dist else None
        version = ep.dist.version if ep.dist else None
        try:
            obj = ep.load()
            pm.register(obj, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the gateway down
            log.error("plugin %s failed to load: %s: %s", ep.name, type(exc).__name__, exc)
            infos.append(
                PluginInfo(
                    name=ep.name,
                    kind="broken",
                    distribution=dist,
                    version=version,
                    enabled=False,
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            continue
        loaded.append((ep.name, obj, dist, version))
    for name, obj in builtins:
        pm.register(obj, name=name)
        loaded.append((name, obj, "notigate", _engine_version()))
    builtin_objects = {id(obj) for _, obj in builtins}
    while True:  # a misspelled hook in one installed plugin marks that plugin broken, not the gateway
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            if id(exc.plugin) in builtin_objects:
                raise
            pm.unregister(exc.plugin)
            for entry in [e for e in loaded if e[1] is exc.plugin]:
                loaded.remove(entry)
                log.error("plugin %s is invalid: %s", entry[0], exc)
                infos.append(
                    PluginInfo(
                        name=entry[0],
                        kind="broken",
                        distribution=entry[2],
                        version=entry[3],
                        enabled=False,
                        error=f"PluginValidationError: {exc}",
                    )
                )

    all_objects = [obj for _, obj, _, _ in loaded]
    disabled_objects = [obj for name, obj, _, _ in loaded if name in disabled_names]
    platforms: dict[str, type[Platform]] = {}
    channels: dict[str, type[Channel]] = {}
    switched_off: dict[str, str] = {}
    for name, obj, dist, version in loaded:
        others = [o for o in all_objects if o is not obj]
        regs_p, regs_c = _registrations(pm, obj, others)
        if wrong := _not_subclassed(regs_p, regs_c):
            pm.unregister(obj)
            log.error("plugin %s is invalid: %s", name, wrong)
            infos.append(
                PluginInfo(name=name, kind="broken", distribution=dist, version=version, enabled=False, error=wrong)
            )
            continue
        enabled = name not in disabled_names
        if enabled:
            platforms.update({cls.name: cls for cls in regs_p})
            channels.update({cls.name: cls for cls in regs_c})
        else:
            switched_off.update({cls.name: name for cls in regs_c})
        infos.append(
            PluginInfo(
                name=name,
                kind=_kind(regs_p, regs_c, obj),
                distribution=dist,
                version=version,
                enabled=enabled,
                provides=[c.name for c in regs_p] + [c.name for c in regs_c],
            )
        )
    known = {i.name for i in infos}
    unknown = sorted(disabled_names - known)
    for n in unknown:
        log.warning("plugins.disabled names %r, but no such plugin is installed", n)
    return Plugins(
        pm,
        sorted(infos, key=lambda i: i.name),
        unknown,
        platforms,
        channels,
        disabled_objects,
        {c: p for c, p in switched_off.items() if c not in channels},
    )


def _engine_version() -> str | None:
    try:
        return importlib.metadata.version("notigate")
    except importlib.metadata.PackageNotFoundError:
        return None
