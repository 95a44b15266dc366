"""``notigate.routing.rules``: the built-in rule evaluator behind hook ``notigate_route_event``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import notigate
from notigate.config.loading import convert
from notigate.config.settings import Rule, WebhookEndpoint
from notigate.events import Notification
from notigate.plugin.manager import load_plugins
from notigate.plugin.route import Route
from notigate.routing.rules import RuleEvaluator
from notigate.webhooks.endpoints import Endpoints

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def rule(match: dict[str, Any] | None = None, *, name: str = "r", to: str = "ops@example.com", **extra: Any) -> Rule:
    data: dict[str, Any] = {"name": name, "send": [{"channel": "email", "to": [to]}], **extra}
    if match is not None:
        data["match"] = match
    return convert(data, Rule, "rules[0]")


def endpoint(name: str, **fields: Any) -> WebhookEndpoint:
    return convert({"name": name, "url": f"https://{name}.example", "secret": SECRET, **fields}, WebhookEndpoint, "")


def route(rules: list[Rule], n: Notification, webhooks: list[WebhookEndpoint] = ()) -> list[Route]:  # type: ignore[assignment]
    routes: list[Route] = []
    RuleEvaluator(rules, Endpoints(webhooks).accepts).notigate_route_event(notification=n, routes=routes)
    return routes


MATCH_TABLE: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # (case, match, notification fields, fires)
    ("empty match fires for everything", {}, {}, True),
    ("exact code", {"codes": ["card_declined"]}, {"code": "card_declined"}, True),
    ("other code", {"codes": ["card_declined"]}, {"code": "payment_succeeded"}, False),
    ("code glob", {"codes": ["fraud_*"]}, {"code": "fraud_review"}, True),
    ("code glob, other prefix", {"codes": ["fraud_*"]}, {"code": "card_declined"}, False),
    ("question-mark glob", {"codes": ["timeou?"]}, {"code": "timeout"}, True),
    ("glob is case sensitive", {"codes": ["FRAUD_*"]}, {"code": "fraud_review"}, False),
    ("any of several codes", {"codes": ["timeout", "payment_*"]}, {"code": "payment_expired"}, True),
    ("platform listed", {"platforms": ["arindo", "paprika"]}, {"platform": "paprika"}, True),
    ("platform not listed", {"platforms": ["arindo"]}, {"platform": "assasta"}, False),
    ("platform names are case-insensitive in rules", {"platforms": ["ARINDO"]}, {"platform": "arindo"}, True),
    ("merchant listed", {"merchants": ["M-1", "M-2"]}, {"merchant_id": "M-2"}, True),
    ("merchant not listed", {"merchants": ["M-1"]}, {"merchant_id": "M-9"}, False),
    ("merchant missing", {"merchants": ["M-1"]}, {"merchant_id": None}, False),
    ("severity equal", {"min_severity": "warning"}, {"code": "card_declined"}, True),
    ("severity higher", {"min_severity": "warning"}, {"code": "fraud_suspected"}, True),
    ("severity lower", {"min_severity": "warning"}, {"code": "payment_succeeded"}, False),
    ("min severity info takes all", {"min_severity": "info"}, {"code": "payment_succeeded"}, True),
    ("explicit severity counts", {"min_severity": "critical"}, {"code": "card_declined", "severity": "critical"}, True),
    ("amount equal", {"min_amount": "150000.00"}, {"amount": Decimal("150000")}, True),
    ("amount higher", {"min_amount": "150000"}, {"amount": Decimal("150000.01")}, True),
    ("amount lower", {"min_amount": "150000"}, {"amount": Decimal("149999.99")}, False),
    ("amount missing", {"min_amount": "0"}, {"amount": None}, False),
    ("amount from a TOML integer", {"min_amount": 1000000}, {"amount": Decimal("1000000.00")}, True),
    (
        "all conditions hold",
        {
            "codes": ["card_*"],
            "platforms": ["arindo"],
            "merchants": ["M-1"],
            "min_severity": "warning",
            "min_amount": "100",
        },
        {"merchant_id": "M-1"},
        True,
    ),
    (
        "one condition fails",
        {
            "codes": ["card_*"],
            "platforms": ["arindo"],
            "merchants": ["M-1"],
            "min_severity": "warning",
            "min_amount": "1000000",
        },
        {"merchant_id": "M-1"},
        False,
    ),
]


@pytest.mark.parametrize(("match", "fields", "fires"), [c[1:] for c in MATCH_TABLE], ids=[c[0] for c in MATCH_TABLE])
def test_rule_matching(
    make_notification: Callable[..., Notification], match: dict[str, Any], fields: dict[str, Any], fires: bool
) -> None:
    """Every condition present must hold for a rule to fire."""
    routes = route([rule(match)], make_notification(**fields))
    assert bool(routes) is fires


def test_min_amount_is_a_decimal() -> None:
    """``min_amount`` is decoded as a Decimal, never a float."""
    assert rule({"min_amount": "0.1"}).match.min_amount == Decimal("0.1")
    assert isinstance(rule({"min_amount": 5}).match.min_amount, Decimal)


def test_every_matching_rule_fires(make_notification: Callable[..., Notification]) -> None:
    """All matching rules add their routes, in rule order; non-matching rules add none."""
    rules = [
        rule({"min_severity": "warning"}, name="a", to="a@x"),
        rule({"codes": ["payment_*"]}, name="b", to="b@x"),
        rule({"codes": ["card_*"]}, name="c", to="c@x"),
    ]
    assert [(r.rule, r.recipient) for r in route(rules, make_notification(code="card_declined"))] == [
        ("a", "a@x"),
        ("c", "c@x"),
    ]


def test_every_recipient_of_every_target_gets_a_route(make_notification: Callable[..., Notification]) -> None:
    """A rule adds one route per recipient per target."""
    r = convert(
        {"name": "many", "send": [{"channel": "email", "to": ["a@x", "b@x"]}, {"channel": "sms", "to": ["+62811"]}]},
        Rule,
        "",
    )
    assert [(x.channel, x.recipient) for x in route([r], make_notification())] == [
        ("email", "a@x"),
        ("email", "b@x"),
        ("sms", "+62811"),
    ]


def test_stop_ends_evaluation(make_notification: Callable[..., Notification]) -> None:
    """A matching rule with ``stop = true`` keeps its own routes and ends evaluation."""
    rules = [
        rule({"codes": ["card_*"]}, name="first", to="a@x"),
        rule({}, name="stopper", to="b@x", stop=True),
        rule({}, name="never", to="c@x"),
    ]
    assert [r.rule for r in route(rules, make_notification(code="card_declined"))] == ["first", "stopper"]


def test_stop_only_applies_when_its_rule_matches(make_notification: Callable[..., Notification]) -> None:
    """A ``stop`` rule that does not match lets evaluation go on."""
    rules = [rule({"codes": ["fraud_*"]}, name="stopper", stop=True), rule({}, name="later")]
    assert [r.rule for r in route(rules, make_notification(code="card_declined"))] == ["later"]


def test_no_rule_no_route(make_notification: Callable[..., Notification]) -> None:
    """Without rules, or with none matching, the route list stays empty (``no_route``)."""
    assert route([], make_notification()) == []
    assert route([rule({"codes": ["timeout"]})], make_notification()) == []


# -- webhook endpoints ------------------------------------------------------------------


def webhook_rule(*to: str) -> Rule:
    return convert({"name": "hooks", "send": [{"channel": "webhook", "to": list(to)}]}, Rule, "")


@pytest.mark.parametrize("events", [["payment.*"], ["payment.fraud_*"], []])
def test_rules_route_to_an_endpoint_whatever_its_events(
    make_notification: Callable[..., Notification], events: list[str]
) -> None:
    """An endpoint's ``events`` are its subscriptions, not a filter: a rule naming it routes any event to it."""
    routes = route([webhook_rule("hook")], make_notification(code="card_declined"), [endpoint("hook", events=events)])
    assert [(r.channel, r.recipient, r.rule) for r in routes] == [("webhook", "hook", "hooks")]


