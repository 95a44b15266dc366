"""PAPRIKA and ASSASTA through the real gateway: stored once, refused cleanly, answered in their own form;
amounts stored alike whichever platform (or the error API) reported them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from support import (
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
)

PAPRIKA = {"client_id": "MCH-PAP-T", "secret_key": "SK-PAP-TEST", "public_path": "/public/paprika"}
ASSASTA = {"merchants": {"31835": {"user_id": "bot31835", "password": "p@ssw0rd"}}}


def _settings(database_url: str, **sections: Any) -> Any:
    platforms = {"arindo": {"server_key": "k"}, "paprika": PAPRIKA, "assasta": ASSASTA}
    return make_settings(database_url, platforms=platforms, **sections)


def paprika_request(
    *,
    request_id: str | None = None,
    status: str = "FAILED",
    code: str = "CC_DECLINED",
    secret: str = PAPRIKA["secret_key"],
    timestamp: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "order": {"invoice_number": "INV-1", "amount": 150000, "currency": "IDR"},
            "transaction": {"status": status, "date": "2024-08-01T03:15:29Z"},
            "error": {"code": code, "message": "Card declined by issuer"},
            "customer": {"email": "siti@example.co.id"},
        }
    ).encode()
    request_id = request_id or str(uuid.uuid4())
    timestamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    component = (
        f"Client-Id:{PAPRIKA['client_id']}\nRequest-Id:{request_id}\nRequest-Timestamp:{timestamp}\n"
        f"Request-Target:{PAPRIKA['public_path']}\nDigest:{digest}"
    )
    signature = base64.b64encode(hmac.new(secret.encode(), component.encode(), hashlib.sha256).digest()).decode()
    return body, {
        "content-type": "application/json",
        "client-id": PAPRIKA["client_id"],
        "request-id": request_id,
        "request-timestamp": timestamp,
        "signature": f"HMACSHA256={signature}",
    }


def assasta_body(
    *,
    trx_id: str | None = None,
    status: str = "3",
    error: str = "E051",
    password: str = "p@ssw0rd",
    merchant: str = "Toko Café",
    encoding: str = "ISO-8859-1",
) -> bytes:
    bill = "BILL0000001"
    signature = hashlib.sha1(hashlib.md5(f"bot31835{password}{bill}{status}".encode()).hexdigest().encode()).hexdigest()
    xml = (
        f'<?xml version="1.0" encoding="{encoding}"?><assasta><request>Payment Notification</request>'
        f"<trx_id>{trx_id or uuid.uuid4().int % 10**16}</trx_id><merchant_id>31835</merchant_id>"
        f"<merchant>{merchant}</merchant><bill_no>{bill}</bill_no><payment_date>2024-08-01 10:15:30</payment_date>"
        f"<payment_status_code>{status}</payment_status_code><bill_total>15000000</bill_total>"
        f"<error_code>{error}</error_code><signature>{signature}</signature></assasta>"
    )
    return xml.encode(encoding)


def _xml(response: Any) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/xml")
    return {child.tag: child.text or "" for child in ET.fromstring(response.content)}


XML = {"content-type": "application/xml"}


async def _listing(client: Any) -> list[dict[str, Any]]:
    return (await client.get("/api/v1/notifications", headers=AUTH)).json()["items"]


async def test_paprika_callback_is_stored_once_and_acknowledged_with_200(database_url: str) -> None:
    """A signed PAPRIKA callback (public path differs from the app's) is 200; its retry stores nothing new."""
    gateway = await migrated_gateway(_settings(database_url))
    body, headers = paprika_request()
    async with api_client(gateway) as client:
        first = await client.post("/api/v1/platforms/paprika/callbacks", content=body, headers=headers)
        again = await client.post("/api/v1/platforms/paprika/callbacks", content=body, headers=headers)
        items = await _listing(client)
    assert first.status_code == again.status_code == 200
    assert [(n["platform"], n["code"], n["amount"]) for n in items] == [("paprika", "card_declined", "150000.00")]
    assert "siti@example.co.id" not in json.dumps(items)


@pytest.mark.parametrize("spoil", ["tamper", "secret", "stale", "future", "missing"])
async def test_paprika_forgeries_are_401_and_store_nothing(sqlite_url: str, spoil: str) -> None:
    """Tampered body, wrong secret, stale or future timestamp, missing header: 401, nothing stored."""
    now = time.time()
    stamp = {"stale": now - 400, "future": now + 400}.get(spoil, now)
    body, headers = paprika_request(
        secret="wrong" if spoil == "secret" else PAPRIKA["secret_key"],
        timestamp=datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    if spoil == "tamper":
        body = body.replace(b"150000", b"150001")
    if spoil == "missing":
        del headers["signature"]
    gateway = await migrated_gateway(_settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/paprika/callbacks", content=body, headers=headers)
        assert response.status_code == 401
        assert await _listing(client) == []


async def test_assasta_latin1_callback_is_stored_once_with_xml_answers(database_url: str) -> None:
    """ASSASTA's ISO-8859-1 XML is stored once with the right merchant name; both answers are XML 200/00."""
    gateway = await migrated_gateway(_settings(database_url))
    body = assasta_body(trx_id="3183540500001172")
    async with api_client(gateway) as client:
        first = await client.post("/api/v1/platforms/assasta/callbacks", content=body, headers=XML)
        again = await client.post("/api/v1/platforms/assasta/callbacks", content=body, headers=XML)
        items = await _listing(client)
    assert first.status_code == again.status_code == 200
    assert _xml(first)["response_code"] == _xml(again)["response_code"] == "00"
    assert _xml(first)["trx_id"] == "3183540500001172"
    [n] = items
    assert (n["code"], n["amount"], n["currency"]) == ("insufficient_funds", "150000.00", "IDR")
    assert n["metadata"]["merchant"] == "Toko Café"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (assasta_body(password="wrong"), 401, "01"),
        (b"<?xml version='1.0'?><assasta><trx_id>1</trx_id>", 400, "30"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<assasta><trx_id>&lol2;</trx_id></assasta>",
            400,
            "30",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><assasta><trx_id>&xxe;</trx_id>'
            b"</assasta>",
            400,
            "30",
        ),
        (b"<other/>", 400, "30"),
        (b"<assasta>" + b"x" * (20 * 1024 * 1024) + b"</assasta>", 400, "30"),
    ],
)
async def test_assasta_bad_input_is_answered_in_xml_and_stores_nothing(
    sqlite_url: str, body: bytes, status: int, code: str
) -> None:
    """Bad signatures, truncated, hostile or oversized XML: ASSASTA's XML answer, nothing stored, gateway fine."""
    gateway = await migrated_gateway(_settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/assasta/callbacks", content=body, headers=XML)
        assert (response.status_code, _xml(response)["response_code"]) == (status, code)
        assert "root:" not in response.text
        assert await _listing(client) == []
        ok = await client.post("/api/v1/platforms/assasta/callbacks", content=assasta_body(), headers=XML)
        assert ok.status_code == 200


async def test_assasta_gets_xml_96_when_the_database_is_down(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's own failure is answered in ASSASTA's form: 503 with response_code 96."""
    from notigate.storage.repository import Repository

    async def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("database unreachable")

    gateway = await migrated_gateway(_settings(sqlite_url))
    async with api_client(gateway) as client:
        monkeypatch.setattr(Repository, "store_event", down)
        response = await client.post("/api/v1/platforms/assasta/callbacks", content=assasta_body(), headers=XML)
    assert (response.status_code, _xml(response)["response_code"]) == (503, "96")


async def test_assasta_gets_xml_96_when_its_plugin_crashes(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash inside the plugin's parse is the gateway's failure too: 503 with response_code 96, the
    callback's identifiers echoed."""
    from notigate_platform_assasta import _document

    def crash(*args: Any) -> Any:
        raise RuntimeError("bug")

    gateway = await migrated_gateway(_settings(sqlite_url))
    async with api_client(gateway) as client:
        monkeypatch.setattr(_document, "normalize", crash)
        response = await client.post(
            "/api/v1/platforms/assasta/callbacks", content=assasta_body(trx_id="3183540500001172"), headers=XML
        )
    fields = _xml(response)
    assert (response.status_code, fields["response_code"]) == (503, "96")
    assert {k: fields[k] for k in ("trx_id", "merchant_id", "bill_no")} == {
        "trx_id": "3183540500001172",
        "merchant_id": "31835",
        "bill_no": "BILL0000001",
    }


async def test_every_platform_stores_amounts_with_the_currencys_decimals(database_url: str) -> None:
    """IDR 150,000 is "150000.00" whether ARINDO (decimal string), PAPRIKA (whole units), ASSASTA (hundredths)
    or the error API ("150000") reported it."""
    gateway = await migrated_gateway(_settings(database_url))
    body, headers = paprika_request()
    async with api_client(gateway) as client:
        answers = [
            await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(key="k"), headers=JSON),
            await client.post("/api/v1/platforms/paprika/callbacks", content=body, headers=headers),
            await client.post("/api/v1/platforms/assasta/callbacks", content=assasta_body(), headers=XML),
        ]
        ids = [a.headers["notigate-notification-ids"] for a in answers]
        report = await client.post(
            "/api/v1/notifications/error",
            headers=AUTH,
            json={
                "platform": "paprika",
                "error_code": "CC_DECLINED",
                "message": "Card declined",
                "amount": "150000",
                "currency": "IDR",
            },
        )
        ids.append(report.json()["id"])
        stored = [(await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json()["notification"] for i in ids]
    assert [(n["platform"], n["amount"], n["currency"]) for n in stored] == [
        ("arindo", "150000.00", "IDR"),
        ("paprika", "150000.00", "IDR"),
        ("assasta", "150000.00", "IDR"),
        ("paprika", "150000.00", "IDR"),
    ]
