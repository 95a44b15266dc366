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
cancels a running job, which gives its attempt back (see ``delivery.deliver``) and runs again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq import func
from arq.worker import Worker

from notigate.delivery import deliver
from notigate.gateway import Gateway
from notigate.queue import BATCH_JOB, JOB_NAME, ArqQueue, deserialize, serialize

JOB_TIMEOUT = 600


async def _deliver_job(ctx: dict[str, Any], delivery_ids: str | list[str]) -> None:
    gateway: Gateway = ctx["gateway"]
    with gateway.heartbeat.running(ctx["job_id"]):
        await deliver(gateway, delivery_ids)


def build_worker(gateway: Gateway, *, burst: bool = False, handle_signals: bool = True) -> Worker:
    """An arq Worker bound to ``gateway`` (whose queue must be Redis)."""
    if not isinstance(gateway.queue, ArqQueue):
        raise ValueError("notigate worker needs [queue] url = redis://…; the embedded queue delivers inside `serve`")
    queue = gateway.queue

    async def startup(ctx: dict[str, Any]) -> None:
        await gateway.start(run_deliveries=True)
        ctx["gateway"] = gateway

    async def shutdown(ctx: dict[str, Any]) -> None:
        await gateway.close()

    worker = Worker(
        functions=[func(_deliver_job, name=name, max_tries=1000, timeout=JOB_TIMEOUT) for name in (JOB_NAME, BATCH_JOB)],
        queue_name=queue.name,
        redis_settings=queue.settings,
        on_startup=startup,
        on_shutdown=shutdown,
        job_serializer=serialize,
        job_deserializer=deserialize,
        max_jobs=gateway.settings.queue.max_jobs,
        keep_result=0,
        burst=burst,
        handle_signals=handle_signals,
        health_check_interval=30,
        poll_delay=0.05,
    )
    worker.in_progress_timeout_s = gateway.lease_seconds  # renewed by the heartbeat (see above)
    return worker


def run_worker(gateway: Gateway) -> None:
    """Run until SIGINT/SIGTERM, on uvloop where it is installed (as uvicorn runs ``serve``)."""
    try:
        import uvloop
    except ImportError:  # Windows: the standard loop
        pass
    else:  # arq's Worker takes the current loop when it is built
        asyncio.set_event_loop(uvloop.new_event_loop())
    worker = build_worker(gateway)
    worker.run()
