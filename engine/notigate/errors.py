"""One root exception and its families; the API maps them to HTTP in one place."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class NotigateError(Exception):
    """Root of every error Notigate raises on purpose."""


class ConfigError(NotigateError):
    """The configuration is invalid; each problem names the key it is about. ``warnings``
    are what else was found on the way, for ``check-config`` to show with the problems."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(problems))


class UnavailableError(NotigateError):
    """A service the configuration names (the database, Redis) cannot be used. The message is
    one line naming the key of its URL; it never holds the URL, which may hold a password."""

    @classmethod
    def connecting(cls, key: str, url: str, exc: BaseException) -> UnavailableError:
        """``key: cannot connect to host:port (why)``, from the URL's host and port only."""
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        host = parts.hostname or (parts.path if parts.scheme == "unix" else "localhost")
        return cls(f"{key}: cannot connect to {host}{f':{port}' if port else ''} ({_why(exc)})")


def _why(exc: BaseException) -> str:
    """The reason in a few words: a socket error anywhere in the chain, else the message
    (drivers and Redis say "password authentication failed", "database … does not exist")."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if isinstance(cause, TimeoutError):
            return "timed out"
        cause = cause.__cause__ or cause.__context__
    return str(exc).strip() or type(exc).__name__


class PlatformInputError(NotigateError):
    """A platform's callback is unusable: the platform gets a 4xx and nothing is stored."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class SignatureError(PlatformInputError):
    """The callback's signature or credentials do not verify."""

    status_code = 401


class UnsupportedMediaType(PlatformInputError):
    """The callback's content type is not the one the platform sends."""

    status_code = 415


class IdempotencyConflict(NotigateError):
    """A repeat of a known idempotency key whose request differs from the one first stored under it."""

    def __init__(self, notification_id: str) -> None:
        self.notification_id = notification_id
        super().__init__(f"the key was first used for {notification_id} with a different request")


class TemplateError(NotigateError):
    """A message template failed to load or render; each problem names the file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
