"""Silences, quiet hours, inhibition and reload, end to end through the API."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import (
    API_KEY,
    AUTH,
    JSON,
    WEBHOOK_SECRET,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate import clock, hookimpl
from notigate.errors import ConfigError
from notigate.messages.samples import sample_notification
from notigate.plugin.route import Route
from notigate.testing import Receiver

REPORT = {
    "platform": "arindo",
    "error_code": "card_declined",
    "message": "Card declined by issuer",
    "amount": "150000.00",
    "currency": "IDR",
    "reference": "INV-1",
}
READER = {"name": "reader", "key": "reader-key-0123456789", "scopes": ["read"]}


@pytest.fixture(autouse=True)
def real_time_after() -> Iterator[None]:
    yield
    clock.reset()


async def _report(client: Any, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/notifications/error", headers=AUTH, json={**REPORT, **fields})
    assert response.status_code == 202, response.text
    return dict((await client.get(f"/api/v1/notifications/{response.json()['id']}", headers=AUTH)).json())


async def _until(client: Any, notification_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        n = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
        return dict(n) if n["notification"]["status"] == status else None

    return dict(await wait_for(probe))


# -- silences -------------------------------------------------------------------------------------
async def test_silence_mutes_matching_routes_visibly(database_url: str, receiver: Receiver) -> None:
    """A silenced route is stored cancelled with the silence named; other platforms still deliver."""
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        created = await client.post(
            "/api/v1/silences",
            headers=AUTH,
            json={
                "matchers": [{"name": "platform", "value": "arindo"}, {"name": "code", "value": "card_*"}],
                "ends_at": ends,
                "created_by": "siti",
                "comment": "bank maintenance until 02:00",
            },
        )
        assert created.status_code == 201, created.text
        silence = created.json()
        assert silence["state"] == "active" and silence["id"].startswith("sil_")

        muted = await _report(client)
        assert muted["notification"]["status"] == "silenced"
        [delivery] = muted["deliveries"]
        assert delivery["status"] == "cancelled" and silence["id"] in delivery["note"]
        passed = await _report(client, error_code="timeout", reference="INV-2")
        await _until(client, passed["notification"]["id"], "delivered")
        assert len(receiver.requests) == 1

        listed = (await client.get("/api/v1/silences", headers=AUTH)).json()
        assert [s["id"] for s in listed] == [silence["id"]]
        expired = await client.delete(f"/api/v1/silences/{silence['id']}", headers=AUTH)
        assert expired.status_code == 200 and expired.json()["state"] == "expired"
        assert (await client.get("/api/v1/silences", headers=AUTH)).json() == []
        assert len((await client.get("/api/v1/silences?all=true", headers=AUTH)).json()) == 1
        after = await _report(client, reference="INV-3")
        await _until(client, after["notification"]["id"], "delivered")


# -- channels switched off ------------------------------------------------------------------------
async def test_routes_to_a_disabled_channel_are_stored_cancelled(database_url: str, receiver: Receiver) -> None:
    """With ``channel_sms`` disabled the gateway starts with a warning; a callback's SMS route is stored
    cancelled with a note naming the plugin while its webhook route is delivered (status ``delivered``);
    an event whose only route is SMS is ``silenced``."""
    sms = {"channel": "sms", "to": ["+6281200000001"]}
    rules = [
        {
            "name": "warnings to the receiver and on-call",
            "match": {"min_severity": "warning"},
            "send": [{"channel": "webhook", "to": ["receiver"]}, sms],
        },
        {"name": "refunds to on-call", "match": {"codes": ["payment_refunded"]}, "send": [sms]},
    ]
    gateway = await migrated_gateway(
        make_settings(database_url, receiver.url, rules=rules, plugins={"disabled": ["channel_sms"]})
    )
    assert (
        "rules[0].send[1].channel: channel 'sms' is switched off ([plugins] disabled: channel_sms); "
        "its deliveries are stored as cancelled" in gateway.warnings
    )
    async with api_client(gateway) as client:
        answer = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        assert answer.status_code == 200, answer.text
        detail = await _until(client, answer.headers["notigate-notification-ids"], "delivered")
        by_channel = {d["channel"]: d for d in detail["deliveries"]}
        assert by_channel["webhook"]["status"] == "delivered"
        assert (by_channel["sms"]["status"], by_channel["sms"]["note"]) == (
            "cancelled",
            "channel 'sms' is switched off ([plugins] disabled: channel_sms)",
        )
        assert len(receiver.requests) == 1
        refund = await _report(client, error_code="payment_refunded", reference="INV-2")
        assert refund["notification"]["status"] == "silenced"
        assert [d["status"] for d in refund["deliveries"]] == ["cancelled"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": [], "ends_at": "2999-01-01T00:00:00Z", "created_by": "a", "comment": "c"}, "matchers"),
        (
            {
                "matchers": [{"name": "colour", "value": "x"}],
                "ends_at": "2999-01-01T00:00:00Z",
                "created_by": "a",
                "comment": "c",
            },
            "name",
        ),
        (
            {
                "matchers": [{"name": "code", "value": "x"}],
                "ends_at": "2000-01-01T00:00:00Z",
                "created_by": "a",
                "comment": "c",
            },
            "ends_at",
        ),
        (
            {
                "matchers": [{"name": "code", "value": "x"}],
                "ends_at": "2999-01-01T00:00:00",
                "created_by": "a",
                "comment": "c",
            },
            "ends_at",
        ),
        (
            {"matchers": [{"name": "code", "value": "x"}], "ends_at": "2999-01-01T00:00:00Z", "comment": "c"},
            "created_by",
        ),
    ],
)
async def test_bad_silences_are_400_naming_the_field(sqlite_url: str, body: dict[str, Any], field: str) -> None:
    """A malformed silence is refused with the field named, and nothing is stored."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/silences", headers=AUTH, json=body)
        assert response.status_code == 400 and field in response.json()["detail"], response.text
        assert (await client.get("/api/v1/silences?all=true", headers=AUTH)).json() == []


