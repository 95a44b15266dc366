"""Credentials in configuration: a ``str`` whose repr is redacted.

A plugin types a credential field ``Secret``; a config struct, a traceback or a log line that
reprs it then shows ``'***'``, while the value works wherever a ``str`` does (signing, headers).
``convert`` decodes it from a string and refuses an empty one.
"""

from __future__ import annotations

from typing import Any


class Secret(str):
    """A credential: compare, encode and format it as a string; its repr never shows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def decode_secret(type_: type, value: Any) -> Any:
    """msgspec's ``dec_hook`` for ``Secret`` fields."""
    if type_ is not Secret:
        raise NotImplementedError(f"cannot decode {type_!r}")
    if not isinstance(value, str):
        raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
    if not value:
        raise ValueError("a secret cannot be empty")
    return Secret(value)
