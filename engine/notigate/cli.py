"""The ``notigate`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Coroutine, Sequence
from email import message_from_string
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import httpx
import msgspec

from notigate import logs
from notigate.app.gateway import Gateway
from notigate.app.preflight import check_services
from notigate.config.loading import config_path as resolve_config_path
from notigate.config.loading import env, load_settings, read_settings
from notigate.config.settings import ApiKey, Settings
from notigate.errors import ConfigError, UnavailableError

T = TypeVar("T")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="the configuration file (else NOTIGATE_CONFIG, else ./notigate.toml, else the embedded default)",
)


def _settings(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        _fail(exc)


def _fail(exc: ConfigError) -> NoReturn:
    click.echo("configuration error:", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)
    for warning in exc.warnings:
        click.echo(f"warning: {warning}", err=True)
    sys.exit(2)


def _checked(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``: a configuration problem exits 2 (every problem listed), a service that
    cannot be used exits 1, in one line naming its key."""
    try:
        return asyncio.run(work)
    except ConfigError as exc:
        _fail(exc)
    except UnavailableError as exc:
        raise click.ClickException(str(exc)) from None


def _key_file(settings: Settings) -> Path:
    """The embedded default keeps its generated admin key beside the SQLite database."""
    db = (
        Path(settings.database.url.removeprefix("sqlite:///"))
        if settings.database.url.startswith("sqlite:///")
        else Path("notigate.db")
    )
    return db.with_name(db.name + ".api-key")


def embedded_api_key(settings: Settings, *, create: bool) -> str | None:
    """``NOTIGATE_API_KEY``, else the key kept beside the database (created once by ``serve``)."""
    if key := env("NOTIGATE_API_KEY"):
        if len(key) < 16:
            raise click.ClickException("NOTIGATE_API_KEY must be at least 16 characters")
        return key
    path = _key_file(settings)
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    key = "ngk_" + secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(key + "\n")
    except OSError as exc:
        raise click.ClickException(f"cannot keep the generated admin API key in {path} ({exc.strerror})") from None
    click.echo(f"Generated admin API key (shown once, kept in {path}):\n  {key}")
    return key


def _gateway(
    settings: Settings, config_path: str | None, *, create_key: bool = False, problems: Sequence[str] = ()
) -> Gateway:
    """The gateway for ``serve`` and ``worker``: it reloads its configuration on SIGHUP.

    ``problems`` found in ``settings`` already (``read_settings``) fail it together with
    those of the plugins and rules.
    """
    extra: list[ApiKey] = []
    if settings.embedded and (key := embedded_api_key(settings, create=create_key)):
        extra.append(ApiKey(name="embedded-admin", key=key, scopes=["admin"]))
    try:
        gateway = Gateway.from_settings(settings, extra_api_keys=extra)
    except ConfigError as exc:
        _fail(ConfigError([*problems, *exc.problems], exc.warnings))
    if problems:
        _fail(ConfigError(list(problems), gateway.warnings))
    for warning in gateway.warnings:
        click.echo(f"warning: {warning}", err=True)
    gateway.config_path, gateway.reload_on_sighup = config_path, True
    return gateway


@click.group()
@click.option("--log-level", default="INFO", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="text (the default) or one JSON object per line; else NOTIGATE_LOG_FORMAT",
)
def main(log_level: str, log_format: str | None) -> None:
    """Notigate: the notification gateway for payment platforms."""
    fmt = log_format or env("NOTIGATE_LOG_FORMAT") or "text"
    if fmt not in ("text", "json"):
        raise click.BadParameter(f"NOTIGATE_LOG_FORMAT must be text or json, not {fmt!r}")
    logs.configure(log_level, fmt)  # type: ignore[arg-type]


