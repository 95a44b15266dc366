"""Rule evaluation + rendering per event, with 100 rules (issue 5's benchmark).

Builds a gateway on the embedded default's plugins with 100 ``[[rules]]`` of every kind
(code globs, platforms, merchants, severities, amounts; some grouped, some with quiet
hours, one inhibiting), then for a mix of events times, per event:

* ``route``: every routing hook implementation (the built-in evaluator first) as ingest runs it;
* ``plan``: quiet hours, silences (5 active), inhibition keys and digest keys per route;
* ``render``: the localized email templates (subject, text, HTML) of one route, alternating
  ``en`` and ``id``, as a worker renders them.

Prints the median per event over ``--rounds`` rounds of ``--events`` events, in CPU time
of this process (``time.process_time``): on a shared machine, wall time also counts the
moments another process had the core.

    cd /work/main && .venv/bin/python bench/rules.py [--events 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from notigate.app.gateway import Gateway
from notigate.config.loading import convert
from notigate.config.settings import Settings
from notigate.events import TAXONOMY, Notification
from notigate.routing.silences import Matcher, Silence

CODES = list(TAXONOMY)
PLATFORMS = ["arindo", "paprika", "assasta"]


def rules(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(count):
        match: dict[str, Any] = {}
        if i % 2 == 0:
            match["codes"] = [CODES[i % len(CODES)], f"{CODES[(i * 7) % len(CODES)].split('_')[0]}_*"]
        if i % 3 == 0:
            match["platforms"] = [PLATFORMS[i % 3]]
        if i % 5 == 0:
            match["merchants"] = [f"M-{i % 10}", f"M-{(i + 1) % 10}"]
        if i % 4 == 1:
            match["min_severity"] = ["warning", "error", "critical"][i % 3]
        if i % 7 == 0:
            match["min_amount"] = str(10_000 * (i % 9))
        rule: dict[str, Any] = {
            "name": f"rule-{i:03d}",
            "match": match,
            "send": [{"channel": "email", "to": [f"team{i}@example.com"], "locale": "id" if i % 2 else "en"}],
        }
        if i % 10 == 3:
            rule.update(group_by=["platform", "code"], group_window="60s")
        if i % 10 == 5:
            rule["quiet_hours"] = [{"start": "22:00", "end": "06:00"}]
        if i == 99:
            rule["inhibit"] = {"codes": ["timeout", "card_declined"], "equal": ["platform"]}
        out.append(rule)
    return out


def events(n: int) -> list[Notification]:
    now = datetime.now(UTC)
    return [
        Notification(
            id=f"ntf_{i:026d}",
            platform=PLATFORMS[i % 3],
            code=CODES[(i * 5) % len(CODES)],
            severity=TAXONOMY[CODES[(i * 5) % len(CODES)]],
            message=f"Event {i} <b>from</b> the bank",
            platform_code="202",
            occurred_at=now,
            received_at=now,
            amount=Decimal(1500 * i) / 100,
            currency="IDR",
            reference=f"INV-{i}",
            merchant_id=f"M-{i % 10}",
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rules", type=int, default=100)
    args = parser.parse_args()
    settings = convert(
        {
            "database": {"url": "sqlite:////tmp/notigate-bench-rules.db"},
            "sandbox": {"enabled": True},
            "channels": {"email": {"host": "127.0.0.1", "port": 25, "sender": "Notigate <a@example.com>"}},
            "rules": rules(args.rules),
        },
        Settings,
        "",
    )
    gw = Gateway.from_settings(settings)
    now = datetime.now(UTC)
    silences = [
        Silence(
            id=f"sil_{i}",
            matchers=[Matcher("platform", "paprika"), Matcher("code", f"x{i}_*")],
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=1),
            created_by="bench",
            comment="bench",
            created_at=now,
        )
        for i in range(5)
    ]
    batch = events(args.events)
    per: dict[str, list[float]] = {"route": [], "plan": [], "render": [], "total": []}
    routed = 0
    for _ in range(args.rounds):
        t_route = t_plan = t_render = 0.0
        for k, n in enumerate(batch):
            t0 = time.process_time()
            routes = gw.ingest.route(n)
            t1 = time.process_time()
            gw.policies.inhibition_keys(n)
            plans = gw.policies.plan(n, routes, now, silences, None)
            t2 = time.process_time()
            if plans:
                gw.templates.render(
                    "email",
                    "event",
                    {"event": n, "rule": plans[0].route.rule, "recipient": plans[0].route.recipient},
                    locale="id" if k % 2 else "en",
                    timezone="Asia/Jakarta",
                )
            t3 = time.process_time()
            t_route, t_plan, t_render = t_route + t1 - t0, t_plan + t2 - t1, t_render + t3 - t2
            routed += len(routes)
        per["route"].append(t_route / len(batch) * 1e6)
        per["plan"].append(t_plan / len(batch) * 1e6)
        per["render"].append(t_render / len(batch) * 1e6)
        per["total"].append((t_route + t_plan + t_render) / len(batch) * 1e6)
    print(
        f"{args.rules} rules, {args.events} events x {args.rounds} rounds, "
        f"{routed / args.rounds / len(batch):.1f} routes per event on average"
    )
    for name, values in per.items():
        print(
            f"  {name:<7} median {statistics.median(values):7.1f} µs CPU/event   "
            f"(rounds {min(values):.1f}–{max(values):.1f})"
        )


if __name__ == "__main__":
    main()
