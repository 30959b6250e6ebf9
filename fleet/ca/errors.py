"""The device CA's errors: one tree under FleetError, each a line a person can act on."""

from __future__ import annotations

from fleet.errors import FleetError


class CaError(FleetError):
    """The CA cannot issue or revoke (its key, its files, its store)."""


class EnrolError(CaError):
    """An enrolment request refused: `status` is the HTTP status EST answers, `code` a stable
    word for logs and tests, the message what the technician or the kiosk must do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
