"""The errors of `common`: one tree, each naming what failed and never holding personal data."""

from __future__ import annotations

from pathlib import Path


class CommonError(Exception):
    """Base of every error raised by `common`."""


class TlsFileError(CommonError):
    """A TLS file (CA certificates, or a certificate with its key) did not load.

    `role` is "ca" for trusted CA certificates or "identity" for a certificate and its key, so
    that a caller can name the configuration key at fault.
    """

    def __init__(self, role: str, path: Path, reason: str) -> None:
        super().__init__(f"cannot load the {_WHAT[role]} {path.name}: {reason}")
        self.role = role
        self.path = path
        self.reason = reason


_WHAT = {"ca": "CA certificates", "identity": "certificate and key"}
