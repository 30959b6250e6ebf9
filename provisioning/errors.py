"""The exception tree of the provisioning tool (`kiosk-provision`) and its exit codes.

Every step function raises a `ProvisionError` (or a subclass): `code` is a stable machine name
(`SAM_NOT_ACTIVATED`), `message_id` the Indonesian text shown first, `message_en` the English
one, `exit_code` the process's exit code (one per step, see `EXIT_CODES`), `retry` whether running
the same command again later may help without a person changing anything (a service
unreachable) or whether someone must act first (a device missing, a token used). No message may
hold personal data.

Step owners may define finer subclasses in their own modules; they inherit the step's exit code
by subclassing the step's class here (`class SamMissing(BindingError): ...`).
"""

from __future__ import annotations

from typing import ClassVar

# Exit codes of `kiosk-provision`: one per step (and a few of the tool itself).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_STATE = 3
EXIT_PREFLIGHT = 10
EXIT_ENROL = 20
EXIT_HARDWARE = 30
EXIT_SAM = 40
EXIT_MCU_KEY = 50
EXIT_SELFTEST = 60
EXIT_HANDOVER = 70
EXIT_DECOMMISSION = 80

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "every step finished (or was already finished)",
    EXIT_INTERNAL: "an unexpected failure in the tool itself (a bug: report it with --json output)",
    EXIT_USAGE: "bad command line or configuration (a missing option, an unreadable file)",
    EXIT_STATE: "the provisioning state file is unreadable or cannot be written",
    EXIT_PREFLIGHT: "preflight: pcscd, the token, the clock, the disk or the temperature",
    EXIT_ENROL: "enrol: the enrolment token or the EST enrolment at the fleet service",
    EXIT_HARDWARE: "bind hardware: reader, SAM, sensor or MCU missing, or registry/gateway refusal",
    EXIT_SAM: "bind SAM: the SAM's host key could not be set in the token or in the SAM",
    EXIT_MCU_KEY: "MCU key: the supervisor MCU's clear key could not be set or escrowed",
    EXIT_SELFTEST: "self-test: a test failed (test card, finger, indicators, tamper, MCU, links)",
    EXIT_HANDOVER: "handover record: signing, countersigning or storing the record failed",
    EXIT_DECOMMISSION: "decommission: revocation, key destruction, wipe or unbinding failed",
}


class ProvisionError(Exception):
    """Base of every error of the provisioning tool: a code, two texts, an exit code."""

    exit_code_default: ClassVar[int] = EXIT_INTERNAL

    def __init__(
        self,
        code: str,
        message_id: str,
        message_en: str,
        *,
        exit_code: int | None = None,
        retry: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_id = message_id
        self.message_en = message_en
        self.exit_code = self.exit_code_default if exit_code is None else exit_code
        self.retry = retry

    def as_json(self) -> dict[str, object]:
        """The error as a JSON object (what `--json` prints)."""
        return {
            "code": self.code,
            "message_id": self.message_id,
            "message_en": self.message_en,
            "exit_code": self.exit_code,
            "retry": self.retry,
        }


class UsageError(ProvisionError):
    """A bad command line or configuration."""

    exit_code_default = EXIT_USAGE


class StateError(ProvisionError):
    """The state file of the provisioning run cannot be read or written."""

    exit_code_default = EXIT_STATE


class PreflightError(ProvisionError):
    """Preflight: a service, the token, the clock, the disk or the temperature is not right."""

    exit_code_default = EXIT_PREFLIGHT


class EnrolError(ProvisionError):
    """Enrolment: the enrolment token was refused or EST enrolment failed."""

    exit_code_default = EXIT_ENROL


class BindingError(ProvisionError):
    """Hardware binding: a device missing or silent, or the registry/gateway refused."""

    exit_code_default = EXIT_HARDWARE


class SamBindError(ProvisionError):
    """SAM binding: the host key could not be made, set or proven."""

    exit_code_default = EXIT_SAM


class McuKeyError(ProvisionError):
    """The supervisor MCU's clear key could not be set or escrowed."""

    exit_code_default = EXIT_MCU_KEY


class SelfTestError(ProvisionError):
    """A self-test failed; the message says what to check."""

    exit_code_default = EXIT_SELFTEST


class HandoverError(ProvisionError):
    """The handover record could not be signed, countersigned, stored or verified."""

    exit_code_default = EXIT_HANDOVER


class DecommissionError(ProvisionError):
    """Decommissioning failed part way (running it again continues)."""

    exit_code_default = EXIT_DECOMMISSION
