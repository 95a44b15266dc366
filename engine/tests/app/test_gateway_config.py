"""``Gateway.from_settings``: plugin sections, rule targets and the embedded default, validated at start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from notigate.app.gateway import Gateway
from notigate.config.loading import convert
from notigate.config.settings import (
    DatabaseConfig,
    PluginsConfig,
    Settings,
    embedded_settings,
)
from notigate.errors import ConfigError
from notigate.events import Notification
from notigate.messages.samples import template_contexts
from notigate.plugin.route import Route

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Gateway]:
    """Build a gateway from plain data, on a SQLite file that is never opened."""

    def _build(**data: Any) -> Gateway:
        data.setdefault("database", {"url": f"sqlite:///{tmp_path / 'x.db'}"})
        return Gateway.from_settings(convert(data, Settings, ""))

    return _build


def problems(build: Callable[..., Gateway], **data: Any) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        build(**data)
    return excinfo.value.problems


def webhook_rule(*to: str) -> dict[str, Any]:
    return {"name": "r", "send": [{"channel": "webhook", "to": list(to)}]}


# -- plugin sections --------------------------------------------------------------


def test_configured_platform_gets_its_validated_section(build: Callable[..., Gateway]) -> None:
    """``[platforms.arindo]`` is decoded into the plugin's config type and the platform is active."""
    gw = build(platforms={"arindo": {"server_key": "SB-Mid-server-TEST"}})
    assert gw.platforms["arindo"].config.server_key == "SB-Mid-server-TEST"  # type: ignore[attr-defined]
    assert "webhook" in gw.channels
    assert [w for w in gw.warnings if "arindo" in w] == []


def test_missing_required_field_is_reported_for_the_plugin_section(build: Callable[..., Gateway]) -> None:
    """An ``[platforms.arindo]`` section without ``server_key`` is an error about that section and field."""
    (problem,) = problems(build, platforms={"arindo": {}})
    assert problem.startswith("platforms.arindo")
    assert "server_key" in problem


def test_missing_server_key_names_the_full_key(build: Callable[..., Gateway]) -> None:
    """A missing ``server_key`` is reported under ``platforms.arindo.server_key``."""
    (problem,) = problems(build, platforms={"arindo": {}})
    assert problem.startswith("platforms.arindo.server_key: ")


def test_empty_server_key_names_the_full_key(build: Callable[..., Gateway]) -> None:
    """An empty ``server_key`` fails the plugin's own constraint, named ``platforms.arindo.server_key``."""
    assert problems(build, platforms={"arindo": {"server_key": ""}}) == [
        "platforms.arindo.server_key: Expected `str` of length >= 1"
    ]


def test_unknown_key_in_a_plugin_section_is_reported(build: Callable[..., Gateway]) -> None:
    """A typo in ``[platforms.arindo]`` is rejected and the problem names the typo."""
    (problem,) = problems(build, platforms={"arindo": {"server_key": "k", "sever_key": "k"}})
    assert problem.startswith("platforms.arindo")
    assert "sever_key" in problem


def test_unknown_key_in_a_plugin_section_is_named_like_other_unknown_keys(build: Callable[..., Gateway]) -> None:
    """A typo in ``[platforms.arindo]`` reads ``platforms.arindo.sever_key: unknown key``, like engine sections."""
    assert problems(build, platforms={"arindo": {"server_key": "k", "sever_key": "k"}}) == [
        "platforms.arindo.sever_key: unknown key"
    ]


def test_bad_channel_section_names_the_key(build: Callable[..., Gateway]) -> None:
    """A wrong value in ``[channels.webhook]`` names ``channels.webhook.<field>``."""
    (problem,) = problems(build, channels={"webhook": {"timeout": "ten seconds"}})
    assert problem.startswith("channels.webhook.timeout: ")


