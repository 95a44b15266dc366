"""The ``[platforms.arindo]`` configuration section."""

from __future__ import annotations

from typing import Annotated

import msgspec


class ArindoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The merchant's ARINDO credentials; unknown keys are rejected so typos show at start.

    ``server_key`` is the secret from the ARINDO back office that every notification's
    ``signature_key`` is computed with.
    """

    server_key: Annotated[str, msgspec.Meta(min_length=1)]

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return "ArindoConfig(server_key='***')"
