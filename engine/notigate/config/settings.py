"""Configuration: ``notigate.toml`` decoded with msgspec into typed structs.

``${VAR}`` and ``${VAR:-default}`` are replaced from the environment in every string;
``NOTIGATE_DATABASE_URL`` and ``NOTIGATE_QUEUE_URL`` override the two URLs. A variable
set to the empty string counts as unset, wherever the gateway reads one (``env``). Every
error names the key it is about (``delivery.max_attempts: Expected `int`…``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from notigate.config.durations import Duration, seconds
from notigate.events import Severity


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class ServerConfig(_Section, frozen=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    max_body_size: Annotated[int, msgspec.Meta(ge=1024)] = 1_048_576
    public_metrics: bool = True
    header_timeout: Duration = "10s"
    """From a connection's opening, or the end of the previous response, to the end of a request's
    headers; a client still sending them (or idle) then is cut off, so slow clients cannot hold connections."""
    body_timeout: Duration = "30s"
    """From the end of a request's headers to the end of its body; bytes trickling in do not extend it."""
    drain_grace: Duration = "5s"
    """After SIGTERM, how long ``/health/ready`` answers 503 while every request is still served,
    so a load balancer stops sending before the listener closes."""
    drain_timeout: Duration = "30s"
    """After the grace, how long requests in flight may take to finish before they are cancelled."""

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout"):
            if seconds(getattr(self, name)) <= 0:
                raise ValueError(f"`{name}` must be longer than zero")


class DatabaseConfig(_Section, frozen=True):
    url: str = "sqlite:///notigate.db"
    pool_min_size: Annotated[int, msgspec.Meta(ge=1)] = 2
    pool_max_size: Annotated[int, msgspec.Meta(ge=1)] = 20


class QueueConfig(_Section, frozen=True):
    url: str = ""
    name: str = "notigate:deliveries"
    max_jobs: Annotated[int, msgspec.Meta(ge=1)] = 200
    max_claimed: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """Deliveries one process holds claimed at once; batches beyond it wait for room."""


class PluginsConfig(_Section, frozen=True):
    disabled: list[str] = []


class SandboxConfig(_Section, frozen=True):
    enabled: bool = False


class ApiKey(_Section, frozen=True):
    name: str
    key: Annotated[str, msgspec.Meta(min_length=16)]
    scopes: list[str] = msgspec.field(default_factory=lambda: ["read"])


class SecurityConfig(_Section, frozen=True):
    api_keys: list[ApiKey] = []


class DeliveryConfig(_Section, frozen=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1)] = 8
    backoff_initial: Duration = "2s"
    backoff_max: Duration = "30m"
    max_age: Duration = "24h"
    send_timeout: Duration = "30s"
    sweep_interval: Duration = "10s"
    """How often each delivering process looks for due deliveries the queue lost, and for expired leases."""
    lease: Duration = "15s"
    """How long a delivering process's claims, send slots and running jobs outlive it (renewed every lease/3)."""
    concurrency: Annotated[int, msgspec.Meta(ge=1)] = 100
    per_destination: Annotated[int, msgspec.Meta(ge=1)] = 4
    """Sends in flight at once to one destination, across all workers."""
    breaker_threshold: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Consecutive transient failures that open a destination's circuit breaker."""
    breaker_cooldown: Duration = "30s"
    """How long an open breaker holds deliveries back before one probe is let through."""
    endpoint_disable_after: Duration = "5d"
    """A webhook endpoint failing (transiently, without a success) for this long is disabled, as after 410 Gone."""

    def __post_init__(self) -> None:
        for name in (
            "backoff_initial",
            "max_age",
            "send_timeout",
            "sweep_interval",
            "lease",
            "breaker_cooldown",
            "endpoint_disable_after",
        ):
            if seconds(getattr(self, name)) <= 0:
                raise ValueError(f"`{name}` must be longer than zero")
        if seconds(self.backoff_initial) > seconds(self.backoff_max):
            raise ValueError("`backoff_initial` must not exceed `backoff_max`")


class WebhookEndpoint(_Section, frozen=True):
    name: str
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    secret: Annotated[str, msgspec.Meta(pattern=r"^whsec_[A-Za-z0-9+/=]+$")]
    events: list[str] = []
    """Event types (``payment.<code>`` globs) it subscribes to; none: it gets only what rules route to it."""
    enabled: bool = True