@main.command()
@config_option
@click.option("--host", default=None, help="overrides [server] host")
@click.option("--port", type=int, default=None, help="overrides [server] port")
def serve(config_path: str | None, host: str | None, port: int | None) -> None:
    """Run the HTTP API (and, on the embedded queue, delivery in the same process)."""
    from notigate.api import create_app
    from notigate.app.server import run

    settings = _settings(config_path)
    gateway = _gateway(settings, config_path, create_key=settings.embedded)
    _checked(check_services(settings, migrating=gateway.db.is_sqlite, queue=False))
    app = create_app(gateway, auto_migrate=gateway.db.is_sqlite)
    mode = "embedded queue, deliveries in this process" if gateway.in_process else "Redis queue (run `notigate worker`)"
    click.echo(
        f"Notigate on http://{host or settings.server.host}:{port or settings.server.port} "
        f"({settings.database.url.split('@')[-1]}; {mode}; sandbox {'on' if settings.sandbox.enabled else 'off'})"
    )
    run(app, gateway, host=host or settings.server.host, port=port or settings.server.port)


@main.command()
@config_option
def worker(config_path: str | None) -> None:
    """Run an arq worker delivering from the Redis queue."""
    from notigate.delivery.worker import run_worker

    gateway = _gateway(_settings(config_path), config_path)
    if gateway.in_process:
        click.echo("[queue] url is not set: the embedded queue delivers inside `notigate serve`.", err=True)
        sys.exit(2)
    _checked(check_services(gateway.settings, migrating=False, queue=True))
    run_worker(gateway.arq_worker)


@main.command()
@config_option
def migrate(config_path: str | None) -> None:
    """Create or upgrade the database schema."""
    from notigate.storage.database import Database
    from notigate.storage.migrations import migrate as run

    settings = _settings(config_path)

    async def go() -> list[int]:
        db = Database(settings.database.url)
        await db.start()
        try:
            return await run(db)
        finally:
            await db.close()

    applied = _checked(go())
    click.echo(f"applied migrations {applied}" if applied else "schema is up to date")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plugins(config_path: str | None, as_json: bool) -> None:
    """List discovered plugins, their kind, version and whether enabled."""
    from notigate.plugin.manager import load_plugins

    loaded = load_plugins(_settings(config_path).plugins.disabled)
    if as_json:
        click.echo(msgspec.json.encode(loaded.infos).decode())
        return
    for info in loaded.infos:
        state = "enabled" if info.enabled else ("broken" if info.error else "disabled")
        click.echo(
            f"{info.name:24} {info.kind:9} {info.distribution or '-'} {info.version or '-':8} {state}"
            f"  {', '.join(info.provides)}{'  ' + info.error if info.error else ''}"
        )
    for problem in loaded.problems():
        click.echo(f"warning: {problem}", err=True)


@main.command("check-config")
@config_option
def check_config(config_path: str | None) -> None:
    """Validate the configuration and print what is wrong, line by line."""
    try:
        settings, problems = read_settings(config_path)
    except ConfigError as exc:
        _fail(exc)
    gateway = _gateway(settings, config_path, problems=problems)
    source = resolve_config_path(config_path) or "the embedded default"
    click.echo(
        f"configuration OK: {len(gateway.platforms)} platforms, {len(gateway.channels)} channels, "
        f"{len(settings.rules)} rules (from {source})"
    )


