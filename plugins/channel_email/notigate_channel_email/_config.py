"""``[channels.email]``: which SMTP server, how to secure and authenticate, who the mail is from."""

from __future__ import annotations

import os
from email.utils import parseaddr
from typing import Annotated, Literal

import msgspec

from notigate import Duration, seconds

Security = Literal["none", "starttls", "tls"]


class EmailConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Settings of the email channel; unknown keys and bad values are reported at start.

    ``security``: ``none`` sends in clear (a local relay), ``starttls`` upgrades the
    connection and refuses to send if the server cannot, ``tls`` is implicit TLS (port
    465). ``ca_file`` trusts a private CA instead of the system store. ``timeout`` bounds
    each SMTP step and the wait for a free connection; at most ``max_connections`` are
    held open and reused across a burst.
    """

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 25
    sender: str = "Notigate <notigate@localhost>"
    security: Security = "none"
    username: str | None = None
    password: str | None = None
    timeout: Duration = "10s"
    ca_file: str | None = None
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 4

    def __post_init__(self) -> None:
        if sender_address(self.sender) is None:
            raise ValueError("`sender` must be an email address, e.g. 'Notigate <alerts@example.com>'")
        if seconds(self.timeout) <= 0:
            raise ValueError("`timeout` must be longer than zero")
        if self.password is not None and self.username is None:
            raise ValueError("`password` is set but `username` is not")
        if self.ca_file is not None and not os.path.isfile(self.ca_file):
            raise ValueError(f"`ca_file` is not a readable file: {self.ca_file}")

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        fields = {f: getattr(self, f) for f in self.__struct_fields__}
        if fields["password"] is not None:
            fields["password"] = "***"
        return "EmailConfig(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"


def sender_address(sender: str) -> str | None:
    """The bare ``local@domain`` inside ``sender`` (``Name <addr>`` or ``addr``), or None."""
    _, address = parseaddr(sender)
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in address):
        return None
    return address