class Match(_Section, frozen=True):
    codes: list[str] = []
    platforms: list[str] = []
    merchants: list[str] = []
    min_severity: Severity | None = None
    min_amount: Decimal | None = None


class Target(_Section, frozen=True):
    channel: str
    to: Annotated[list[str], msgspec.Meta(min_length=1)]
    locale: str = "en"
    timezone: str = "Asia/Jakarta"


GroupField = Literal["platform", "code", "severity", "merchant_id", "currency", "reference"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"])]


class QuietHours(_Section, frozen=True):
    """A daily window (``start`` to ``end``, local time; may cross midnight) on some weekdays.

    Non-critical deliveries of the rule wait until the window ends; ``include_critical``
    holds critical ones too. ``days`` are the days a window starts on.
    """

    start: ClockTime
    end: ClockTime
    days: list[Weekday] = msgspec.field(default_factory=lambda: list(WEEKDAYS))
    timezone: str = "Asia/Jakarta"
    include_critical: bool = False

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("`start` and `end` must differ")


class Inhibit(_Section, frozen=True):
    """While an event of this rule is recent (``duration``), events whose code matches
    ``codes`` and whose ``equal`` fields are the same are muted (Alertmanager's inhibition)."""

    codes: Annotated[list[str], msgspec.Meta(min_length=1)]
    equal: list[GroupField] = msgspec.field(default_factory=lambda: ["platform"])
    duration: Duration = "15m"


class Rule(_Section, frozen=True):
    name: str
    send: list[Target]
    match: Match = Match()
    stop: bool = False
    group_by: list[GroupField] = []
    """Events with the same values of these fields fold into one digest per recipient."""
    group_window: Duration | None = None
    """How long a group stays open after its first event; the digest goes out when it closes."""
    repeat_interval: Duration | None = None
    """A later group with the same values is not sent sooner than this after the previous one."""
    quiet_hours: list[QuietHours] = []
    inhibit: Inhibit | None = None

    def __post_init__(self) -> None:
        if bool(self.group_by) != (self.group_window is not None):
            raise ValueError("`group_by` and `group_window` go together")
        if self.repeat_interval is not None and not self.group_by:
            raise ValueError("`repeat_interval` needs `group_by` and `group_window`")
        if self.group_window is not None and seconds(self.group_window) <= 0:
            raise ValueError("`group_window` must be longer than zero")


class TemplatesConfig(_Section, frozen=True):
    dir: str | None = None
    """A folder whose files override the shipped templates one by one."""


class Settings(_Section, frozen=True):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    queue: QueueConfig = QueueConfig()
    plugins: PluginsConfig = PluginsConfig()
    sandbox: SandboxConfig = SandboxConfig()
    security: SecurityConfig = SecurityConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    platforms: dict[str, dict[str, Any]] = {}
    channels: dict[str, dict[str, Any]] = {}
    webhooks: list[WebhookEndpoint] = []
    rules: list[Rule] = []
    templates: TemplatesConfig = TemplatesConfig()
    embedded: bool = False
    """True only for the built-in default (no file): platforms fall back to sample credentials."""


SAMPLE_WEBHOOK = WebhookEndpoint(
    name="sample",
    url="https://merchant.example.com/hooks/payments",
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
)
"""Subscribed to nothing: the embedded default's first rule routes warnings and worse to it,
so ``send-test`` shows a webhook for those, and an info event stays ``no_route`` as in product.md."""


def embedded_settings() -> Settings:
    """The default of product.md: SQLite, in-process queue, sandbox, a sample rule."""
    return Settings(
        database=DatabaseConfig(url="sqlite:///notigate.db"),
        sandbox=SandboxConfig(enabled=True),
        webhooks=[SAMPLE_WEBHOOK],
        rules=[
            Rule(
                name="warnings and worse to the sample webhook",
                match=Match(min_severity="warning"),
                send=[Target(channel="webhook", to=["sample"])],
            ),
            Rule(
                name="critical to the sample on-call (email and SMS)",
                match=Match(min_severity="critical"),
                send=[Target(channel="email", to=["oncall@example.com"]), Target(channel="sms", to=["+6281200000001"])],
            ),
        ],
        embedded=True,
    )