@pytest.mark.parametrize(("kind", "name"), [("platforms", "nosuch"), ("channels", "pigeon")])
def test_section_for_an_uninstalled_plugin_is_rejected(build: Callable[..., Gateway], kind: str, name: str) -> None:
    """A section naming no installed plugin (``[platforms.nosuch]``) is an error naming it."""
    assert problems(build, **{kind: {name: {}}}) == [
        f"{kind}.{name}: no enabled {kind[:-1]} plugin named {name!r} is installed"
    ]


def test_section_for_a_disabled_plugin_is_accepted(build: Callable[..., Gateway]) -> None:
    """A section for a disabled plugin is accepted (not even validated) and the plugin stays inactive."""
    gw = build(plugins={"disabled": ["platform_arindo"]}, platforms={"arindo": {"not_a_field": 1}})
    assert "arindo" not in gw.platforms
    assert [w for w in gw.warnings if "arindo" in w] == []


def test_unknown_disabled_name_becomes_a_warning(build: Callable[..., Gateway]) -> None:
    """``[plugins] disabled`` naming nothing installed warns and still starts."""
    gw = build(plugins={"disabled": ["channel_pigeon"]})
    assert "plugins.disabled: no plugin named 'channel_pigeon' is installed" in gw.warnings


def test_unconfigured_platform_stays_inactive_with_a_warning(build: Callable[..., Gateway]) -> None:
    """Outside the embedded default, a platform without its section is inactive and a warning says so."""
    gw = build()
    assert "arindo" not in gw.platforms
    (warning,) = [w for w in gw.warnings if w.startswith("platforms.arindo")]
    assert warning.startswith("platforms.arindo: not configured")
    assert warning.endswith("it stays inactive")


def test_channel_with_only_defaults_is_active_without_a_section(build: Callable[..., Gateway]) -> None:
    """A channel whose config has defaults for everything needs no section."""
    assert build().channels["webhook"].config.timeout == "10s"  # type: ignore[attr-defined]


# -- rules against plugins and endpoints ---------------------------------------------


def test_rule_with_an_uninstalled_channel_names_the_target(build: Callable[..., Gateway]) -> None:
    """A rule sending by ``sms`` when no SMS plugin is installed names ``rules[0].send[0].channel``."""
    rules = [{"name": "r", "send": [{"channel": "sms", "to": ["+6281200000001"]}]}]
    assert problems(build, rules=rules) == ["rules[0].send[0].channel: no enabled channel named 'sms'"]


def test_rule_with_a_disabled_channel_warns_and_starts(build: Callable[..., Gateway]) -> None:
    """A rule using the channel of a disabled plugin is a warning naming the plugin, and its recipients
    (which the unconfigured plugin cannot check) are not checked."""
    gw = build(
        plugins={"disabled": ["channel_sms", "channel_webhook"]},
        rules=[{"name": "sms", "send": [{"channel": "sms", "to": ["not a phone number"]}]}, webhook_rule("nowhere")],
    )
    assert [w for w in gw.warnings if w.startswith("rules")] == [
        "rules[0].send[0].channel: channel 'sms' is switched off ([plugins] disabled: channel_sms); "
        "its deliveries are stored as cancelled",
        "rules[1].send[0].channel: channel 'webhook' is switched off ([plugins] disabled: channel_webhook); "
        "its deliveries are stored as cancelled",
    ]
    assert "sms" not in gw.channels


def test_a_disabled_channel_still_checks_the_rest_of_the_rule(build: Callable[..., Gateway]) -> None:
    """Switching a channel off relaxes only its recipients: a bad locale on that target is still an error."""
    rules = [{"name": "r", "send": [{"channel": "sms", "to": ["+6281200000001"], "locale": "xx_YY"}]}]
    [problem] = problems(build, plugins={"disabled": ["channel_sms"]}, rules=rules)
    assert problem.startswith("rules[0].send[0].locale: ")


