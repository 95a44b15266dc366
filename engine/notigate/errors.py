"""One root exception and its families; the API maps them to HTTP in one place."""

from __future__ import annotations


class NotigateError(Exception):
    """Root of every error Notigate raises on purpose."""


class ConfigError(NotigateError):
    """The configuration is invalid; each problem names the key it is about."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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
