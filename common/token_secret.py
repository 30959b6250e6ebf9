"""AES secret keys in the kiosk's PKCS#11 token: the SAM host key, used there for AES-CMAC only.

The key object is CKK_AES, 128 bits, CKA_SENSITIVE and not CKA_EXTRACTABLE, CKA_SIGN/VERIFY only
(CKM_AES_CMAC: SoftHSM 2.6.1 has it, as have tpm2-pkcs11 and secure elements' modules), so a
copy of the SD card does not carry it and no process can read it back: it can only MAC through
the token while it holds the PIN. A SAM receives its host key once (SET HOST KEY), so the value
is made by the provisioning step, imported here (`import_aes_key`), sent to the SAM and wiped:
it exists in the clear only in that process's memory for that moment.

This module extends `common.token.Token` with secret keys (its session, lock and error
translation); the errors are `common.errors.TokenError` subclasses as there.
"""

from __future__ import annotations

import logging
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

from common.errors import TokenError, TokenKeyMissingError
from common.token import Token
from common.token_session import raise_token_error

_log = logging.getLogger(__name__)

AES_KEY_SIZE = 16


class TokenAesKey:
    """An AES key that stays in its token: AES-CMAC there, never exported."""

    def __init__(self, token: Token, label: str, handle: Any) -> None:
        self.token = token
        self.label = label
        self._handle = handle

    def cmac(self, data: bytes) -> bytes:
        """CKM_AES_CMAC of `data` in the token: 16 bytes."""
        with self.token._lock:
            try:
                return bytes(self._handle.sign(bytes(data), mechanism=Mechanism.AES_CMAC))
            except p11.PKCS11Error as err:
                raise_token_error(
                    self.token.config, err, f"computing a CMAC with the key {self.label!r}"
                )

    def __repr__(self) -> str:
        return f"<TokenAesKey {self.label!r} on {self.token.config.label!r}>"


def _secret_keys(token: Token, label: str) -> list[Any]:
    query = {Attribute.LABEL: label, Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: True}
    return list(token._session.get_objects(query))


def import_aes_key(token: Token, label: str, value: bytes | bytearray) -> TokenAesKey:
    """Store `value` as the AES key `label` (sensitive, not extractable, CMAC only)."""
    if len(value) != AES_KEY_SIZE:
        raise ValueError(f"an AES-128 key is {AES_KEY_SIZE} bytes")
    with token._lock:
        try:
            if _secret_keys(token, label):
                raise token.config.fail(TokenError, f"a key {label!r} is already on the token")
            handle = token._session.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.AES,
                    Attribute.VALUE: bytes(value),
                    Attribute.LABEL: label,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.VERIFY: True,
                    Attribute.ENCRYPT: False,
                    Attribute.DECRYPT: False,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.DERIVE: False,
                }
            )
        except p11.PKCS11Error as err:
            raise_token_error(token.config, err, f"storing the key {label!r}")
    _log.info("stored AES key %r in PKCS#11 token %r", label, token.config.label)
    return TokenAesKey(token, label, handle)


def find_aes_key(token: Token, label: str) -> TokenAesKey:
    """The AES key `label`; TokenKeyMissingError if the token has none by that label."""
    with token._lock:
        try:
            found = _secret_keys(token, label)
        except p11.PKCS11Error as err:
            raise_token_error(token.config, err, f"finding the key {label!r}")
    if not found:
        raise token.config.fail(TokenKeyMissingError, f"no key {label!r} on the token")
    return TokenAesKey(token, label, found[0])


def has_aes_key(token: Token, label: str) -> bool:
    """Whether the AES key `label` is on the token."""
    with token._lock:
        try:
            return bool(_secret_keys(token, label))
        except p11.PKCS11Error as err:
            raise_token_error(token.config, err, f"looking for the key {label!r}")


def key_is_protected(key: TokenAesKey) -> bool:
    """Whether the token reports the key sensitive and never readable (CKA_SENSITIVE, not
    CKA_EXTRACTABLE)."""
    with key.token._lock:
        try:
            sensitive = bool(key._handle[Attribute.SENSITIVE])
            extractable = bool(key._handle[Attribute.EXTRACTABLE])
        except p11.PKCS11Error as err:
            raise_token_error(key.token.config, err, f"reading the attributes of {key.label!r}")
    return sensitive and not extractable
