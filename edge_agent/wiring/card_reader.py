"""The agent's card reader, and its SAM host key: the AES key in the kiosk's token.

Opened on first use and looked up again after a failure, so a key that provisioning makes while
the agent runs is found, and a key the tamper response destroyed fails the next read cleanly.
Token errors come out as the card errors a card profile may raise.
"""

from __future__ import annotations

import logging
import threading

from common.errors import TokenError, TokenKeyMissingError
from common.token import Token, TokenConfig
from common.token_secret import TokenAesKey, find_aes_key
from edge_agent.config import IdentityConfig, ReaderConfig
from hardware.card.reader import CardReader
from hardware.errors import SamNotAuthorisedError, SamNotBoundError

_log = logging.getLogger(__name__)


class TokenHostKey:
    """A `hardware.card.sam_auth.HostKey` kept in the kiosk's PKCS#11 token."""

    def __init__(self, config: TokenConfig, label: str) -> None:
        self.config = config
        self.label = label
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._key: TokenAesKey | None = None

    def cmac(self, data: bytes) -> bytes:
        """AES-CMAC in the token; SamNotBoundError without a key, SamNotAuthorisedError on a
        token failure."""
        with self._lock:
            key = self._key or self._find()
            try:
                return key.cmac(data)
            except TokenError as err:
                self._key = None
                raise SamNotAuthorisedError(f"the SAM host key cannot be used: {err}") from err

    def _find(self) -> TokenAesKey:
        try:
            if self._token is None:
                self._token = Token.open(self.config)
            self._key = find_aes_key(self._token, self.label)
        except TokenKeyMissingError as err:
            raise SamNotBoundError(
                f"the kiosk's token {self.config.label!r} holds no SAM host key {self.label!r}: "
                "run kiosk-provision's SAM step"
            ) from err
        except TokenError as err:
            raise SamNotAuthorisedError(f"the SAM host key cannot be used: {err}") from err
        _log.info("SAM host key %r found in token %r", self.label, self.config.label)
        return self._key

    def close(self) -> None:
        """Close the token session."""
        with self._lock:
            token, self._token, self._key = self._token, None, None
        if token is not None:
            try:
                token.close()
            except TokenError as err:
                _log.warning("closing the token session of the SAM host key: %s", err)

    def __repr__(self) -> str:
        return f"<TokenHostKey {self.label!r} on {self.config.label!r}>"


def build_card_reader(cfg: ReaderConfig, identity: IdentityConfig | None) -> CardReader:
    """The PC/SC reader with its SAM (hardware.card.pcsc), authenticating to the SAM with the
    host key in [identity]'s token (without a token the SAM refuses to work)."""
    from hardware.card.ktpel import KtpelProfile
    from hardware.card.pcsc import PcscCardReader

    host_key = None
    if identity is not None:
        config = TokenConfig(identity.token_module, identity.token_label, identity.pin_file)
        host_key = TokenHostKey(config, cfg.sam_host_key)
    return PcscCardReader(
        card_reader=cfg.card_reader,
        sam_reader=cfg.sam_reader,
        profile=KtpelProfile(host_key=host_key),
    )
