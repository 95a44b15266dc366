"""The built-in subscription router: webhook endpoints get the events they subscribed to.

An endpoint, from ``[[webhooks]]`` or ``POST /api/v1/webhooks/endpoints`` alike, receives
every event whose type ``payment.<code>`` matches one of its ``events`` globs, with no
rule to write, as Svix and Stripe subscribers expect; one without ``events`` (the file's
default) gets only what rules route to it. Registered ``tryfirst`` like the rule
evaluator, so installed plugins see (and may change or drop) these routes too, and
registered before it, so it runs after it: where a rule also names the endpoint, the
rule's route comes first and is the one the pipeline keeps.
"""

from __future__ import annotations

from notigate import hookimpl
from notigate.events import Notification
from notigate.plugin.route import Route
from notigate.webhooks.endpoints import CHANNEL, Endpoints

RULE = "subscription"
"""The ``rule`` of the routes (and deliveries) this plugin adds."""


class Subscriptions:
    """Appends one webhook route per subscribed endpoint; reads the registry's memory only."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

    @hookimpl(tryfirst=True)
    def notigate_route_event(self, notification: Notification, routes: list[Route]) -> None:
        event_type = f"payment.{notification.code}"
        for endpoint in self.endpoints.all():
            if endpoint.enabled and endpoint.accepts(event_type):
                routes.append(Route(channel=CHANNEL, recipient=endpoint.name, rule=RULE))
