"""``notigate worker``: the arq consumer that runs deliveries from Redis.

Job arguments are a delivery id (``deliver``: one step of one delivery) or a list of them
(``deliver_batch``: new deliveries, gathered by the API); the serializer is msgpack;
results are not kept, so a job id can be reused as soon as its job is done.

arq marks a running job in progress until its deadline; a worker killed with SIGKILL
would leave that mark, and the job with it, for the whole deadline. Here the mark lasts
one ``[delivery] lease`` and the worker's heartbeat renews it (``heartbeat.Heartbeat``),
so a dead worker's jobs run again on another worker within one lease, while a live
worker's long job keeps its mark. ``JOB_TIMEOUT`` only bounds a job that never ends
(its claims are then given back and the sweep re-drives its deliveries). ``max_tries`` is
high because the attempt count that matters is the one in the database: a SIGTERM
cancels a running job, which gives its attempt back (see ``attempt.Deliveries.deliver``) and runs again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from arq import func
from arq.constants import in_progress_key_prefix
from arq.worker import Worker

from notigate.delivery.heartbeat import Heartbeat
from notigate.delivery.queue import (
    BATCH_JOB,
    JOB_NAME,
    ArqQueue,
    deserialize,
    serialize,
)

JOB_TIMEOUT = 600


Deliver = Callable[[str | list[str]], Awaitable[None]]
"""What a job runs: ``Deliveries.deliver``."""


async def _deliver_job(ctx: dict[str, Any], delivery_ids: str | list[str]) -> None:
    heartbeat: Heartbeat = ctx["heartbeat"]
    with heartbeat.running(ctx["job_id"]):
        await ctx["deliver"](delivery_ids)


class _Worker(Worker):
    """arq's Worker, asking Redis about the jobs already running only once per poll.

    A job stays in the queue's sorted set while it runs, so every poll (20 a second) meets
    the running jobs of every worker again, and arq spends three round trips on each before
    it skips it; jobs waiting their turn for a busy destination's slots made that most of a
    second worker's CPU. Here the jobs running in this process are skipped without asking,
    and the others' in-progress marks are read in one pipeline; arq's own check still runs
    on what is left, so a job is never started twice.
    """

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        candidates = [job_id for job_id in job_ids if job_id.decode() not in self.tasks]
        if candidates:
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in candidates:
                    pipe.exists(in_progress_key_prefix + job_id.decode())
                running = await pipe.execute()
            candidates = [job_id for job_id, elsewhere in zip(candidates, running, strict=True) if not elsewhere]
        await super().start_jobs(candidates)


def build_worker(
    queue: ArqQueue,
    deliver: Deliver,
    heartbeat: Heartbeat,
    *,
    lease: float,
    max_jobs: int,
    on_startup: Callable[[], Awaitable[None]],
    on_shutdown: Callable[[], Awaitable[None]],
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    """An arq Worker running ``deliver`` for the jobs of ``queue``; ``on_startup`` and ``on_shutdown``
    open and close what ``deliver`` uses (the gateway builds it: ``Gateway.arq_worker``)."""

    async def startup(ctx: dict[str, Any]) -> None:
        await on_startup()
        ctx["deliver"], ctx["heartbeat"] = deliver, heartbeat

    async def shutdown(ctx: dict[str, Any]) -> None:
        await on_shutdown()

    worker = _Worker(
        functions=[
            func(_deliver_job, name=name, max_tries=1000, timeout=JOB_TIMEOUT) for name in (JOB_NAME, BATCH_JOB)
        ],
        queue_name=queue.name,
        redis_settings=queue.settings,
        on_startup=startup,
        on_shutdown=shutdown,
        job_serializer=serialize,
        job_deserializer=deserialize,
        max_jobs=max_jobs,
        keep_result=0,
        burst=burst,
        handle_signals=handle_signals,
        health_check_interval=30,
        poll_delay=0.05,
    )
    worker.in_progress_timeout_s = lease  # renewed by the heartbeat (see above)
    return worker


def run_worker(build: Callable[[], Worker]) -> None:
    """Build a worker and run it until SIGINT/SIGTERM, on uvloop where it is installed (as uvicorn runs ``serve``)."""
    try:
        import uvloop
    except ImportError:  # Windows: the standard loop
        pass
    else:  # arq's Worker takes the current loop when it is built
        asyncio.set_event_loop(uvloop.new_event_loop())
    build().run()