@main.command("send-test")
@click.argument("platform")
@config_option
@click.option("--code", default=None, help="normalized code to simulate (default: the platform's sample error)")
@click.option("--url", default=None, help="gateway base URL (default from [server])")
@click.option("--wait", default=15.0, show_default=True, help="seconds to follow the deliveries")
def send_test(platform: str, config_path: str | None, code: str | None, url: str | None, wait: float) -> None:
    """Send a correctly signed sample callback to a running gateway and follow it."""
    settings = _settings(config_path)
    gateway = _gateway(settings, config_path)
    plugin = gateway.platforms.get(platform.lower())
    if plugin is None:
        raise click.ClickException(f"no enabled, configured platform named {platform!r}")
    try:
        sample = plugin.sample_request(code)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    base = url or f"http://{settings.server.host}:{settings.server.port}"
    key = next(iter(gateway.api_keys), None) or embedded_api_key(settings, create=False)
    with httpx.Client(base_url=base, timeout=10) as client:
        try:
            response = client.post(
                f"/api/v1/platforms/{plugin.name}/callbacks", content=sample.body, headers=sample.headers
            )
        except httpx.TransportError as exc:
            raise click.ClickException(f"cannot reach the gateway at {base}: {exc}") from None
        click.echo(f"POST /api/v1/platforms/{plugin.name}/callbacks → {response.status_code} {response.text}")
        ids = [i for i in response.headers.get("notigate-notification-ids", "").split(",") if i]
        if not ids or not key:
            if not key:
                click.echo("(no API key known: set NOTIGATE_API_KEY to follow the notification)")
            sys.exit(0 if response.is_success else 1)
        try:
            _follow(client, ids, key, wait)
        except httpx.TransportError as exc:
            raise click.ClickException(f"lost the gateway at {base}: {exc}") from None


def _follow(client: httpx.Client, ids: list[str], key: str, wait: float) -> None:
    """Print each notification and its deliveries whenever they change, until settled; below a
    delivery that has ended, once, the message it rendered (captured in sandbox, kept when it failed)."""
    deadline = time.monotonic() + wait
    last: dict[str, str] = {}
    shown: set[str] = set()
    while True:
        settled = True
        for notification_id in ids:
            response = client.get(f"/api/v1/notifications/{notification_id}", headers={"X-API-Key": key})
            if not response.is_success:
                raise click.ClickException(
                    f"GET /api/v1/notifications/{notification_id} → {response.status_code} {response.text}"
                )
            detail = response.json()
            n = detail["notification"]
            lines: list[tuple[str, dict[str, Any] | None]] = [
                (f"{n['id']} {n['platform']} {n['code']} ({n['severity']}) status={n['status']}", None)
            ]
            for d in detail["deliveries"]:
                lines.append(
                    (
                        f"  {d['id']} {d['channel']} → {d['recipient']}: {d['status']}, attempts={d['attempts']}"
                        + (f", last error: {d['last_error']}" if d["last_error"] else "")
                        + (" [captured in sandbox]" if d.get("captured") and d["status"] == "delivered" else ""),
                        d,
                    )
                )
            block = "\n".join(line for line, _ in lines)
            if last.get(notification_id) != block:
                for line, d in lines:
                    click.echo(line)
                    if d is not None and d["status"] in _ENDED and d.get("captured") and d["id"] not in shown:
                        shown.add(d["id"])
                        for text in _captured_lines(d):
                            click.echo(f"    {text}".rstrip())
                last[notification_id] = block
            settled &= n["status"] not in ("received", "delivering")
        if settled or time.monotonic() > deadline:
            return
        time.sleep(0.3)


_ENDED = ("delivered", "failed")


def _captured_lines(delivery: dict[str, Any]) -> list[str]:
    """A delivery's rendered message, readable: JSON pretty-printed (a webhook with its
    ``webhook-id``), an email's subject and text part, any other text as it is. Headers are
    left out, so nothing a channel keeps there (credentials, signatures) is printed."""
    captured = delivery["captured"]
    body, kind = str(captured.get("body", "")), captured.get("content_type", "")
    lines = [f"webhook-id: {delivery['id']}"] if delivery["channel"] == "webhook" else []
    if kind == "message/rfc822":
        mail = message_from_string(body, policy=email_policy.default)
        part = mail.get_body(preferencelist=("plain",)) if isinstance(mail, EmailMessage) else None
        lines.append(f"Subject: {captured.get('subject') or mail.get('Subject', '')}")
        body = part.get_content() if isinstance(part, EmailMessage) else ""
    elif kind.startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    elif captured.get("subject"):
        lines.append(f"Subject: {captured['subject']}")
    return lines + body.replace("\r\n", "\n").rstrip("\n").splitlines()
