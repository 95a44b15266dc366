"""``[channels.sms]``: which provider account sends, from which number, and how patiently."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from notigate import Duration, seconds

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def e164_problem(number: str) -> str | None:
    """What is wrong with ``number`` as an E.164 phone number, or None if it is one."""
    if _E164.fullmatch(number):
        return None
    return (
        f"{number!r} is not an E.164 phone number: expected '+', the country code and the "
        "subscriber number, 8 to 15 digits without spaces or a leading 0 (e.g. +6281200000001)"
    )


class SmsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Settings of the SMS channel; unknown keys are reported at start.

    ``account_sid`` and ``auth_token`` have no defaults, so a missing ``[channels.sms]``
    leaves the channel inactive instead of sending with made-up credentials. ``timeout``
    bounds a whole exchange with the provider: connecting, sending and reading the answer.
    """

    account_sid: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]+$")]
    auth_token: Annotated[str, msgspec.Meta(min_length=1)]
    sender: str
    base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#\s]+")] = "https://api.twilio.com"
    timeout: Duration = "10s"
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 20

    def __post_init__(self) -> None:
        if problem := e164_problem(self.sender):
            raise ValueError(f"`sender`: {problem}")
        if seconds(self.timeout) <= 0:
            raise ValueError("`timeout` must be longer than zero")

    def __repr__(self) -> str:  # the token must not reach logs or tracebacks
        return (
            f"SmsConfig(base_url={self.base_url!r}, account_sid={self.account_sid!r}, auth_token='***', "
            f"sender={self.sender!r}, timeout={self.timeout!r}, max_connections={self.max_connections!r})"
        )
