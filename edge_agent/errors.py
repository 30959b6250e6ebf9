"""The exception tree of the edge agent."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error raised by the edge agent."""


class ConfigError(AgentError):
    """The agent's configuration is wrong; `key` names the bad key (dotted: `gateway.url`)."""

    def __init__(self, key: str, reason: str, source: str = "agent.toml") -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.key = key
        self.reason = reason
        self.source = source


class StartupError(AgentError):
    """A part of the agent (a driver, the UI server) could not be started."""
