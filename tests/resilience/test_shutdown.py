"""Stopping the embedded gateway mid-send gives the attempt back; the next start delivers it."""

from __future__ import annotations

from support import (
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate.testing import Receiver


async def test_shutdown_mid_send_burns_no_attempt(database_url: str, receiver: Receiver) -> None:
    """A delivery interrupted by shutdown is pending with 0 attempts, and is delivered after a restart."""
    receiver.delay = 2.0
    settings = make_settings(database_url, receiver.url)
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        notification_id = (
            await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        ).headers["notigate-notification-ids"]

        async def sending() -> bool:
            return [d.status for d in await gateway.repo.deliveries_of(notification_id)] == ["sending"]

        await wait_for(sending)
    receiver.delay = 0.0
    restarted = await migrated_gateway(settings)
    async with api_client(restarted):
        [delivery] = await restarted.repo.deliveries_of(notification_id)
        assert (delivery.status, delivery.attempts) == ("pending", 0)

        async def delivered() -> bool:
            [d] = await restarted.repo.deliveries_of(notification_id)
            return d.status == "delivered"

        await wait_for(delivered)
        [delivery] = await restarted.repo.deliveries_of(notification_id)
    assert delivery.attempts == 1
