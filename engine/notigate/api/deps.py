"""Dependencies injected by name into handlers."""

from __future__ import annotations

from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency

from notigate.app.gateway import Gateway

GatewayDep: TypeAlias = NamedDependency[Gateway]


def provide_gateway(state: State) -> Gateway:
    """The process's one Gateway, kept in the app state."""
    return state.gateway  # type: ignore[no-any-return]
