"""The tamper response for a key in a PKCS#11 token: C_DestroyObject on every object of it.

It needs no write access to any file (the shipped unit keeps /etc/kiosk read-only), only the
token's own store, which the token module writes (SoftHSM's token directory, tpm2-pkcs11's store
under the state directory). The certificate and the URI PEM stay: without the key they are
useless, and the next TLS handshake fails.
"""

from __future__ import annotations

import logging

from common.errors import TokenError
from common.token import Token, TokenConfig

_log = logging.getLogger(__name__)


class TokenKeyDestroyer:
    """Destroys every object on the kiosk's token (uplink.tamper.KeyDestroyer)."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config

    def destroy(self) -> list[str]:
        """Destroy every key on the token; the labels destroyed (never raises)."""
        try:
            with Token.open(self.config) as token:
                labels = token.key_labels()
                count = token.destroy_all()
        except TokenError as err:
            _log.error("cannot destroy the keys on the token: %s", err)
            return []
        _log.warning("tamper: %d object(s) destroyed on token %r", count, self.config.label)
        return [f"token:{label}" for label in labels]
