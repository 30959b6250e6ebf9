"""The exception tree of the edge agent."""

from __future__ import annotations

from common import config


class AgentError(Exception):
    """Base of every error raised by the edge agent."""


class ConfigError(config.ConfigError, AgentError):
    """The agent's configuration is wrong; `key` names the bad key (dotted: `gateway.url`)."""


class StartupError(AgentError):
    """A part of the agent (a driver, the UI server) could not be started."""
