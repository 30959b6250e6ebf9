"""The exception tree of the edge agent."""

from __future__ import annotations

from pathlib import Path

from common import config


class AgentError(Exception):
    """Base of every error raised by the edge agent."""


class ConfigError(config.ConfigError, AgentError):
    """The agent's configuration is wrong; `key` names the bad key (dotted: `gateway.url`)."""


class StartupError(AgentError):
    """A part of the agent (a driver, the UI server) could not be started."""


class StorageFailure(AgentError):
    """A write to the state folder failed (full, read-only, I/O error); names file and cause."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


class IdentityError(AgentError):
    """The kiosk's identity (token key, certificate, enrolment) cannot be used or renewed.

    `retry` tells whether trying again later may help (the fleet service unreachable) or a
    person must act first (a refused enrolment token, a missing token).
    """

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
