"""The running gateway: configuration, plugins, database and queue, assembled once.

The API process and every worker build one ``Gateway`` from the same settings, so a
delivery runs through the same code wherever it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from notigate.breakers import Breakers
from notigate.channel import Channel
from notigate.config import ApiKey, Settings, convert, seconds
from notigate.database import Database
from notigate.errors import ConfigError
from notigate.limits import Limiter, MemoryLimiter, RedisLimiter
from notigate.migrations import LATEST, current_version, migrate
from notigate.platform import Platform
from notigate.plugins import Plugins, load_plugins
from notigate.queue import ArqQueue, InProcessQueue, Queue
from notigate.repository import Repository, utcnow
from notigate.rules import RuleEvaluator

log = logging.getLogger(__name__)


def _configure(kind: str, classes: dict[str, Any], sections: dict[str, dict[str, Any]], embedded: bool,
               disabled_known: set[str], problems: list[str], warnings: list[str]) -> dict[str, Any]:
    """Instantiate each plugin class with its validated section."""
    objects: dict[str, Any] = {}
    for name in sections:
        if name not in classes and name not in disabled_known:
            problems.append(f"{kind}.{name}: no enabled {kind[:-1]} plugin named {name!r} is installed")
    for name, cls in classes.items():
        section = sections.get(name)
        from_file = section is not None
        if section is None and embedded:
            section = dict(getattr(cls, "sample_config", {}))
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


class Gateway:
    """Everything a process of Notigate needs, built from ``Settings``."""

    def __init__(self, settings: Settings, plugins: Plugins, platforms: dict[str, Platform],
                 channels: dict[str, Channel], api_keys: list[ApiKey], warnings: list[str]) -> None:
        self.settings = settings
        self.plugins = plugins
        self.platforms = platforms
        self.channels = channels
        self.api_keys = {k.key: k for k in api_keys}
        self.warnings = warnings
        self.db = Database(settings.database.url, pool_min_size=settings.database.pool_min_size,
                           pool_max_size=settings.database.pool_max_size)
        self.repo = Repository(self.db)
        self.breakers = Breakers(self.db, threshold=settings.delivery.breaker_threshold,
                                 cooldown=seconds(settings.delivery.breaker_cooldown))
        self.queue: Queue = (ArqQueue(settings.queue.url, settings.queue.name) if settings.queue.url
                             else InProcessQueue(settings.delivery.concurrency))
        limit = settings.delivery.per_destination
        queue = self.queue
        self.limiter: Limiter = (RedisLimiter(lambda: queue.pool, limit, f"{settings.queue.name}:slots:")
                                 if isinstance(queue, ArqQueue) else MemoryLimiter(limit))
        self.route_event = plugins.hook("notigate_route_event")
        self.webhooks = {w.name: w for w in settings.webhooks}
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._counts: tuple[float, dict[str, list[dict[str, Any]]]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, extra_api_keys: Sequence[ApiKey] = (), **plugin_options: Any) -> Gateway:
        """Load plugins and validate everything that depends on them; raise ConfigError."""
        evaluator = RuleEvaluator(settings.rules, settings.webhooks)
        plugins = load_plugins(settings.plugins.disabled, builtins=[("rules", evaluator)], **plugin_options)
        problems: list[str] = []
        warnings = plugins.problems()
        disabled = {p for i in plugins.infos if not i.enabled for p in i.provides}
        platforms = _configure("platforms", plugins.platforms, settings.platforms, settings.embedded, disabled,
                               problems, warnings)
        channels = _configure("channels", plugins.channels, settings.channels, settings.embedded, disabled,
                              problems, warnings)
        if settings.embedded:  # the built-in sample rules use only the channels that are installed
            settings = msgspec.structs.replace(settings, rules=[
                msgspec.structs.replace(r, send=[t for t in r.send if t.channel in channels])
                for r in settings.rules if any(t.channel in channels for t in r.send)])
            evaluator.load(settings.rules, settings.webhooks)
        for i, rule in enumerate(settings.rules):
            for j, target in enumerate(rule.send):
                key = f"rules[{i}].send[{j}]"
                if target.channel not in channels:
                    problems.append(f"{key}.channel: no enabled channel named {target.channel!r}")
                elif (validate := getattr(channels[target.channel], "validate_recipient", None)) is not None:
                    problems += [f"{key}.to[{k}]: {error}" for k, to in enumerate(target.to)
                                 if (error := validate(to)) is not None]
                if target.channel == "webhook":
                    problems += [f"{key}.to: no [[webhooks]] endpoint named {to!r}" for to in target.to
                                 if to not in {w.name for w in settings.webhooks}]
        if problems:
            raise ConfigError(problems)
        return cls(settings, plugins, platforms, channels, [*settings.security.api_keys, *extra_api_keys], warnings)

    @property
    def in_process(self) -> bool:
        return isinstance(self.queue, InProcessQueue)

    @property
    def lease_seconds(self) -> float:
        """How long a claimed attempt may take before the sweep presumes its worker dead."""
        return 2 * seconds(self.settings.delivery.send_timeout)

    async def start(self, *, run_deliveries: bool, auto_migrate: bool = False) -> None:
        """Open the database and queue; with ``run_deliveries`` also deliver in this process."""
        await self.db.start()
        if auto_migrate:
            await migrate(self.db)
        elif (version := await current_version(self.db)) < LATEST:
            raise ConfigError([f"database.url: schema version {version} is older than {LATEST}; run `notigate migrate`"])
        if isinstance(self.queue, ArqQueue):
            await self.queue.start()
        if run_deliveries:
            from notigate.delivery import deliver

            if isinstance(self.queue, InProcessQueue):
                self.queue.start(lambda delivery_id: deliver(self, delivery_id))
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def metric_counts(self) -> dict[str, list[dict[str, Any]]]:
        """Database totals for /metrics, cached for 5 s: scrapes stay cheap on big tables."""
        now = time.monotonic()
        if self._counts is None or now - self._counts[0] > 5:
            self._counts = (now, await self.repo.counts())
        return self._counts[1]

    async def sweep(self) -> int:
        """Re-enqueue what the queue may have lost (the outbox); return how many."""
        recovered = await self.repo.recover_expired_leases()
        for delivery_id, attempts in recovered:
            await self.queue.enqueue(delivery_id, attempts)
        lost = 0
        for delivery_id, attempts, _ in await self.repo.due(horizon=utcnow()):
            lost += await self.queue.requeue(delivery_id, attempts)
        return len(recovered) + lost

    async def _sweep_forever(self) -> None:
        interval = seconds(self.settings.delivery.sweep_interval)
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self.sweep(), max(30.0, 3 * interval))
            except Exception as exc:  # a dead Redis or database delays delivery; it must not stop the sweep
                log.warning("outbox sweep failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def close(self) -> None:
        """Stop the sweep between two passes (cancelling it mid-query can wedge the pool), then the rest."""
        self._stopping.set()
        if self._sweeper is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._sweeper), 10)
            except TimeoutError:
                self._sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sweeper
        await self.queue.close()
        for channel in self.channels.values():
            await channel.aclose()
        await self.db.close()
