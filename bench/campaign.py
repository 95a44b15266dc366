"""The fault campaign at length: ``uv run python bench/campaign.py --seconds 60 --rate 150``.

Runs ``tests/campaign.py`` (two ``serve``, two ``worker``, private PostgreSQL and Redis, a receiver
failing a seeded share of webhooks, worker and API SIGKILLs, a Redis flush, a PostgreSQL restart)
with the plan given here, ``--repeat`` times, and prints each verdict and the problems found; the
exit status is 1 if any run found one. ``tests/test_campaign.py`` runs a short one in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import campaign


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = campaign.Plan()
    for f in dataclasses.fields(campaign.Plan):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name)
        )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    plan = campaign.Plan(**{f.name: getattr(args, f.name) for f in dataclasses.fields(campaign.Plan)})
    failed = 0
    for run in range(1, args.repeat + 1):
        verdict, logs = asyncio.run(campaign.run(plan))
        problems = verdict.problems(plan)
        failed += bool(problems)
        print(f"run {run}/{args.repeat}: {(len(problems) and 'FAILED') or 'ok'}")
        print(
            f"  {verdict.acknowledged} callbacks acknowledged ({verdict.callback_attempts} sent, "
            f"{verdict.callbacks_refused} refused and sent again, {verdict.server_errors} with a 5xx); "
            f"{verdict.notifications} notifications stored, "
            f"{len(verdict.lost)} lost"
        )
        print(
            f"  {verdict.delivered} of {verdict.deliveries} deliveries delivered; not delivered: {verdict.stuck or 0}; "
            f"{verdict.duplicate_arrivals} webhook-ids answered 200 more than once (at-least-once resends)"
        )
        print(
            f"  longest wait for an attempt {verdict.longest_wait:.1f}s (bound {plan.bound:.0f}s); acceptance to "
            f"delivery p50 {verdict.latency['p50']:.2f}s, p99 {verdict.latency['p99']:.2f}s, "
            f"max {verdict.latency['max']:.2f}s"
        )
        print(f"  faults: {', '.join(f'{what} at {at:g}s' for at, what in verdict.faults)}")
        for problem in problems:
            print(f"  PROBLEM: {problem}")
        if args.keep_logs or problems:
            print(f"  logs: {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
