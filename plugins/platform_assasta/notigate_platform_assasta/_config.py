"""The ``[platforms.assasta]`` configuration section: one set of credentials per merchant."""

from __future__ import annotations

from typing import Annotated

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class MerchantCredentials(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[platforms.assasta.merchants.<merchant_id>]``: what ASSASTA signs that merchant's notifications with."""

    user_id: NonEmpty
    password: NonEmpty

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"MerchantCredentials(user_id={self.user_id!r}, password='***')"


class AssastaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every ASSASTA merchant this gateway serves, and the XML size bound.

    ``max_body_size`` (bytes) is checked before the XML parser sees a byte: real
    notifications are well under 2 KB, and a bound far below the server's keeps a
    hostile document from costing more than a few milliseconds.
    """

    merchants: Annotated[dict[NonEmpty, MerchantCredentials], msgspec.Meta(min_length=1)]
    max_body_size: Annotated[int, msgspec.Meta(ge=1024)] = 65536
