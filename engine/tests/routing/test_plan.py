"""``notigate.routing.plan``: quiet hours, silences, inhibition keys and digest groups per route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notigate.config.loading import convert
from notigate.config.settings import QuietHours, Rule
from notigate.events import Notification
from notigate.plugin.route import Route
from notigate.routing.plan import Policies
from notigate.routing.quiet_hours import quiet_until
from notigate.routing.silences import Matcher, Silence

# 2024-08-01 is a Thursday; 15:00 UTC is 22:00 in Jakarta (WIB, UTC+7).
THU_22_WIB = datetime(2024, 8, 1, 15, 0, tzinfo=UTC)


def window(start: str, end: str, **extra: Any) -> QuietHours:
    return convert({"start": start, "end": end, **extra}, QuietHours, "quiet_hours[0]")


def rule(name: str = "r", **extra: Any) -> Rule:
    return convert({"name": name, "send": [{"channel": "email", "to": ["ops@example.com"]}], **extra}, Rule, "rules[0]")


def route(rule_name: str = "r", recipient: str = "ops@example.com", channel: str = "email") -> Route:
    return Route(channel=channel, recipient=recipient, rule=rule_name)


QUIET_TABLE: list[tuple[str, list[QuietHours], str, datetime, datetime | None]] = [
    # (case, windows, severity, now, held until)
    (
        "inside a window that crosses midnight",
        [window("21:00", "06:00")],
        "warning",
        THU_22_WIB,
        datetime(2024, 8, 1, 23, 0, tzinfo=UTC),
    ),  # Fri 06:00 WIB
    (
        "after midnight, the window opened the day before",
        [window("21:00", "06:00")],
        "warning",
        THU_22_WIB + timedelta(hours=4),
        datetime(2024, 8, 1, 23, 0, tzinfo=UTC),
    ),
    ("outside the window", [window("21:00", "06:00")], "warning", THU_22_WIB - timedelta(hours=2), None),
    ("end is exclusive", [window("21:00", "06:00")], "warning", datetime(2024, 8, 1, 23, 0, tzinfo=UTC), None),
    ("same-day window", [window("12:00", "23:00")], "error", THU_22_WIB, datetime(2024, 8, 1, 16, 0, tzinfo=UTC)),
    ("not on this weekday", [window("21:00", "06:00", days=["sat", "sun"])], "warning", THU_22_WIB, None),
    ("window in another time zone", [window("21:00", "06:00", timezone="UTC")], "warning", THU_22_WIB, None),
    ("critical bypasses quiet hours", [window("21:00", "06:00")], "critical", THU_22_WIB, None),
    (
        "unless the window includes critical",
        [window("21:00", "06:00", include_critical=True)],
        "critical",
        THU_22_WIB,
        datetime(2024, 8, 1, 23, 0, tzinfo=UTC),
    ),
    (
        "overlapping windows: the later end",
        [window("21:00", "23:00"), window("20:00", "06:00")],
        "warning",
        THU_22_WIB,
        datetime(2024, 8, 1, 23, 0, tzinfo=UTC),
    ),
    ("no windows", [], "warning", THU_22_WIB, None),
]


@pytest.mark.parametrize(
    ("windows", "severity", "now", "until"), [c[1:] for c in QUIET_TABLE], ids=[c[0] for c in QUIET_TABLE]
)
def test_quiet_hours(windows: list[QuietHours], severity: str, now: datetime, until: datetime | None) -> None:
    """Deliveries inside a quiet window wait for its end, in the window's own time zone."""
    assert quiet_until(windows, severity, now) == until


def test_held_route_is_pending_until_the_window_ends(make_notification: Callable[..., Notification]) -> None:
    """A quiet-hours route is planned pending, due at the window's end, with a note saying why."""
    policies = Policies([rule(quiet_hours=[{"start": "21:00", "end": "06:00"}])])
    [plan] = policies.plan(make_notification(), [route()], THU_22_WIB, [], None)
    assert (plan.status, plan.due) == ("pending", datetime(2024, 8, 1, 23, 0, tzinfo=UTC))
    assert plan.note is not None and "quiet hours" in plan.note


def silence(*matchers: tuple[str, str] | tuple[str, str, bool], hours: float = 1) -> Silence:
    return Silence(
        id="sil_1",
        matchers=[Matcher(*m) for m in matchers],
        starts_at=THU_22_WIB - timedelta(hours=1),  # type: ignore[arg-type]
        ends_at=THU_22_WIB + timedelta(hours=hours),
        created_by="ops",
        comment="bank maintenance",
        created_at=THU_22_WIB,
    )


SILENCE_TABLE: list[tuple[str, Silence, bool]] = [
    ("platform and code", silence(("platform", "arindo"), ("code", "card_declined")), True),
    ("code glob", silence(("code", "card_*")), True),
    ("other platform", silence(("platform", "paprika")), False),
    ("every matcher must hold", silence(("platform", "arindo"), ("code", "timeout")), False),
    ("negative matcher", silence(("platform", "paprika", False)), True),
    ("by channel", silence(("channel", "sms")), False),
    ("by recipient", silence(("recipient", "ops@*")), True),
    ("by rule", silence(("rule", "r")), True),
    ("expired", silence(("platform", "arindo"), hours=-0.5), False),
]


