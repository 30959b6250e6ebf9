"""Keys that live in a PKCS#11 token: the kiosk's TLS key, the device CA's key.

`Token.open(TokenConfig(module, label, pin_file))` opens a read-write user session on the token
with that label in that PKCS#11 module (SoftHSM2 in tests and the simulated stack, tpm2-pkcs11 or
a secure element's module in the field), the PIN read from a file. Keys are EC P-256 pairs made
inside the token (`generate_key`), sensitive and never extractable, found and destroyed by label
(C_DestroyObject needs no write access to any file: the tamper response uses it).

`TokenKey` is a `cryptography` EC private key whose `sign` hashes in Python and has the token
sign the digest with CKM_ECDSA (SoftHSM 2.6.1 has no CKM_ECDSA_SHA256), so certificate, CSR and
CRL builders sign with it as with any key. For TLS, OpenSSL 3's pkcs11-provider reads the key
through a PEM file of type "PKCS#11 PROVIDER URI" (`write_uri_pem`), see common.tls.

Every call is blocking and serialised on the token's one session: call it from an executor in
async code. PKCS#11 errors come out as `common.errors.TokenError` subclasses naming the module,
the token and what to do; the PIN is never in a message or a log. Loading the module, logging
in and translating errors live in common.token_session.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, Self, cast

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.utils import Buffer
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.types import SignMixin

from common.errors import TokenError, TokenKeyMissingError, TokenMissingError, TokenModuleError
from common.token_session import TokenConfig, load_module, log_in, raise_token_error, read_pin
from common.token_uri import URI_PEM_LABEL, token_uri, uri_pem, write_uri_pem

__all__ = [
    "KEY_ORIGIN_OID",
    "URI_PEM_LABEL",
    "Token",
    "TokenConfig",
    "TokenKey",
    "read_pin",
    "token_uri",
    "uri_pem",
    "write_uri_pem",
]

_log = logging.getLogger(__name__)

# "This key was made in a token": a private OID (UUID arc 2.25) of an extension request in a
# kiosk's CSR whose value is the token's model (fleet/ca/csr.py checks it under key_origin).
KEY_ORIGIN_OID = "2.25.229335411447926081823404938812442620545"
# DER of the named curve prime256v1 (OID 1.2.840.10045.3.1.7), the CKA_EC_PARAMS of a P-256 key.
P256_EC_PARAMS = bytes.fromhex("06082a8648ce3d030107")


class Token:
    """One open user session on a PKCS#11 token; keys made, found and destroyed by label."""

    def __init__(self, config: TokenConfig, session: pkcs11.Session) -> None:
        self.config = config
        self._session = session
        self._lock = threading.RLock()

    @classmethod
    def open(cls, config: TokenConfig) -> Self:
        """Load the module, find the token by label, log in with the PIN file's PIN."""
        pin = read_pin(config)
        if not config.module.is_file():
            raise config.fail(
                TokenModuleError,
                "the PKCS#11 module is missing; install it (SoftHSM: softhsm2, TPM: "
                "libtpm2-pkcs11-1) or set [identity] token_module to its path",
            )
        try:
            lib = load_module(config.module)
        except p11.PKCS11Error as err:
            raise config.fail(TokenModuleError, f"the module does not load: {err}") from err
        try:
            token = lib.get_token(token_label=config.label)
        except p11.NoSuchToken as err:
            raise config.fail(
                TokenMissingError,
                "no token with this label is present; initialise it (softhsm2-util "
                "--init-token, tpm2_ptool addtoken) or correct [identity] token_label",
            ) from err
        except p11.PKCS11Error as err:
            raise_token_error(config, err, "finding the token")
        try:
            log_in(config, token, pin)
            session = token.open(rw=True)
        except p11.PKCS11Error as err:
            raise_token_error(config, err, "logging in")
        _log.info("opened PKCS#11 token %r in %s", config.label, config.module)
        return cls(config, session)

    def close(self) -> None:
        """Close this Token's session (the process stays logged in, the module loaded)."""
        with self._lock, self._translating("closing the session"):
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> str:
        """The token's manufacturer and model as it reports them ("SoftHSM project SoftHSM v2")."""
        with self._lock, self._translating("reading the token's model"):
            token = self._session.token
            return f"{token.manufacturer_id} {token.model}".strip()

    def uri(self, key_label: str) -> str:
        """The pkcs11: URI of the private key `key_label` on this token, PIN from the PIN file."""
        return token_uri(self.config.label, key_label, self.config.pin_file)

    def generate_key(self, key_label: str) -> TokenKey:
        """Make an EC P-256 key pair `key_label` in the token (sensitive, never extractable)."""
        with self._lock, self._translating(f"making the key {key_label!r}"):
            if self._objects(key_label, ObjectClass.PRIVATE_KEY):
                raise self.config.fail(TokenError, f"a key {key_label!r} is already on the token")
            key_id = secrets.token_bytes(16)
            params = self._session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: P256_EC_PARAMS}, local=True
            )
            public, private = params.generate_keypair(
                id=key_id,
                label=key_label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template={Attribute.PRIVATE: False},
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.PRIVATE: True,
                },
            )
            _log.info("made key %r in PKCS#11 token %r", key_label, self.config.label)
            return TokenKey(
                self, key_label, cast(SignMixin, private), _public_key(public[Attribute.EC_POINT])
            )

    def find_key(self, key_label: str) -> TokenKey:
        """The key pair `key_label`; TokenKeyMissingError if the token has none by that label."""
        with self._lock, self._translating(f"finding the key {key_label!r}"):
            privates = self._objects(key_label, ObjectClass.PRIVATE_KEY)
            publics = self._objects(key_label, ObjectClass.PUBLIC_KEY)
            if not privates or not publics:
                raise self.config.fail(TokenKeyMissingError, f"no key {key_label!r} on the token")
            point = publics[0][Attribute.EC_POINT]
            return TokenKey(self, key_label, privates[0], _public_key(point))

    def has_key(self, key_label: str) -> bool:
        """Whether the private key `key_label` is on the token."""
        with self._lock, self._translating(f"looking for the key {key_label!r}"):
            return bool(self._objects(key_label, ObjectClass.PRIVATE_KEY))

    def key_labels(self) -> list[str]:
        """The labels of the private keys on the token, sorted."""
        with self._lock, self._translating("listing keys"):
            objs = self._session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.TOKEN: True}
            )
            return sorted({str(obj[Attribute.LABEL]) for obj in objs})

    def destroy(self, key_label: str) -> int:
        """C_DestroyObject on every object labelled `key_label`; how many there were."""
        with self._lock, self._translating(f"destroying the key {key_label!r}"):
            objs = list(self._session.get_objects({Attribute.LABEL: key_label}))
            for obj in objs:
                obj.destroy()
        _log.info("destroyed %d object(s) %r on token %r", len(objs), key_label, self.config.label)
        return len(objs)

    def destroy_all(self) -> int:
        """C_DestroyObject on every object the user sees on the token (tamper); how many.

        Session objects go too: OpenSSL's provider keeps copies of a key it uses as such.
        """
        with self._lock, self._translating("destroying every object"):
            objs = list(self._session.get_objects())
            for obj in objs:
                obj.destroy()
        _log.warning("destroyed all %d object(s) on token %r", len(objs), self.config.label)
        return len(objs)

    def sign_digest(self, key: SignMixin, digest: bytes) -> bytes:
        """CKM_ECDSA over a digest with a private key of this token: r||s."""
        with self._lock, self._translating("signing"):
            return bytes(key.sign(digest, mechanism=Mechanism.ECDSA))

    def _objects(self, label: str, cls: ObjectClass) -> list[Any]:
        query = {Attribute.LABEL: label, Attribute.CLASS: cls, Attribute.TOKEN: True}
        return list(self._session.get_objects(query))

    @contextmanager
    def _translating(self, doing: str) -> Iterator[None]:
        try:
            yield
        except p11.PKCS11Error as err:
            raise_token_error(self.config, err, doing)


