"""The RFC 5322 message for one delivery, and the check of a rule's recipient address.

Kept free of I/O: what ``render`` returns is exactly what goes over SMTP, so sandbox
mode stores the real thing.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from notigate import Message, Rendered

# One bare address: no display name, no list, no spaces or characters RFC 5322 reserves.
_ADDRESS = re.compile(r'[^@\s<>()\[\],;:"\\]+@[^@\s<>()\[\],;:"\\]+')


def recipient_problem(recipient: str) -> str | None:
    """What is wrong with ``recipient`` as one plain ``local@domain`` address, or None."""
    name, address = parseaddr(recipient)
    if name or address != recipient or not _ADDRESS.fullmatch(recipient):
        return f"not a single plain email address (local@domain): {recipient!r}"
    domain = recipient.rpartition("@")[2]
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return f"the domain of the address {recipient!r} is malformed"
    return None


def render(message: Message, sender: str, sender_domain: str) -> Rendered:
    """multipart/alternative text + HTML, with a ``Message-ID`` that every retry repeats.

    Only ``Date`` changes between renders. Both parts are quoted-printable so the whole
    message is 7-bit ASCII and needs no 8BITMIME from the server.
    """
    message_id = f"<{message.id}@{sender_domain}>"
    email = EmailMessage(policy=SMTP)
    email["From"] = sender
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = message_id
    email.set_content(message.text, cte="quoted-printable")
    html_part = message.html if message.html is not None else _html(message.text)
    email.add_alternative(html_part, subtype="html", cte="quoted-printable")
    # "=_" never occurs in quoted-printable text, so a fixed boundary is safe and keeps
    # renders identical (the email package would pick a random one)
    email.set_boundary(f"=_notigate_{hashlib.sha256(message.id.encode()).hexdigest()[:24]}")
    return Rendered(
        body=email.as_string(),
        content_type="message/rfc822",
        subject=message.subject,
        headers={"to": message.address, "from": sender, "message-id": message_id},
    )


def _html(text: str) -> str:
    """The text, escaped, as a minimal HTML document.

    The fallback when the message has no HTML from the templates (``message.html`` is
    None): the text carries platform input, so it is escaped rather than trusted as markup.
    ``message.html`` itself is used as is: the template's autoescaping already escaped it.
    """
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>'
        f"<pre>{html.escape(text)}</pre></body></html>\n"
    )
