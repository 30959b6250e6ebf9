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


class TokenError(CommonError):
    """A PKCS#11 token could not be used: names the module, the token label, and what to do.

    Never holds the PIN. Subclasses say which of the usual faults it was.
    """

    def __init__(self, module: Path, label: str, reason: str) -> None:
        super().__init__(f"PKCS#11 token {label!r} in {module}: {reason}")
        self.module = module
        self.label = label
        self.reason = reason


class TokenModuleError(TokenError):
    """The PKCS#11 module (shared library) is missing or does not load."""


class TokenMissingError(TokenError):
    """No token with that label is present in the module."""


class TokenPinFileError(TokenError):
    """The PIN file is missing, unreadable or empty."""


class TokenPinError(TokenError):
    """The token refused the PIN (wrong PIN)."""


class TokenLockedError(TokenError):
    """The token's user PIN is locked (too many wrong PINs)."""


class TokenFullError(TokenError):
    """The token has no room for another object."""


class TokenKeyMissingError(TokenError):
    """No key with that label is on the token."""


class TlsProviderError(CommonError):
    """OpenSSL's pkcs11-provider could not be loaded from a configuration file."""

    def __init__(self, config: Path, reason: str) -> None:
        super().__init__(f"OpenSSL configuration {config}: {reason}")
        self.config = config
        self.reason = reason