def test_webhook_rule_to_an_unknown_endpoint_names_the_target(build: Callable[..., Gateway]) -> None:
    """A webhook rule addressed to no ``[[webhooks]]`` endpoint names ``rules[0].send[0].to``."""
    result = problems(
        build,
        webhooks=[{"name": "known", "url": "https://w.example", "secret": SECRET}],
        rules=[webhook_rule("known", "unknown")],
    )
    assert result == ["rules[0].send[0].to: no [[webhooks]] endpoint named 'unknown'"]


def test_every_rule_problem_is_reported_at_once(build: Callable[..., Gateway]) -> None:
    """Problems in several rules and targets are all reported, each with its own key."""
    rules = [
        webhook_rule("a"),
        {"name": "r2", "send": [{"channel": "pigeon", "to": ["x@example.com"]}, {"channel": "webhook", "to": ["b"]}]},
    ]
    assert problems(build, rules=rules, platforms={"nosuch": {}}) == [
        "platforms.nosuch: no enabled platform plugin named 'nosuch' is installed",
        "rules[0].send[0].to: no [[webhooks]] endpoint named 'a'",
        "rules[1].send[0].channel: no enabled channel named 'pigeon'",
        "rules[1].send[1].to: no [[webhooks]] endpoint named 'b'",
    ]


def test_valid_configuration_routes_through_the_rule_evaluator(
    build: Callable[..., Gateway], make_notification: Callable[..., Notification]
) -> None:
    """A valid gateway routes a notification through its ``[[rules]]``."""
    gw = build(
        platforms={"arindo": {"server_key": "k"}},
        webhooks=[{"name": "w", "url": "https://w.example", "secret": SECRET}],
        rules=[{"name": "warn", "match": {"min_severity": "warning"}, "send": [{"channel": "webhook", "to": ["w"]}]}],
        security={"api_keys": [{"name": "ops", "key": "k" * 16, "scopes": ["admin"]}]},
    )
    routes: list[Route] = []
    gw.route_event(notification=make_notification(code="card_declined"), routes=routes)
    assert [(r.channel, r.recipient, r.rule) for r in routes] == [("webhook", "w", "warn")]
    assert list(gw.api_keys) == ["k" * 16]
    assert gw.in_process


def test_disabling_the_rule_evaluator_stops_rule_routing(
    build: Callable[..., Gateway], make_notification: Callable[..., Notification]
) -> None:
    """The built-in rule evaluator is a plugin named ``rules`` and can be disabled like any other."""
    gw = build(
        plugins={"disabled": ["rules"]},
        webhooks=[{"name": "w", "url": "https://w.example", "secret": SECRET}],
        rules=[webhook_rule("w")],
    )
    routes: list[Route] = []
    gw.route_event(notification=make_notification(), routes=routes)
    assert routes == []


# -- the embedded default -------------------------------------------------------------


def test_embedded_default_configures_arindo_from_its_sample(tmp_path: Path) -> None:
    """On the embedded default, ARINDO runs on its plugin's ``sample_config`` and nothing warns."""
    settings = msgspec.structs.replace(embedded_settings(), database=DatabaseConfig(url=f"sqlite:///{tmp_path}/x.db"))
    gw = Gateway.from_settings(settings)
    arindo = gw.platforms["arindo"]
    assert arindo.config == convert(type(arindo).sample_config, type(arindo).config_type, "")  # type: ignore[attr-defined]
    assert "webhook" in gw.channels
    assert gw.warnings == []
    assert gw.settings.sandbox.enabled is True


def test_embedded_default_prefers_an_explicit_section(tmp_path: Path) -> None:
    """An explicit section wins over the sample even on the embedded default."""
    settings = msgspec.structs.replace(
        embedded_settings(),
        database=DatabaseConfig(url=f"sqlite:///{tmp_path}/x.db"),
        platforms={"arindo": {"server_key": "SB-Mid-server-MINE"}},
    )
    assert Gateway.from_settings(settings).platforms["arindo"].config.server_key == "SB-Mid-server-MINE"  # type: ignore[attr-defined]