async def test_silences_need_the_admin_scope_to_change(sqlite_url: str) -> None:
    """Readers may list silences; creating and expiring them needs an admin key."""
    settings = make_settings(
        sqlite_url, security={"api_keys": [{"name": "tests", "key": API_KEY, "scopes": ["admin"]}, READER]}
    )
    gateway = await migrated_gateway(settings)
    reader = {"X-API-Key": READER["key"]}
    async with api_client(gateway) as client:
        assert (await client.get("/api/v1/silences", headers=reader)).status_code == 200
        body = {
            "matchers": [{"name": "code", "value": "x"}],
            "ends_at": "2999-01-01T00:00:00Z",
            "created_by": "a",
            "comment": "c",
        }
        assert (await client.post("/api/v1/silences", headers=reader, json=body)).status_code == 403
        assert (await client.delete("/api/v1/silences/sil_01J00000000000000000000000", headers=AUTH)).status_code == 404


# -- quiet hours ----------------------------------------------------------------------------------
def _quiet_now(hours: float = 1) -> dict[str, Any]:
    """A quiet window (Jakarta time) that started a minute ago and lasts ``hours``."""
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    start, end = now - timedelta(minutes=1), now + timedelta(hours=hours)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "days": [start.strftime("%a").lower()]}


async def test_quiet_hours_defer_until_the_window_ends(database_url: str, receiver: Receiver) -> None:
    """Inside quiet hours a warning waits (pending, with a note) and goes out when the window ends;
    a critical event goes out at once."""
    rules = [
        {
            "name": "night shift",
            "match": {"min_severity": "warning"},
            "quiet_hours": [_quiet_now()],
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        }
    ]
    gateway = await migrated_gateway(make_settings(database_url, receiver.url, rules=rules))
    async with api_client(gateway) as client:
        held = await _report(client)
        [delivery] = held["deliveries"]
        assert (held["notification"]["status"], delivery["status"]) == ("delivering", "pending")
        assert "quiet hours" in delivery["note"]
        critical = await _report(client, error_code="provider_unavailable", reference="INV-2")
        await _until(client, critical["notification"]["id"], "delivered")
        assert len(receiver.requests) == 1

        clock.advance(3600 + 120)
        await gateway.sweep()
        await _until(client, held["notification"]["id"], "delivered")
        assert len(receiver.requests) == 2


