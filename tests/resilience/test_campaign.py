"""A short fault campaign on the production shape (see ``campaign.py``): nothing acknowledged is lost
or stored twice, and every delivery is delivered within the recovery bound, through SIGKILLed
workers and an API process, a flushed Redis and a restarted PostgreSQL."""

from __future__ import annotations

import shutil

import campaign
import pytest


async def test_faults_lose_nothing_and_strand_nothing() -> None:
    plan = campaign.Plan()
    try:
        verdict, logs = await campaign.run(plan)
    except (RuntimeError, OSError) as exc:  # no server binaries, or no way to run them here
        pytest.fail(f"the campaign could not set up its servers: {exc}")
    print(f"campaign: {verdict}")
    assert verdict.problems(plan) == [], f"{verdict}; logs in {logs}"
    assert verdict.acknowledged >= plan.seconds * plan.rate * 0.99
    shutil.rmtree(logs, ignore_errors=True)
