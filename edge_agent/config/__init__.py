"""The agent's configuration (agent.toml): parsed with tomllib, validated, errors name the key.

Relative paths are taken from the folder of the configuration file. Every section but [device],
[reader] and [gateway] may be left out; every key with a default may be left out. Unknown
sections and keys are refused, so a typo never silently falls back to a default.
"""

from edge_agent.config.balikan import BalikanConfig
from edge_agent.config.files import check_files, require_token
from edge_agent.config.parse import load_config, parse_config
from edge_agent.config.sections import (
    AdminConfig,
    AgentConfig,
    DeviceConfig,
    FingerprintConfig,
    GatewayConfig,
    IdentityConfig,
    IndicatorsConfig,
    LogConfig,
    MqttConfig,
    ReaderConfig,
    SessionConfig,
    StateConfig,
    SupervisorConfig,
    TamperConfig,
    TimeoutsConfig,
    UiConfig,
)

__all__ = [
    "AdminConfig",
    "AgentConfig",
    "BalikanConfig",
    "DeviceConfig",
    "FingerprintConfig",
    "GatewayConfig",
    "IdentityConfig",
    "IndicatorsConfig",
    "LogConfig",
    "MqttConfig",
    "ReaderConfig",
    "SessionConfig",
    "StateConfig",
    "SupervisorConfig",
    "TamperConfig",
    "TimeoutsConfig",
    "UiConfig",
    "check_files",
    "load_config",
    "parse_config",
    "require_token",
]
