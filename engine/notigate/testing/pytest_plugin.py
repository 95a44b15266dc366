"""The fixtures ``notigate.testing`` gives every test session that has ``notigate`` installed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from notigate.testing.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A scripted HTTP peer on its own port (``receiver.url``), closed after the test."""
    with Receiver() as r:
        yield r


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, so nobody else takes it, but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
