"""``POST /api/v1/notifications/error``: the normalized error API for applications."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import (
    AUTH,
    api_client,
    make_settings,
    migrated_gateway,
)

URL = "/api/v1/notifications/error"
REPORT = {
    "platform": "arindo",
    "error_code": "card_declined",
    "message": "Card declined by issuer",
    "amount": "150000.00",
    "currency": "IDR",
    "reference": "INV-1",
    "merchant_id": "M-1",
    "occurred_at": "2024-08-01T03:15:30Z",
    "metadata": {"customer": {"email": "siti@example.co.id"}},
}


@contextlib.asynccontextmanager
async def client(database_url: str, **settings: Any) -> AsyncIterator[Any]:
    gateway = await migrated_gateway(make_settings(database_url, **settings))
    async with api_client(gateway) as c:
        yield c


async def _detail(c: Any, notification_id: str) -> dict[str, Any]:
    return (await c.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()["notification"]


async def test_report_is_stored_normalized_and_masked(database_url: str) -> None:
    """A valid report answers 202 {id, status}; the stored event keeps amount as a decimal string, masked metadata."""
    async with client(database_url) as c:
        response = await c.post(URL, json=REPORT, headers=AUTH)
        assert response.status_code == 202
        body = response.json()
        assert body["id"].startswith("ntf_") and body["status"] == "delivering"
        stored = await _detail(c, body["id"])
    assert (stored["code"], stored["severity"], stored["amount"]) == ("card_declined", "warning", "150000.00")
    assert stored["occurred_at"] == "2024-08-01T03:15:30Z"
    assert stored["metadata"]["customer"]["email"] == "s***@example.co.id"


@pytest.mark.parametrize(
    ("platform", "code", "expected"),
    [
        ("ARINDO", "CARD_DECLINED", "card_declined"),
        ("arindo", "failure/504", "timeout"),
        ("Arindo", "deny/202/51", "insufficient_funds"),
        ("arindo", "ZZ_NEVER_HEARD", "unknown_error"),
    ],
)
async def test_codes_are_mapped_by_taxonomy_or_plugin(sqlite_url: str, platform: str, code: str, expected: str) -> None:
    """Platform names are case-insensitive; native codes map through the plugin; unknown ones keep the raw code."""
    async with client(sqlite_url) as c:
        response = await c.post(URL, json={**REPORT, "platform": platform, "error_code": code}, headers=AUTH)
        assert response.status_code == 202, response.text
        stored = await _detail(c, response.json()["id"])
    assert (stored["platform"], stored["code"], stored["platform_code"]) == ("arindo", expected, code)


async def test_severity_can_be_given(sqlite_url: str) -> None:
    """An explicit severity overrides the taxonomy default."""
    async with client(sqlite_url) as c:
        response = await c.post(URL, json={**REPORT, "severity": "critical"}, headers=AUTH)
        assert (await _detail(c, response.json()["id"]))["severity"] == "critical"


async def test_idempotency_key_returns_the_same_id(database_url: str) -> None:
    """The same Idempotency-Key answers the same id and stores one notification; another key stores another."""
    async with client(database_url) as c:
        first = await c.post(URL, json=REPORT, headers={**AUTH, "Idempotency-Key": "k-1"})
        again = await c.post(URL, json=REPORT, headers={**AUTH, "Idempotency-Key": "k-1"})
        other = await c.post(URL, json=REPORT, headers={**AUTH, "Idempotency-Key": "k-2"})
        listing = (await c.get("/api/v1/notifications", headers=AUTH)).json()["items"]
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert again.status_code == 202
    assert len(listing) == 2


async def test_same_key_with_a_different_body_is_409(database_url: str) -> None:
    """The same key and body, keys reordered and spaced differently, answer the first id; another body is a 409
    that says so, and stores nothing."""
    async with client(database_url) as c:
        headers = {**AUTH, "Idempotency-Key": "k-1"}
        first = await c.post(URL, json=REPORT, headers=headers)
        reordered = json.dumps(dict(reversed(REPORT.items())), indent=2).encode()
        again = await c.post(URL, content=reordered, headers={**headers, "content-type": "application/json"})
        changed = await c.post(URL, json={**REPORT, "amount": "150001.00"}, headers=headers)
        listing = (await c.get("/api/v1/notifications", headers=AUTH)).json()["items"]
    assert (first.status_code, again.status_code, again.json()["id"]) == (202, 202, first.json()["id"])
    assert changed.status_code == 409
    assert changed.json()["detail"] == "Idempotency-Key 'k-1' was already used with a different request"
    assert [n["id"] for n in listing] == [first.json()["id"]]


async def test_concurrent_requests_with_one_key_and_different_bodies(database_url: str) -> None:
    """Two requests at once with one key and different bodies: one 202, one 409, one notification stored."""
    async with client(database_url) as c:
        answers = []
        for i in range(5):
            headers = {**AUTH, "Idempotency-Key": f"race-{i}"}
            answers.append(
                await asyncio.gather(
                    c.post(URL, json={**REPORT, "message": "first"}, headers=headers),
                    c.post(URL, json={**REPORT, "message": "second"}, headers=headers),
                )
            )
        listing = (await c.get("/api/v1/notifications", headers=AUTH)).json()["items"]
    assert [sorted(a.status_code for a in pair) for pair in answers] == [[202, 409]] * 5
    winners = [next(a for a in pair if a.status_code == 202).json()["id"] for pair in answers]
    assert sorted(n["id"] for n in listing) == sorted(winners)


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-a-valid-key-123"}])
async def test_authentication_is_required(sqlite_url: str, headers: dict[str, str]) -> None:
    """Without a valid API key the report is refused with 401 and nothing is stored."""
    async with client(sqlite_url) as c:
        response = await c.post(URL, json=REPORT, headers=headers)
        assert response.status_code == 401
        assert (await c.get("/api/v1/notifications", headers=AUTH)).json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"platform": "nosuch"}, "platform"),
        ({"error_code": ""}, "error_code"),
        ({"message": None}, "message"),
        ({"amount": 150000.5}, "amount"),
        ({"amount": "12,50"}, "amount"),
        ({"amount": "\uff11\uff15\uff10\uff10\uff10\uff10"}, "amount"),  # full-width digits: Python's \d takes them
        ({"amount": "\u0661\u0665\u0660.\u0660\u0660"}, "amount"),  # Arabic-Indic digits
        ({"amount": "150000.00\n"}, "amount"),
        ({"currency": "rupiah"}, "currency"),
        ({"severity": "fatal"}, "severity"),
        ({"occurred_at": "2024-08-01T03:15:30"}, "occurred_at"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_bad_fields_are_400_naming_the_field(sqlite_url: str, change: dict[str, Any], field: str) -> None:
    """Each invalid field is reported by name in a 400, and nothing is stored."""
    async with client(sqlite_url) as c:
        response = await c.post(URL, json={**REPORT, **change}, headers=AUTH)
        assert response.status_code == 400, response.text
        assert field in response.json()["detail"]
        assert (await c.get("/api/v1/notifications", headers=AUTH)).json()["items"] == []


async def test_missing_fields_and_non_json_are_400(sqlite_url: str) -> None:
    """A body without required fields, or not JSON at all, is a clear 400."""
    async with client(sqlite_url) as c:
        missing = await c.post(URL, json={"platform": "arindo"}, headers=AUTH)
        garbage = await c.post(URL, content=b"{nope", headers={**AUTH, "content-type": "application/json"})
    assert missing.status_code == 400 and "error_code" in missing.json()["detail"]
    assert garbage.status_code == 400


@pytest.mark.parametrize(
    ("content", "params"),
    [
        (b'{"platform": "arindo", "error_code": "timeout", "message": "\xff\xfe"}', None),
        (
            b'{"platform": "arindo", "error_code": "timeout", "message": "m", "metadata": '
            + b"[" * 20000
            + b"]" * 20000
            + b"}",
            None,
        ),
        (
            b'{"platform": "arindo", "error_code": "timeout", "message": "m", "occurred_at": "0001-01-01T00:00:00+01:00"}',
            None,
        ),
    ],
)
async def test_undecodable_reports_are_400(database_url: str, content: bytes, params: Any) -> None:
    """Invalid UTF-8, absurd nesting and dates outside the calendar in UTC are 400s, not 500s."""
    gateway = await migrated_gateway(make_settings(database_url))
    async with api_client(gateway) as client:
        response = await client.post(
            "/api/v1/notifications/error", content=content, headers={**AUTH, "content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert (await client.get("/api/v1/notifications", headers=AUTH)).json()["items"] == []