# -- inhibition -----------------------------------------------------------------------------------
async def test_outage_inhibits_follow_up_errors_of_the_same_platform(database_url: str, receiver: Receiver) -> None:
    """While ``provider_unavailable`` fires for ARINDO, its timeouts are muted; PAPRIKA's are not;
    after the inhibition's duration ARINDO's are sent again."""
    rules = [
        {
            "name": "outage",
            "match": {"codes": ["provider_unavailable"]},
            "inhibit": {"codes": ["timeout", "card_declined"], "equal": ["platform"], "duration": "10m"},
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        },
        {"name": "errors", "match": {"codes": ["timeout"]}, "send": [{"channel": "webhook", "to": ["receiver"]}]},
    ]
    settings = make_settings(
        database_url,
        receiver.url,
        rules=rules,
        platforms={"arindo": {"server_key": "k"}, "paprika": {"client_id": "MCH-PAP-0001", "secret_key": "s" * 32}},
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        outage = await _report(client, error_code="provider_unavailable")
        await _until(client, outage["notification"]["id"], "delivered")
        muted = await _report(client, error_code="timeout", reference="INV-2")
        assert muted["notification"]["status"] == "silenced"
        [delivery] = muted["deliveries"]
        assert delivery["status"] == "cancelled" and "outage" in delivery["note"]
        assert outage["notification"]["id"] in delivery["note"]
        elsewhere = await _report(client, platform="paprika", error_code="timeout", reference="INV-3")
        await _until(client, elsewhere["notification"]["id"], "delivered")
        clock.advance(601)
        later = await _report(client, error_code="timeout", reference="INV-4")
        await _until(client, later["notification"]["id"], "delivered")
        assert len(receiver.requests) == 3


async def test_an_outage_whose_callback_failed_still_inhibits_once_retried(
    database_url: str, receiver: Receiver
) -> None:
    """If storing an outage callback fails part-way (here: its inhibition), ARINDO is answered 503 and
    nothing is kept; its retry stores the outage with its inhibition, so the follow-up timeouts are muted.
    (Stored in two steps, the retry was a duplicate and the inhibition was never recorded.)"""
    rules = [
        {
            "name": "outage",
            "match": {"codes": ["provider_unavailable"]},
            "inhibit": {"codes": ["timeout"], "equal": ["platform"], "duration": "10m"},
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        },
        {"name": "errors", "match": {"codes": ["timeout"]}, "send": [{"channel": "webhook", "to": ["receiver"]}]},
    ]
    gateway = await migrated_gateway(make_settings(database_url, receiver.url, rules=rules))
    run = gateway.db._run  # every statement of the gateway's Database passes here
    failures: list[str] = []

    async def inhibitions_fail_once(sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        if 'INTO "inhibitions"' in sql and not failures:
            failures.append(sql)
            raise OSError(errno.ENOSPC, "No space left on device")  # not a blip: nothing retries it here
        return await run(sql, args)

    gateway.db._run = inhibitions_fail_once  # type: ignore[method-assign]
    outage = arindo_body(status="failure", code="503")
    async with api_client(gateway) as client:

        async def post(body: bytes) -> Any:
            return await client.post("/api/v1/platforms/arindo/callbacks", content=body, headers=JSON)

        assert (await post(outage)).status_code == 503 and failures
        retried = await post(outage)
        assert retried.status_code == 200 and retried.json()["detail"] == "accepted", retried.text
        follow_up = await post(arindo_body(status="failure", code="504"))
        [follow_up_id] = follow_up.json()["notification_ids"]
        detail = (await client.get(f"/api/v1/notifications/{follow_up_id}", headers=AUTH)).json()
        assert detail["notification"]["code"] == "timeout"
        assert detail["notification"]["status"] == "silenced", detail
        assert retried.json()["notification_ids"][0] in detail["deliveries"][0]["note"]


# -- templates at render time ----------------------------------------------------------------------
async def test_template_failing_at_render_fails_the_attempt_not_the_worker(sqlite_url: str, tmp_path: Path) -> None:
    """A template error on some data fails that delivery with a clear error; others still go out."""
    override = tmp_path / "templates" / "email"
    override.mkdir(parents=True)
    (override / "event.txt").write_text(
        '{% if event.reference == "BOOM" %}{{ no_such_variable }}{% endif %}{{ event.message }}\n'
    )
    settings = make_settings(
        sqlite_url,
        templates={"dir": str(tmp_path / "templates")},
        sandbox={"enabled": True},
        channels={"email": {"host": "127.0.0.1", "sender": "Notigate <a@example.com>"}},
        rules=[{"name": "mail", "send": [{"channel": "email", "to": ["ops@example.com"]}]}],
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        broken = await _report(client, reference="BOOM")
        fine = await _report(client, reference="INV-2")
        failed = await _until(client, broken["notification"]["id"], "failed")
        delivered = await _until(client, fine["notification"]["id"], "delivered")
    [delivery] = failed["deliveries"]
    assert delivery["attempts"] == 1
    assert "template" in delivery["last_error"] and "no_such_variable" in delivery["last_error"]
    assert "email/event.txt" in delivery["last_error"]
    assert "Card declined by issuer" in delivered["deliveries"][0]["captured"]["body"]


async def test_reload_swaps_rules_and_rejects_a_broken_file(
    sqlite_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """``POST /api/v1/admin/reload`` applies new rules; a broken file is 400 and the old rules stay; SIGHUP reloads."""
    config = tmp_path / "notigate.toml"

    def write(rules: str) -> None:
        config.write_text(f"""
[database]
url = "{sqlite_url}"
[security]
api_keys = [{{ name = "tests", key = "{API_KEY}", scopes = ["admin"] }}]
[delivery]
backoff_initial = "50ms"
backoff_max = "200ms"
sweep_interval = "200ms"
[platforms.arindo]
server_key = "k"
[[webhooks]]
name = "receiver"
url = "{receiver.url}"
secret = "{WEBHOOK_SECRET}"
{rules}
""")

    write(
        '[[rules]]\nname = "timeouts only"\nmatch = { codes = ["timeout"] }\n'
        'send = [{ channel = "webhook", to = ["receiver"] }]\n'
    )
    from notigate.config.loading import load_settings

    gateway = await migrated_gateway(load_settings(config))
    gateway.config_path, gateway.reload_on_sighup = str(config), True
    async with api_client(gateway) as client:
        assert (await _report(client))["notification"]["status"] == "no_route"
        write(
            '[[rules]]\nname = "declines"\nmatch = { codes = ["card_*"] }\n'
            'send = [{ channel = "webhook", to = ["receiver"] }]\n'
        )
        reloaded = await client.post("/api/v1/admin/reload", headers=AUTH)
        assert reloaded.status_code == 200 and reloaded.json()["rules"] == 1, reloaded.text
        routed = await _report(client, reference="INV-2")
        await _until(client, routed["notification"]["id"], "delivered")

        write('[[rules]]\nname = "broken"\nsend = [{ channel = "webhook", to = ["nobody"] }]\n')
        rejected = await client.post("/api/v1/admin/reload", headers=AUTH)
        assert rejected.status_code == 400 and "rules[0].send[0].to" in rejected.text
        still = await _report(client, reference="INV-3")
        await _until(client, still["notification"]["id"], "delivered")

        write(
            '[[rules]]\nname = "nothing"\nmatch = { codes = ["fraud_suspected"] }\n'
            'send = [{ channel = "webhook", to = ["receiver"] }]\n'
        )
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: asyncio.sleep(0, [r.name for r in gateway.settings.rules] == ["nothing"]))
        assert (await _report(client, reference="INV-4"))["notification"]["status"] == "no_route"


async def test_reload_keeps_work_in_flight(sqlite_url: str, receiver: Receiver) -> None:
    """A send running during a reload completes on the channel it started with; nothing is dropped."""
    receiver.delay = 1.0
    settings = make_settings(sqlite_url, receiver.url)
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        in_flight = await _report(client)
        await wait_for(lambda: asyncio.sleep(0, len(receiver.requests) == 1))
        old_channel = gateway.channels["webhook"]
        await gateway.reload(settings)  # what SIGHUP and the API do after reading the file
        assert gateway.channels["webhook"] is not old_channel
        done = await _until(client, in_flight["notification"]["id"], "delivered")
        assert [d["attempts"] for d in done["deliveries"]] == [1]
        after = await _report(client, reference="INV-2")
        await _until(client, after["notification"]["id"], "delivered")


async def test_reload_reads_templates_again(sqlite_url: str, tmp_path: Path) -> None:
    """An edited override template takes effect on reload; a broken one is refused and the old one stays."""
    own = tmp_path / "templates" / "email"
    own.mkdir(parents=True)
    (own / "event.subject.txt").write_text("first {{ event.code }}\n")
    settings = make_settings(sqlite_url, templates={"dir": str(tmp_path / "templates")})
    gateway = await migrated_gateway(settings)
    event = sample_notification(code="timeout")

    def subject() -> str:
        return gateway.templates.render(
            "email", "event", {"event": event, "rule": "r", "recipient": "a@b.c"}, locale="en", timezone="Asia/Jakarta"
        ).subject

    assert subject() == "first timeout"
    (own / "event.subject.txt").write_text("second {{ event.code }}\n")
    await gateway.reload(settings)
    assert subject() == "second timeout"
    (own / "event.subject.txt").write_text("third {{ event.code }\n")
    with pytest.raises(ConfigError) as refused:
        await gateway.reload(settings)
    assert "event.subject.txt:1" in refused.value.problems[0]
    assert subject() == "second timeout"


async def test_a_failing_routing_plugin_does_not_stop_storage(sqlite_url: str) -> None:
    """A routing plugin that raises is skipped: the notification is stored with the built-in routes."""

    class Broken:
        calls = 0

        @hookimpl
        def notigate_route_event(self, notification: Any, routes: list[Route]) -> None:
            Broken.calls += 1
            routes.clear()
            raise KeyError("merchant")

    gateway = await migrated_gateway(make_settings(sqlite_url))
    gateway.plugins.pm.register(Broken(), name="broken_rules")
    async with api_client(gateway, run_deliveries=False) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        detail = (
            await client.get(f"/api/v1/notifications/{response.headers['notigate-notification-ids']}", headers=AUTH)
        ).json()
    assert Broken.calls == 1  # it ran, and what it did was undone
    assert response.status_code == 200
    assert [d["recipient"] for d in detail["deliveries"]] == ["receiver"]
