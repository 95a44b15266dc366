"""Correctly signed sample notifications, for ``notigate send-test assasta`` and tests."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime

from notigate import CallbackRequest
from notigate_platform_assasta._codes import ERRORS, STATUSES, examples
from notigate_platform_assasta._config import MerchantCredentials
from notigate_platform_assasta._document import JAKARTA
from notigate_platform_assasta._signature import sign

DEFAULT_CODE = "insufficient_funds"
PREFERRED_MERCHANT = "31835"
BILL_TOTAL = "15000000"


def sample_request(merchants: Mapping[str, MerchantCredentials], code: str | None = None) -> CallbackRequest:
    """A notification as ASSASTA would send it now for merchant 31835 (else the first), normalizing to ``code``."""
    wanted = code or DEFAULT_CODE
    example = examples().get(wanted)
    if example is None:
        supported = ", ".join(sorted(examples()))
        raise ValueError(f"ASSASTA cannot report {wanted!r}; supported codes: {supported}")
    merchant_id = PREFERRED_MERCHANT if PREFERRED_MERCHANT in merchants else next(iter(merchants))
    credentials = merchants[merchant_id]
    status = example.payment_status_code
    trx_id = f"{secrets.randbelow(10**16):016d}"
    bill_no = f"BILL-SAMPLE-{trx_id[-8:]}"
    fields = {
        "request": "Payment Notification",
        "trx_id": trx_id,
        "merchant_id": merchant_id,
        "merchant": "Toko Maju",
        "bill_no": bill_no,
        "payment_reff": trx_id[:6],
        "payment_date": datetime.now(JAKARTA).strftime("%Y-%m-%d %H:%M:%S"),
        "payment_status_code": status,
        "payment_status_desc": f"Payment {STATUSES[status][0]} (sample)",
        "bill_total": BILL_TOTAL,
        "payment_total": BILL_TOTAL if status == "2" else "0",
        "payment_channel_uid": "402",
        "payment_channel": "Permata Virtual Account",
    }
    if example.error_code is not None:
        fields["error_code"] = example.error_code
        fields["error_desc"] = ERRORS[example.error_code][0].capitalize()
    fields["signature"] = sign(credentials.user_id, credentials.password, bill_no, status)
    root = ET.Element("assasta")
    for name, value in fields.items():
        ET.SubElement(root, name).text = value
    ET.indent(root, space="  ")
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode("utf-8")
    return CallbackRequest(
        body=body, headers={"content-type": "application/xml"}, path="/api/v1/platforms/assasta/callbacks"
    )