@pytest.mark.parametrize(("s", "muted"), [c[1:] for c in SILENCE_TABLE], ids=[c[0] for c in SILENCE_TABLE])
def test_silences(make_notification: Callable[..., Notification], s: Silence, muted: bool) -> None:
    """An active silence whose every matcher holds mutes the route: cancelled, with the silence named."""
    [plan] = Policies([rule()]).plan(make_notification(), [route()], THU_22_WIB, [s], None)
    assert (plan.status == "cancelled") is muted
    if muted:
        assert plan.note is not None and "sil_1" in plan.note and "bank maintenance" in plan.note


def test_inhibition_keys_follow_the_equal_fields(make_notification: Callable[..., Notification]) -> None:
    """An outage of one platform inhibits that platform's follow-ups only."""
    outage = rule(
        "outage",
        match={"codes": ["provider_unavailable"]},
        inhibit={"codes": ["timeout", "card_*"], "equal": ["platform"], "duration": "10m"},
    )
    policies = Policies([outage])
    source = policies.sources(make_notification(code="provider_unavailable"), ["outage"])
    assert [v for v in source.values()] == [("outage", 600.0)]
    same = policies.inhibition_keys(make_notification(code="card_declined"))
    other_platform = policies.inhibition_keys(make_notification(code="card_declined", platform="paprika"))
    unrelated = policies.inhibition_keys(make_notification(code="fraud_review"))
    assert set(same) == set(source) and not set(other_platform) & set(source) and unrelated == {}


def test_inhibited_routes_are_cancelled_with_the_reason(make_notification: Callable[..., Notification]) -> None:
    """Inhibition mutes every route of the event and says which rule and event caused it."""
    plans = Policies([rule()]).plan(
        make_notification(),
        [route(), route(channel="sms", recipient="+6281")],
        THU_22_WIB,
        [],
        "rule 'outage' fired for ntf_1",
    )
    assert [(p.status, p.note) for p in plans] == [("cancelled", "inhibited: rule 'outage' fired for ntf_1")] * 2


def test_group_keys(make_notification: Callable[..., Notification]) -> None:
    """Same rule, recipient and group values share a group; another code or recipient does not."""
    policies = Policies([rule(group_by=["platform", "code"], group_window="60s", repeat_interval="10m")])

    def key(n: Notification, recipient: str = "ops@example.com") -> str:
        [plan] = policies.plan(n, [route(recipient=recipient)], THU_22_WIB, [], None)
        assert plan.digest is not None and plan.digest.window == 60 and plan.digest.repeat == 600
        return plan.digest.key

    first = key(make_notification(reference="A"))
    assert key(make_notification(reference="B")) == first  # reference is not a group_by field
    assert key(make_notification(code="timeout")) != first
    assert key(make_notification(), recipient="risk@example.com") != first


def test_routes_of_one_rule_share_its_timing_not_its_group(make_notification: Callable[..., Notification]) -> None:
    """Two recipients of one rule: both held until the same window's end, each folded into its own group."""
    policies = Policies(
        [rule(quiet_hours=[{"start": "21:00", "end": "06:00"}], group_by=["platform"], group_window="60s")]
    )
    first, second = policies.plan(
        make_notification(), [route(), route(recipient="risk@example.com")], THU_22_WIB, [], None
    )
    assert first.due == second.due == datetime(2024, 8, 1, 23, 0, tzinfo=UTC) and first.note == second.note
    assert first.digest is not None and second.digest is not None
    assert first.digest.values == second.digest.values == {"platform": "arindo"}
    assert first.digest.key != second.digest.key


def test_routes_of_rules_without_policies_go_out_now(make_notification: Callable[..., Notification]) -> None:
    """Plugin-added routes (no such rule) and plain rules are due at once."""
    plans = Policies([rule()]).plan(make_notification(), [route(), route("plugin:x")], THU_22_WIB, [], None)
    assert [(p.status, p.due, p.digest, p.note) for p in plans] == [("pending", THU_22_WIB, None, None)] * 2


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"group_by": ["platform"]}, "`group_by` and `group_window` go together"),
        ({"group_window": "60s"}, "`group_by` and `group_window` go together"),
        ({"repeat_interval": "1h"}, "`repeat_interval` needs `group_by`"),
        ({"group_by": ["amount"], "group_window": "60s"}, "rules[0].group_by[0]"),
        ({"quiet_hours": [{"start": "25:00", "end": "06:00"}]}, "rules[0].quiet_hours[0].start"),
        ({"quiet_hours": [{"start": "22:00", "end": "06:00", "days": ["monday"]}]}, "rules[0].quiet_hours[0].days[0]"),
        ({"inhibit": {"codes": []}}, "rules[0].inhibit.codes"),
    ],
)
def test_rule_policy_config_errors_name_the_key(extra: dict[str, Any], problem: str) -> None:
    """Misconfigured grouping, quiet hours and inhibition are start-up errors naming the key."""
    from notigate.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        rule(**extra)
    assert problem in exc.value.problems[0]
