"""The exception tree of the gateway. Messages never carry personal data."""

from __future__ import annotations

from common import config


class GatewayError(Exception):
    """Base of every error raised by the gateway package."""


class ConfigError(config.ConfigError, GatewayError):
    """A configuration that cannot be used; `key` names the offending setting (common.config)."""


class StoreError(GatewayError):
    """The quota/policy store failed (SQLite or Redis)."""


class UpstreamError(GatewayError):
    """The upstream could not give a usable answer. `kind` says how: timeout, connection,
    status, garbage, login."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"upstream {kind}" + (f": {detail}" if detail else ""))
        self.kind = kind
        self.detail = detail