def test_embedded_sample_rules_keep_only_installed_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the email channel disabled, the embedded default still starts; its critical rule keeps SMS only."""
    settings = msgspec.structs.replace(embedded_settings(), plugins=PluginsConfig(disabled=["channel_email"]))
    gateway = Gateway.from_settings(settings)
    assert [t.channel for r in gateway.settings.rules for t in r.send] == ["webhook", "sms"]


# -- locales, time zones and templates ----------------------------------------------


def test_unknown_locale_and_time_zone_name_their_keys(build: Callable[..., Gateway]) -> None:
    """A rule target's unknown locale or time zone, or a quiet window's zone, is a start-up error naming the key."""
    rule = {
        "name": "r",
        "quiet_hours": [{"start": "22:00", "end": "06:00", "timezone": "Mars/Olympus"}],
        "send": [{"channel": "email", "to": ["ops@example.com"], "locale": "xx_YY", "timezone": "Asia/Nowhere"}],
    }
    found = problems(build, channels={"email": {"host": "127.0.0.1"}}, rules=[rule])
    assert [p.split(":")[0] for p in found] == [
        "rules[0].send[0].locale",
        "rules[0].send[0].timezone",
        "rules[0].quiet_hours[0].timezone",
    ]


def test_known_locale_without_a_catalog_is_accepted(build: Callable[..., Gateway]) -> None:
    """A locale Babel knows but Notigate has no words for (fr) is fine: its words fall back to English."""
    gw = build(
        channels={"email": {"host": "127.0.0.1"}},
        rules=[{"name": "r", "send": [{"channel": "email", "to": ["a@example.com"], "locale": "fr"}]}],
    )
    assert gw.settings.rules[0].send[0].locale == "fr"
    words = gw.templates.render("email", "event", template_contexts("event")[0], locale="fr", timezone="Asia/Jakarta")
    assert words.subject.startswith("Card declined: INV-2026-0001")
    assert "Card declined (Warning)" in words.text and "Amount: 150\u202f000\xa0IDR" in words.text
    assert 'Sent by Notigate because of the rule "fraud to the risk team".' in words.text


def test_template_syntax_error_stops_the_start_with_file_and_line(
    build: Callable[..., Gateway], tmp_path: Path
) -> None:
    """A broken override template is reported at start as ``templates: <file>:<line>: …``."""
    (tmp_path / "own" / "email").mkdir(parents=True)
    (tmp_path / "own" / "email" / "event.txt").write_text("Hello\n{{ event.code }\n")
    [problem] = problems(build, templates={"dir": str(tmp_path / "own")})
    assert problem.startswith(f"templates: {tmp_path / 'own' / 'email' / 'event.txt'}:2: ")


def test_duplicate_rule_names_are_rejected(build: Callable[..., Gateway]) -> None:
    """Rule names key digests and inhibitions, so two rules may not share one."""
    assert problems(
        build,
        webhooks=[{"name": "hook", "url": "https://h.example", "secret": SECRET}],
        rules=[webhook_rule("hook"), webhook_rule("hook")],
    ) == ["rules: two rules are named 'r' (names identify digests and inhibitions)"]


def test_channel_plugins_can_ship_default_templates(
    build: Callable[..., Gateway], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel class's ``templates_dir`` fills in files that neither the deployment nor templates/ has."""
    from notigate_channel_sms import SmsChannel

    shipped = tmp_path / "shipped" / "pager"
    shipped.mkdir(parents=True)
    (shipped / "event.txt").write_text("PAGE {{ event.code }}\n")
    monkeypatch.setattr(SmsChannel, "templates_dir", tmp_path / "shipped", raising=False)
    gw = build()
    words = gw.templates.render("pager", "event", template_contexts("event")[0], locale="en", timezone="Asia/Jakarta")
    assert words.text == "PAGE card_declined"