class TokenKey(ec.EllipticCurvePrivateKey):
    """An EC P-256 private key that stays in its token: signs there, never exports."""

    def __init__(
        self,
        token: Token,
        label: str,
        handle: SignMixin,
        public: ec.EllipticCurvePublicKey,
    ) -> None:
        self.token = token
        self.label = label
        self._handle = handle
        self._public = public

    @property
    def uri(self) -> str:
        """The pkcs11: URI of this key (what `write_uri_pem` writes for TLS)."""
        return self.token.uri(self.label)

    @property
    def curve(self) -> ec.EllipticCurve:
        """The curve: P-256."""
        return self._public.curve

    @property
    def key_size(self) -> int:
        """256."""
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half, read from the token when the key was found or made."""
        return self._public

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        """ECDSA: hash here (or take a Prehashed digest), CKM_ECDSA in the token, DER (r, s)."""
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError("a token key signs with ec.ECDSA only")
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, utils.Prehashed):
            digest = bytes(data)
        else:
            hasher = hashes.Hash(algorithm)
            hasher.update(data)
            digest = hasher.finalize()
        raw = self.token.sign_digest(self._handle, digest)
        half = len(raw) // 2
        return utils.encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """Not offered: the key signs only."""
        raise TypeError("a token key signs only; it does no ECDH")

    def private_numbers(self) -> NoReturn:
        """Never: the key is not extractable."""
        raise TypeError("a token key is not extractable")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> NoReturn:
        """Never: the key is not extractable."""
        raise TypeError("a token key is not extractable")

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self

    def __repr__(self) -> str:
        return f"<TokenKey {self.label!r} on {self.token.config.label!r}>"


def _public_key(ec_point: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from CKA_EC_POINT (a DER OCTET STRING, or the bare point)."""
    point = bytes(ec_point)
    if len(point) == 67 and point[:2] == b"\x04\x41":
        point = point[2:]
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
