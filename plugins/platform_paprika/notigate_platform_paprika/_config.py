"""The ``[platforms.paprika]`` configuration section."""

from __future__ import annotations

from typing import Annotated

import msgspec

from notigate import Duration, seconds

DEFAULT_PUBLIC_PATH = "/api/v1/platforms/paprika/callbacks"


class PaprikaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The merchant's PAPRIKA credentials; unknown keys are rejected so typos show at start.

    ``public_path`` is the path PAPRIKA calls (its ``Request-Target``): set it when a proxy
    rewrites the path on the way to the gateway, since the signature covers the public one.
    ``max_clock_skew`` bounds how far ``Request-Timestamp`` may be from the gateway's clock.
    """

    client_id: Annotated[str, msgspec.Meta(min_length=1)]
    secret_key: Annotated[str, msgspec.Meta(min_length=1)]
    public_path: Annotated[str, msgspec.Meta(pattern=r"^/[^?#\s]*$")] = DEFAULT_PUBLIC_PATH
    max_clock_skew: Duration = "5m"

    def __post_init__(self) -> None:
        if seconds(self.max_clock_skew) <= 0:
            raise ValueError("max_clock_skew must be longer than zero")

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (
            f"PaprikaConfig(client_id={self.client_id!r}, secret_key='***', "
            f"public_path={self.public_path!r}, max_clock_skew={self.max_clock_skew!r})"
        )
