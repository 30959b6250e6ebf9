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
