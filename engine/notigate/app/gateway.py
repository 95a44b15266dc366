"""The running gateway: configuration, plugins, database and queue, assembled once.

The API process and every worker build one ``Gateway`` from the same settings, so a
delivery runs through the same code wherever it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from arq.worker import Worker

from notigate.app.vitals import Vitals, read_vitals
from notigate.config.durations import seconds
from notigate.config.loading import convert, load_settings
from notigate.config.settings import ApiKey, Settings
from notigate.delivery.attempt import Deliveries
from notigate.delivery.breakers import Breakers
from notigate.delivery.heartbeat import Heartbeat
from notigate.delivery.limits import Budget, Slots
from notigate.delivery.limits_redis import RedisLimiter
from notigate.delivery.queue import ArqQueue, InProcessQueue, Queue
from notigate.delivery.sweep import OutboxSweep
from notigate.delivery.worker import build_worker
from notigate.delivery.worker_registry import Workers
from notigate.errors import ConfigError, TemplateError
from notigate.ingest.pipeline import Ingest
from notigate.messages.formatting import locale_problem, timezone_problem
from notigate.messages.templates import Templates
from notigate.plugin.channel import Channel
from notigate.plugin.manager import Plugins, load_plugins
from notigate.routing.plan import Policies
from notigate.routing.rules import RuleEvaluator
from notigate.routing.silences import Silences
from notigate.storage.database import Database
from notigate.storage.endpoints import EndpointRows
from notigate.storage.inhibitions import Inhibitions
from notigate.storage.migrations import migrate, require_current
from notigate.storage.repository import Repository
from notigate.storage.silences import SilenceRows
from notigate.webhooks.endpoints import CHANNEL as WEBHOOK
from notigate.webhooks.endpoints import REFRESH_SECONDS, Endpoints
from notigate.webhooks.subscriptions import Subscriptions

log = logging.getLogger(__name__)


def _configure(
    kind: str,
    classes: dict[str, Any],
    sections: dict[str, dict[str, Any]],
    embedded: bool,
    disabled_known: set[str],
    problems: list[str],
    warnings: list[str],
) -> dict[str, Any]:
    """Instantiate each plugin class with its validated section."""
    objects: dict[str, Any] = {}
    for name in sections:
        if name not in classes and name not in disabled_known:
            problems.append(f"{kind}.{name}: no enabled {kind[:-1]} plugin named {name!r} is installed")
    for name, cls in classes.items():
        section = sections.get(name)
        from_file = section is not None
        if section is None and embedded:
            section = dict(cls.sample_config)
        try:
            config = convert(section or {}, cls.config_type, f"{kind}.{name}")
        except ConfigError as exc:
            if not from_file:
                warnings.append(f"{kind}.{name}: not configured ({exc.problems[0]}); it stays inactive")
            else:
                problems.extend(exc.problems)
            continue
        objects[name] = cls(config)
    return objects


_RESTART_SECTIONS = ("server", "database", "queue", "plugins")


class _Assembly(msgspec.Struct, kw_only=True):
    settings: Settings
    platforms: dict[str, Any]
    channels: dict[str, Any]
    templates: Templates
    warnings: list[str]


def _rule_problems(
    settings: Settings, channels: dict[str, Any], switched_off: dict[str, str], warnings: list[str]
) -> list[str]:
    """What is wrong with the rules given the enabled channels: recipients, locales, zones, names.

    A target on a channel of a disabled plugin only warns: the gateway starts and its routes
    are stored cancelled (routing/plan.py). Its recipients go unchecked: its plugin is not
    configured, and nothing is ever sent to them.
    """
    problems: list[str] = []
    for i, rule in enumerate(settings.rules):
        for j, target in enumerate(rule.send):
            key = f"rules[{i}].send[{j}]"
            if (plugin := switched_off.get(target.channel)) is not None:
                warnings.append(
                    f"{key}.channel: channel {target.channel!r} is switched off ([plugins] disabled: "
                    f"{plugin}); its deliveries are stored as cancelled"
                )
            elif target.channel not in channels:
                problems.append(f"{key}.channel: no enabled channel named {target.channel!r}")
            else:
                problems += [
                    f"{key}.to[{k}]: {error}"
                    for k, to in enumerate(target.to)
                    if (error := channels[target.channel].validate_recipient(to)) is not None
                ]
            if target.channel == WEBHOOK and plugin is None:
                problems += [
                    f"{key}.to: no [[webhooks]] endpoint named {to!r}"
                    for to in target.to
                    if to not in {w.name for w in settings.webhooks}
                ]
            if error := locale_problem(target.locale):
                problems.append(f"{key}.locale: {error}")
            if error := timezone_problem(target.timezone):
                problems.append(f"{key}.timezone: {error}")
        for k, window in enumerate(rule.quiet_hours):
            if error := timezone_problem(window.timezone):
                problems.append(f"rules[{i}].quiet_hours[{k}].timezone: {error}")
    named = {to for rule in settings.rules for t in rule.send if t.channel == WEBHOOK for to in t.to}
    warnings += [
        f"webhooks[{i}].events: {w.name!r} receives every event matching {w.events} (whatever its merchant "
        "or platform), beside what rules route to it by name; `events` does not filter a rule's routes"
        for i, w in enumerate(settings.webhooks)
        if w.events and w.name in named
    ]
    names = [r.name for r in settings.rules]
    problems += [
        f"rules: two rules are named {n!r} (names identify digests and inhibitions)"
        for n in sorted({n for n in names if names.count(n) > 1})
    ]
    return problems


def _assemble(settings: Settings, plugins: Plugins) -> _Assembly:
    """Configure plugins, templates and rules from ``settings``; raise ConfigError listing every
    problem (and, as its warnings, the plugins' problems and every other warning)."""
    problems: list[str] = []
    warnings: list[str] = []
    disabled = {p for i in plugins.infos if not i.enabled for p in i.provides}
    platforms = _configure(
        "platforms", plugins.platforms, settings.platforms, settings.embedded, disabled, problems, warnings
    )
    channels = _configure(
        "channels", plugins.channels, settings.channels, settings.embedded, disabled, problems, warnings
    )
    if settings.embedded:  # the built-in sample rules use only the channels that are installed
        settings = msgspec.structs.replace(
            settings,
            rules=[
                msgspec.structs.replace(r, send=[t for t in r.send if t.channel in channels])
                for r in settings.rules
                if any(t.channel in channels for t in r.send)
            ],
        )
    problems += _rule_problems(settings, channels, plugins.disabled_channels, warnings)
    templates: Templates | None = None
    try:
        plugin_dirs = [cls.templates_dir for cls in plugins.channels.values() if cls.templates_dir is not None]
        templates = Templates.load(Path(settings.templates.dir) if settings.templates.dir else None, plugin_dirs)
        templates.check()
    except TemplateError as exc:
        problems += [f"templates: {p}" for p in exc.problems]
    if problems:
        raise ConfigError(problems, [*plugins.problems(), *warnings])
    assert templates is not None
    return _Assembly(settings=settings, platforms=platforms, channels=channels, templates=templates, warnings=warnings)


class Gateway:
    """Everything a process of Notigate needs, built from ``Settings``."""

    def __init__(
        self,
        assembly: _Assembly,
        plugins: Plugins,
        evaluator: RuleEvaluator,
        endpoints: Endpoints,
        extra_api_keys: Sequence[ApiKey] = (),
    ) -> None:
        settings = assembly.settings
        self.settings = settings
        self.plugins = plugins
        self.platforms = assembly.platforms
        self.channels = assembly.channels
        self.templates = assembly.templates
        self._extra_api_keys = list(extra_api_keys)
        self.api_keys = {k.key: k for k in [*settings.security.api_keys, *self._extra_api_keys]}
        self.warnings = [*plugins.problems(), *assembly.warnings]
        self.evaluator = evaluator
        self.db = Database(
            settings.database.url,
            pool_min_size=settings.database.pool_min_size,
            pool_max_size=settings.database.pool_max_size,
        )
        self.repo = Repository(self.db)
        self.breakers = Breakers(
            self.db, threshold=settings.delivery.breaker_threshold, cooldown=seconds(settings.delivery.breaker_cooldown)
        )
        self.queue: Queue = (
            ArqQueue(settings.queue.url, settings.queue.name)
            if settings.queue.url
            else InProcessQueue(settings.delivery.concurrency)
        )
        limit = settings.delivery.per_destination
        queue = self.queue
        self.limiter = (
            RedisLimiter(lambda: queue.pool, limit, f"{settings.queue.name}:slots:")
            if isinstance(queue, ArqQueue)
            else None
        )
        self.slots = Slots(self.limiter, limit, ttl=self.lease_seconds)
        self.claims = Budget(settings.queue.max_claimed)
        self.workers = Workers(lambda: queue.pool, settings.queue.name) if isinstance(queue, ArqQueue) else None
        """The live ``notigate worker`` processes (Redis shape only)."""
        self.heartbeat = Heartbeat(self.repo, self.slots, self.lease_seconds, self.workers)
        self.outbox = OutboxSweep(self.repo, self.queue, seconds(settings.delivery.sweep_interval))
        self.deliveries = Deliveries(
            repo=self.repo,
            db=self.db,
            queue=self.queue,
            breakers=self.breakers,
            slots=self.slots,
            claims=self.claims,
            heartbeat=self.heartbeat,
            endpoints=endpoints,
            lease=self.lease_seconds,
            channels=self.channels,
            templates=self.templates,
            config=settings.delivery,
            sandbox=settings.sandbox.enabled,
        )
        self.route_event = plugins.hook("notigate_route_event")
        self.endpoints = endpoints  # shared with the routing plugins
        endpoints.rows = EndpointRows(self.db)
        self.policies = Policies(settings.rules, plugins.disabled_channels)
        self.silences = Silences(SilenceRows(self.db))
        self.inhibitions = Inhibitions(self.db)
        self.ingest = Ingest(
            repo=self.repo,
            queue=self.queue,
            route_event=self.route_event,
            evaluator=evaluator,
            silences=self.silences,
            inhibitions=self.inhibitions,
            policies=self.policies,
        )
        self.config_path: str | None = None
        """Where ``reload`` reads the configuration (None: as ``load_settings`` resolves it)."""
        self.reload_on_sighup = False
        self.draining = False
        """Set when ``serve`` begins its drain: ``/health/ready`` then answers 503."""
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._counts: tuple[float, dict[str, list[dict[str, Any]]]] | None = None
        self._vitals: tuple[float, Vitals] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, extra_api_keys: Sequence[ApiKey] = (), **plugin_options: Any
    ) -> Gateway:
        """Load plugins and validate everything that depends on them; raise ConfigError."""
        endpoints = Endpoints(settings.webhooks)
        evaluator = RuleEvaluator([], endpoints.accepts)  # its rules once _assemble has checked them
        # both tryfirst, and pluggy calls the later one first: rules, then subscriptions, then installed plugins
        plugins = load_plugins(
            settings.plugins.disabled,
            builtins=[("subscriptions", Subscriptions(endpoints)), ("rules", evaluator)],
            **plugin_options,
        )
        a = _assemble(settings, plugins)
        evaluator.load(a.settings.rules)
        return cls(a, plugins, evaluator, endpoints, extra_api_keys)

    async def reload(self, settings: Settings) -> list[str]:
        """Switch to new rules, templates, endpoints, credentials and channel settings.

        Nothing in flight is dropped: running sends finish on the channel objects they
        started with (closed a lease later). An invalid configuration raises ConfigError
        and the running one stays. Returns warnings, e.g. for sections that need a restart.
        """
        warnings = [
            f"{name}: changed; takes effect after a restart"
            for name in _RESTART_SECTIONS
            if getattr(settings, name) != getattr(self.settings, name)
        ]
        settings = msgspec.structs.replace(
            settings, **{name: getattr(self.settings, name) for name in _RESTART_SECTIONS}
        )
        a = _assemble(settings, self.plugins)
        old_channels = list(self.channels.values())
        self.settings, self.platforms, self.channels, self.templates = a.settings, a.platforms, a.channels, a.templates
        self.api_keys = {k.key: k for k in [*a.settings.security.api_keys, *self._extra_api_keys]}
        self.endpoints.set_configured(a.settings.webhooks)
        self.policies = Policies(a.settings.rules, self.plugins.disabled_channels)
        self.ingest.reconfigure(self.policies)
        self.evaluator.load(a.settings.rules)
        self.deliveries.reconfigure(
            channels=self.channels,
            templates=self.templates,
            config=a.settings.delivery,
            sandbox=a.settings.sandbox.enabled,
        )
        self.breakers.threshold = a.settings.delivery.breaker_threshold
        self.breakers.cooldown = timedelta(seconds=seconds(a.settings.delivery.breaker_cooldown))
        self.warnings = [*self.plugins.problems(), *a.warnings, *warnings]
        task = asyncio.create_task(self._close_later(old_channels))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        log.info("configuration reloaded (%d rules)", len(a.settings.rules))
        return [*a.warnings, *warnings]

    async def reload_from_file(self) -> bool:
        """Reload from ``config_path`` (SIGHUP); log the outcome instead of raising."""
        try:
            for warning in await self.reload(load_settings(self.config_path)):
                log.warning("reload: %s", warning)
        except ConfigError as exc:
            log.error("reload rejected; the running configuration stays:\n  %s", "\n  ".join(exc.problems))
            return False
        return True

    def _on_sighup(self) -> None:
        task: asyncio.Task[Any] = asyncio.create_task(self.reload_from_file())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_later(self, channels: list[Channel]) -> None:
        """Close channels a reload replaced once their sends are done (at once if the gateway closes)."""
        try:
            await asyncio.sleep(self.attempt_seconds)
        finally:
            await asyncio.shield(self._close_channels(channels))

    async def _close_channels(self, channels: list[Channel]) -> None:
        for channel in channels:
            try:
                await channel.aclose()
            except Exception as exc:
                log.warning("closing a replaced %s channel failed: %s", channel.name, type(exc).__name__)

    @property
    def in_process(self) -> bool:
        return isinstance(self.queue, InProcessQueue)

    @property
    def lease_seconds(self) -> float:
        """How long what a delivering process holds outlives it (see ``heartbeat``)."""
        return seconds(self.settings.delivery.lease)

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt can take: waiting its turn for a send slot, then sending."""
        return 2 * seconds(self.settings.delivery.send_timeout)

    async def start(self, *, run_deliveries: bool, auto_migrate: bool = False) -> None:
        """Open the database and queue; with ``run_deliveries`` also deliver in this process."""
        await self.db.start()
        if self.reload_on_sighup and hasattr(signal, "SIGHUP"):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        if auto_migrate:
            await migrate(self.db)
        else:
            await require_current(self.db)
        if isinstance(self.queue, ArqQueue):
            await self.queue.start()
        await self.endpoints.refresh()
        self._refresher = asyncio.create_task(self._refresh_endpoints_forever())
        if run_deliveries:
            if isinstance(self.queue, InProcessQueue):
                self.queue.start(self.deliveries.deliver)
            self._sweeper = asyncio.create_task(self.outbox.run(self._stopping))
            self._beating = asyncio.create_task(self.heartbeat.run(self._stopping))

    def arq_worker(self, *, burst: bool = False, handle_signals: bool = True) -> Worker:
        """An arq Worker delivering from this gateway's Redis queue (``notigate worker``)."""
        if not isinstance(self.queue, ArqQueue):
            raise ValueError(
                "notigate worker needs [queue] url = redis://…; the embedded queue delivers inside `serve`"
            )
        return build_worker(
            self.queue,
            self.deliveries.deliver,
            self.heartbeat,
            lease=self.lease_seconds,
            max_jobs=self.settings.queue.max_jobs,
            on_startup=lambda: self.start(run_deliveries=True),
            on_shutdown=self.close,
            burst=burst,
            handle_signals=handle_signals,
        )

    async def vitals(self) -> Vitals:
        """Live workers, the oldest due delivery's wait and the send slots taken, read at most once a second."""
        now = time.monotonic()
        if self._vitals is None or now - self._vitals[0] > 1:
            self._vitals = (now, await read_vitals(self.repo, self.workers))
        return self._vitals[1]

    async def slots_taken(self) -> dict[str, int]:
        """Send slots taken per destination: by every process on Redis (a scan of its keys: for the
        metrics, not for health checks), in flight here on the embedded queue."""
        return await self.limiter.held() if self.limiter is not None else self.slots.in_use()

    @property
    def recovery_seconds(self) -> float:
        """The longest a due delivery waits because a worker died: its lease, then the next sweep."""
        return self.lease_seconds + seconds(self.settings.delivery.sweep_interval)

    async def metric_counts(self) -> dict[str, list[dict[str, Any]]]:
        """Database totals for /metrics, cached for 5 s: scrapes stay cheap on big tables."""
        now = time.monotonic()
        if self._counts is None or now - self._counts[0] > 5:
            self._counts = (now, await self.repo.counts())
        return self._counts[1]

    async def sweep(self) -> int:
        """One pass of the outbox sweep (``delivery.sweep``); how many deliveries it queued again."""
        return await self.outbox.once()

    async def _refresh_endpoints_forever(self) -> None:
        """Every process (API and workers) picks up endpoints other processes created or deleted."""
        interval = min(REFRESH_SECONDS, seconds(self.settings.delivery.sweep_interval))
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                break
            try:
                await asyncio.wait_for(self.endpoints.refresh(), 30)
            except Exception as exc:  # lookups keep the last good copy; a miss still refreshes on its own
                log.warning("webhook endpoint refresh failed: %s: %s", type(exc).__name__, exc)

    async def close(self) -> None:
        """Stop the sweep between two passes (cancelling it mid-query can wedge the pool), then the rest."""
        self._stopping.set()
        for task in (self._sweeper, self._refresher, self._beating):
            if task is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.slots.drain()  # slots given back while Redis is still open
        await self.queue.close()
        for task in list(self._background):  # replaced channels close now, not a lease later
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._close_channels(list(self.channels.values()))
        await self.repo.drain()
        await self.db.close()
