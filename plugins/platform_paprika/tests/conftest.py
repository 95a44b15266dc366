"""Shared fixtures: the guide's example, an independent signer, and a platform with a frozen clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
import pytest

from notigate import CallbackRequest
from notigate_platform_paprika._config import PaprikaConfig
from notigate_platform_paprika._platform import PaprikaPlatform

CLIENT_ID = "MCH-PAP-0001"
SECRET = "SK-PAP-EXAMPLE-SECRET"
PUBLIC_PATH = "/api/v1/platforms/paprika/callbacks"

# Copied from the guide's example, byte for byte (one line, no spaces).
GUIDE_BODY = (
    b'{"service":{"id":"CREDIT_CARD"},"acquirer":{"id":"BNI"},"channel":{"id":"CREDIT_CARD"},'
    b'"order":{"invoice_number":"INV-20240801-0001","amount":150000,"currency":"IDR"},'
    b'"transaction":{"status":"FAILED","date":"2024-08-01T03:15:29Z",'
    b'"original_request_id":"0b0f6d1c-3c52-4a8e-9d2f-6a1e5f7b9c11"},'
    b'"error":{"code":"CC_DECLINED","message":"Card declined by issuer"},'
    b'"card_payment":{"masked_card_number":"411111******1111","response_code":"05","response_message":"DO NOT HONOR"},'
    b'"customer":{"email":"siti@example.co.id","phone":"+6281298765432"}}'
)
GUIDE_REQUEST_ID = "7d3f2a10-95c4-4e0b-a1de-3c2b9f8e6d21"
GUIDE_TIMESTAMP = "2024-08-01T03:15:30Z"
GUIDE_DIGEST = "G/t79pMQFZscYxP3gHZAJeXFPpXor8gHVfSIMHzouvY="
GUIDE_SIGNATURE = "HMACSHA256=9R9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8="
GUIDE_HEADERS = {
    "content-type": "application/json",
    "client-id": CLIENT_ID,
    "request-id": GUIDE_REQUEST_ID,
    "request-timestamp": GUIDE_TIMESTAMP,
    "signature": GUIDE_SIGNATURE,
}
NOW = datetime(2024, 8, 1, 3, 15, 30, tzinfo=UTC)
"""The gateway's frozen clock: the guide's Request-Timestamp."""

Signer = Callable[..., CallbackRequest]
Builder = Callable[..., dict[str, Any]]


def guide_signature(
    body: bytes,
    *,
    secret: str = SECRET,
    client_id: str = CLIENT_ID,
    request_id: str = GUIDE_REQUEST_ID,
    timestamp: str = GUIDE_TIMESTAMP,
    target: str = PUBLIC_PATH,
) -> str:
    """Written from the guide's three steps, independently of the plugin's ``sign``."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    lines = [
        f"Client-Id:{client_id}",
        f"Request-Id:{request_id}",
        f"Request-Timestamp:{timestamp}",
        f"Request-Target:{target}",
        f"Digest:{digest}",
    ]
    mac = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    return "HMACSHA256=" + base64.b64encode(mac).decode()


class Guide(NamedTuple):
    """The guide's example, for tests that check it byte for byte."""

    body: bytes
    headers: dict[str, str]
    client_id: str
    secret: str
    request_id: str
    timestamp: str
    target: str
    digest: str
    signature: str
    now: datetime


def _make_platform(clock: datetime = NOW, **config: Any) -> PaprikaPlatform:
    settings: dict[str, Any] = {"client_id": CLIENT_ID, "secret_key": SECRET, **config}
    return PaprikaPlatform(PaprikaConfig(**settings), clock=lambda: clock)


@pytest.fixture
def guide() -> Guide:
    return Guide(
        GUIDE_BODY,
        dict(GUIDE_HEADERS),
        CLIENT_ID,
        SECRET,
        GUIDE_REQUEST_ID,
        GUIDE_TIMESTAMP,
        PUBLIC_PATH,
        GUIDE_DIGEST,
        GUIDE_SIGNATURE,
        NOW,
    )


@pytest.fixture
def make_platform() -> Callable[..., PaprikaPlatform]:
    """``make_platform(clock=NOW, **config)``: the guide's credentials (overridable), a frozen clock."""
    return _make_platform


@pytest.fixture
def platform() -> PaprikaPlatform:
    """Configured with the guide's credentials; its clock reads the guide's Request-Timestamp."""
    return _make_platform()


@pytest.fixture
def sign() -> Callable[..., str]:
    """``sign(body, **fields)``: the Signature header, computed independently of the plugin."""
    return guide_signature


@pytest.fixture
def guide_request() -> CallbackRequest:
    """The guide's example exactly as PAPRIKA sends it, seen at the default path."""
    return CallbackRequest(body=GUIDE_BODY, headers=dict(GUIDE_HEADERS), path=PUBLIC_PATH)


@pytest.fixture
def body() -> Builder:
    """``body(**blocks)``: the guide's body as a dict with top-level blocks replaced (None deletes)."""

    def build(**changes: Any) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.json.decode(GUIDE_BODY)
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        return data

    return build


@pytest.fixture
def signed() -> Signer:
    """``signed(body, **options)``: a correctly signed request for a dict or raw bytes.

    Options: ``secret``, ``client_id``, ``request_id``, ``timestamp``, ``target`` (what is
    signed), ``path`` (what the app saw), ``content_type``, ``drop`` (header names to leave out).
    """

    def make(
        data: dict[str, Any] | bytes = GUIDE_BODY,
        *,
        secret: str = SECRET,
        client_id: str = CLIENT_ID,
        request_id: str = GUIDE_REQUEST_ID,
        timestamp: str | datetime = GUIDE_TIMESTAMP,
        target: str = PUBLIC_PATH,
        path: str = PUBLIC_PATH,
        content_type: str = "application/json",
        drop: tuple[str, ...] = (),
    ) -> CallbackRequest:
        raw = data if isinstance(data, bytes) else msgspec.json.encode(data)
        if isinstance(timestamp, datetime):
            timestamp = timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        signature = guide_signature(
            raw, secret=secret, client_id=client_id, request_id=request_id, timestamp=timestamp, target=target
        )
        headers = {
            "content-type": content_type,
            "client-id": client_id,
            "request-id": request_id,
            "request-timestamp": timestamp,
            "signature": signature,
        }
        for name in drop:
            headers.pop(name.lower())
        return CallbackRequest(body=raw, headers=headers, path=path)

    return make
