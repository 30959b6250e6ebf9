"""The CA keys: in a PKCS#11 token ([ca.token], common.token) or, in tests, a PEM file."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fleet.ca.authority import CertificateAuthority
from fleet.ca.errors import CaError
from fleet.ca.settings import KeySource, TokenSettings


def load_certificate(path: Path, what: str) -> x509.Certificate:
    """A PEM certificate; CaError naming the file."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as err:
        raise CaError(f"cannot read the {what} {path} ({err.strerror})") from err
    except ValueError as err:
        raise CaError(f"the {what} {path} is not a PEM certificate") from err


def load_pem_key(path: Path, what: str) -> ec.EllipticCurvePrivateKey:
    """An unencrypted EC private key from a PEM file (tests)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as err:
        raise CaError(f"cannot read the {what} key {path} ({err.strerror})") from err
    except (ValueError, TypeError) as err:
        raise CaError(f"the {what} key {path} is not an unencrypted PEM private key") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(f"the {what} key {path} is not an EC key")
    return key


class CaKeys:
    """Opens the token once (if any) and hands out the CA keys; `close` releases it."""

    def __init__(self, token: TokenSettings | None) -> None:
        self._settings = token
        self._token: Any = None

    def token(self) -> Any:
        """The opened token (common.token.Token); CaError without [ca.token]."""
        if self._settings is None:
            raise CaError("fleet.toml has no [ca.token]: the CA keys' token")
        return self._open()

    def _open(self) -> Any:
        if self._token is None:
            assert self._settings is not None
            from common.errors import TokenError
            from common.token import Token, TokenConfig

            s = self._settings
            try:
                self._token = Token.open(TokenConfig(s.module, s.label, s.pin_file))
            except TokenError as err:
                raise CaError(f"the CA token ([ca.token] in fleet.toml): {err}") from err
        return self._token

    def key(self, source: KeySource, what: str) -> ec.EllipticCurvePrivateKey:
        """The key of `source`: found by label in the token, or read from its file."""
        if source.file is not None:
            return load_pem_key(source.file, what)
        from common.errors import TokenError

        assert source.label is not None
        try:
            key: ec.EllipticCurvePrivateKey = self._open().find_key(source.label)
        except TokenError as err:
            raise CaError(f"the {what} key {source.label!r} in the CA token: {err}") from err
        return key

    def authority(self, cert_file: Path, source: KeySource, what: str) -> CertificateAuthority:
        """A CA from its certificate file and its key."""
        return CertificateAuthority(
            load_certificate(cert_file, f"{what} certificate"), self.key(source, what)
        )

    def close(self) -> None:
        """Close the token session."""
        token, self._token = self._token, None
        if token is not None:
            with contextlib.suppress(Exception):
                token.close()