def test_disabled_webhook_endpoint_drops_the_route(make_notification: Callable[..., Notification]) -> None:
    """An endpoint with ``enabled = false`` gets no route; other recipients of the rule still do."""
    routes = route([webhook_rule("off", "on")], make_notification(), [endpoint("off", enabled=False), endpoint("on")])
    assert [r.recipient for r in routes] == ["on"]


def test_unknown_webhook_endpoint_gets_no_route(make_notification: Callable[..., Notification]) -> None:
    """A webhook recipient with no matching endpoint is dropped rather than routed nowhere."""
    assert route([webhook_rule("ghost")], make_notification(), []) == []


def test_endpoint_filter_does_not_apply_to_other_channels(make_notification: Callable[..., Notification]) -> None:
    """Event filters belong to webhook endpoints only; an email recipient named like one is unaffected."""
    r = convert({"name": "e", "send": [{"channel": "email", "to": ["hook"]}]}, Rule, "")
    assert len(route([r], make_notification(), [endpoint("hook", enabled=False)])) == 1


# -- what a route carries ------------------------------------------------------------------


def test_route_carries_rule_locale_and_timezone(make_notification: Callable[..., Notification]) -> None:
    """A route names its rule and carries the target's locale and time zone."""
    r = convert(
        {
            "name": "risk team",
            "send": [{"channel": "email", "to": ["risk@x"], "locale": "id", "timezone": "Asia/Makassar"}],
        },
        Rule,
        "",
    )
    assert route([r], make_notification()) == [
        Route(channel="email", recipient="risk@x", rule="risk team", locale="id", timezone="Asia/Makassar")
    ]


def test_route_defaults_to_english_and_jakarta(make_notification: Callable[..., Notification]) -> None:
    """Without locale or time zone a route is in English, Asia/Jakarta time."""
    (r,) = route([rule({})], make_notification())
    assert (r.locale, r.timezone) == ("en", "Asia/Jakarta")


# -- as a plugin -------------------------------------------------------------------------------


class Editor:
    """A plugin that sees the evaluator's routes and removes the email ones."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    @notigate.hookimpl
    def notigate_route_event(self, notification: Notification, routes: list[Route]) -> None:
        self.seen.append([r.recipient for r in routes])
        routes[:] = [r for r in routes if r.channel != "email"]


def test_evaluator_runs_first_so_plugins_can_edit_its_routes(make_notification: Callable[..., Notification]) -> None:
    """Through the hook, the evaluator runs before other plugins, which may change its routes."""
    evaluator = RuleEvaluator([rule({}, to="a@x"), webhook_rule("hook")], Endpoints([endpoint("hook")]).accepts)
    editor = Editor()
    plugins = load_plugins(entry_points=list, builtins=[("editor", editor), ("rules", evaluator)])
    routes: list[Route] = []
    plugins.hook("notigate_route_event")(notification=make_notification(), routes=routes)
    assert editor.seen == [["a@x", "hook"]]
    assert [r.recipient for r in routes] == ["hook"]
