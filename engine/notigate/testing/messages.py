"""Messages as the engine hands them to a channel, for a channel plugin's tests."""

from __future__ import annotations

from typing import Any

from notigate.messages.samples import sample_notification
from notigate.plugin.channel import Message


def sample_message(
    channel: str,
    address: str,
    *,
    secret: str | None = None,
    subject: str = "",
    text: str = "",
    html: str | None = None,
    id: str = "dlv_01JNB6X4T2",
    recipient: str | None = None,
    **notification: Any,
) -> Message:
    """A ``Message`` for ``channel`` to ``address`` about the sample notification (``notification``
    changes its fields), with the rendered words a channel that uses templates would get."""
    return Message(
        id=id,
        channel=channel,
        recipient=recipient or address,
        address=address,
        notification=sample_notification(**notification),
        subject=subject,
        text=text,
        html=html,
        secret=secret,
    )
