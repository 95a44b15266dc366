"""The built-in rule evaluator: ``[[rules]]`` of the configuration, as a plugin.

Rules are compiled once when the gateway starts; evaluation is a few comparisons per
rule. Registered ``tryfirst`` so that installed plugins see (and may change) its routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from notigate import hookimpl
from notigate.config.settings import Rule
from notigate.events import Notification, severity_rank
from notigate.plugin.route import Route
from notigate.routing.globs import glob_matcher

Accepts = Callable[[str, str], bool]
"""Whether a channel takes a recipient now (channel, recipient): a rule naming a webhook endpoint that is
unknown or disabled gets no route to it."""


class _Compiled:
    __slots__ = ("codes", "merchants", "min_amount", "min_rank", "platforms", "rule")

    def __init__(self, rule: Rule) -> None:
        m = rule.match
        self.rule = rule
        self.codes = glob_matcher(m.codes)
        self.platforms = frozenset(p.lower() for p in m.platforms)
        self.merchants = frozenset(m.merchants)
        self.min_rank = severity_rank(m.min_severity) if m.min_severity else None
        self.min_amount: Decimal | None = m.min_amount

    def matches(self, n: Notification) -> bool:
        """Cheapest conditions first: set lookups, then the severity, the amount, the code globs."""
        if self.platforms and n.platform not in self.platforms:
            return False
        if self.merchants and n.merchant_id not in self.merchants:
            return False
        if self.min_rank is not None and severity_rank(n.severity) < self.min_rank:
            return False
        if self.min_amount is not None and (n.amount is None or n.amount < self.min_amount):
            return False
        return self.codes is None or self.codes(n.code)


class RuleEvaluator:
    """Appends a route per recipient of every matching rule, until a ``stop`` rule matches."""

    def __init__(self, rules: list[Rule], accepts: Accepts) -> None:
        self.accepts = accepts
        self.load(rules)

    def load(self, rules: list[Rule]) -> None:
        """Compile ``rules`` once; evaluation then only compares."""
        self._rules = [_Compiled(r) for r in rules]

    def _matched(self, n: Notification) -> Iterator[Rule]:
        """The rules whose conditions ``n`` meets, in order, up to the first ``stop`` one."""
        for compiled in self._rules:
            if compiled.matches(n):
                yield compiled.rule
                if compiled.rule.stop:
                    return

    def matching(self, n: Notification) -> list[str]:
        """Names of the rules whose conditions ``n`` meets (``stop`` respected), routes or not."""
        return [rule.name for rule in self._matched(n)]

    @hookimpl(tryfirst=True)
    def notigate_route_event(self, notification: Notification, routes: list[Route]) -> None:
        for rule in self._matched(notification):
            for target in rule.send:
                for recipient in target.to:
                    if self.accepts(target.channel, recipient):
                        routes.append(
                            Route(
                                channel=target.channel,
                                recipient=recipient,
                                rule=rule.name,
                                locale=target.locale,
                                timezone=target.timezone,
                            )
                        )
