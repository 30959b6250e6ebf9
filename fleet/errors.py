"""The fleet tool's one failure type, with the exit code the CLI returns for it."""

from __future__ import annotations

from common import config

EXIT_OK = 0
EXIT_FAILED = 1  # broker or gateway unreachable or refusing, bad files
EXIT_USAGE = 2  # wrong arguments or configuration
EXIT_TIMEOUT = 3  # the kiosk did not report in time (offline: the retained document waits)
EXIT_REJECTED = 4  # the kiosk refused the document


class FleetError(Exception):
    """Something the admin must know, in one line; `exit_code` for the CLI."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(config.ConfigError, FleetError):
    """fleet.toml is wrong: common.config's error, a usage error for the CLI (exit code 2)."""

    exit_code = EXIT_USAGE
