"""Signed admin documents: the desired state of a kiosk and one-off commands (pure, no I/O).

A Dukcapil admin signs each document with an Ed25519 key that the kiosk pinned at provisioning,
separate from every TLS key, so neither the broker nor anyone with broker access can forge one.

Wire form (the envelope, UTF-8 JSON)::

    {"alg": "Ed25519", "kid": "<16 hex>", "body": "<base64url>", "sig": "<base64url>"}

`body` is the canonical JSON of the body object (sorted keys, no spaces, ASCII, integers only);
`sig` signs `SIGNING_CONTEXT + body bytes`; `kid` is the first 8 bytes of SHA-256 over the raw
public key. The verifier checks the key id and the signature before it parses the body, and then
refuses a body that is not byte for byte canonical.

Body of a desired state: v, kind="desired", device, version, state (active | deactivated),
reason, sanctions, issued_at, issuer. Body of a command: v, kind="command", device, nonce,
command, issued_at, expires_at, issuer. Whether a document applies (device, version, expiry,
nonce) is the receiver's decision: see edge_agent.uplink.remote_control.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.errors import ProtocolError
from protocol.strict import Reader
from protocol.strictjson import canonical_dumps, strict_loads

SCHEMA_VERSION = 1
ALGORITHM = "Ed25519"
SIGNING_CONTEXT = b"platform-bersama admin document v1\n"
MAX_DOCUMENT_BYTES = 4096
MAX_REASON_CHARS = 200
MAX_VERSION = 2**53 - 1
MAX_TIME = 4_102_444_800  # 2100-01-01: any later time is a mistake
KEY_ID_LENGTH = 16
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_NONCE = re.compile(r"^[0-9a-f]{32}\Z")
_KEY_ID = re.compile(r"^[0-9a-f]{16}\Z")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*\Z")


class DocumentKind(Enum):
    """What a signed document is."""

    DESIRED = "desired"
    COMMAND = "command"


class KioskState(Enum):
    """The state an admin wants a kiosk in."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class Sanction(Enum):
    """Sanctions of the PKS for misuse, as recorded in a desired state."""

    READER_DEACTIVATED = "reader_deactivated"
    QUOTA_REDUCED = "quota_reduced"
    USER_DEACTIVATED = "user_deactivated"
    NETWORK_CUT = "network_cut"
    APPROVAL_REVOKED = "approval_revoked"
    TERMINATED = "terminated"


class CommandName(Enum):
    """One-off commands."""

    PING = "ping"
    REPORT_NOW = "report_now"
    ROTATE_CERTIFICATE = "rotate_certificate"


class Rejection(Enum):
    """Why a signed document was refused (what the kiosk logs and reports)."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_KIND = "wrong_kind"
    WRONG_DEVICE = "wrong_device"
    STALE_VERSION = "stale_version"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NONCE_REUSED = "nonce_reused"
    TOPIC_MISMATCH = "topic_mismatch"


class SignedDocumentError(ProtocolError, ValueError):
    """A signed document that cannot be accepted; `rejection` says why (never echoes input)."""

    def __init__(self, rejection: Rejection, detail: str = "") -> None:
        text = rejection.value if not detail else f"{rejection.value}: {detail}"
        super().__init__(text)
        self.rejection = rejection
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The signed desired state of one kiosk: apply only a version above the last applied."""

    device: str
    version: int
    state: KioskState
    reason: str
    sanctions: tuple[Sanction, ...]
    issued_at: int
    issuer: str

    @property
    def deactivated(self) -> bool:
        """True if the kiosk must refuse sessions."""
        return self.state is KioskState.DEACTIVATED

    def to_json(self) -> dict[str, Any]:
        """The body object."""
        return {
            "v": SCHEMA_VERSION,
            "kind": DocumentKind.DESIRED.value,
            "device": self.device,
            "version": self.version,
            "state": self.state.value,
            "reason": self.reason,
            "sanctions": sorted(s.value for s in self.sanctions),
            "issued_at": self.issued_at,
            "issuer": self.issuer,
        }


@dataclass(frozen=True, slots=True)
class Command:
    """A signed one-off command: valid until `expires_at`, once (its nonce)."""

    device: str
    nonce: str
    command: CommandName
    issued_at: int
    expires_at: int
    issuer: str

    def to_json(self) -> dict[str, Any]:
        """The body object."""
        return {
            "v": SCHEMA_VERSION,
            "kind": DocumentKind.COMMAND.value,
            "device": self.device,
            "nonce": self.nonce,
            "command": self.command.value,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "issuer": self.issuer,
        }


Body = DesiredState | Command


@dataclass(frozen=True, slots=True)
class SignedDocument:
    """A verified document: its body, the key that signed it, and the body's SHA-256 (hex)."""

    body: Body
    kid: str
    digest: str


# --- keys -------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key id: the first 8 bytes of SHA-256 over the raw public key, in hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_LENGTH]


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo); ValueError otherwise."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from unencrypted PEM (PKCS#8); ValueError otherwise."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """PEM (SubjectPublicKeyInfo) of a public key."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(private_key: Ed25519PrivateKey) -> bytes:
    """Unencrypted PEM (PKCS#8) of a private key."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def keyring(*public_keys: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    """Pinned keys by key id."""
    return {key_id(k): k for k in public_keys}


# --- signing ----------------------------------------------------------------------------------


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, ASCII only: the bytes that are signed."""
    return canonical_dumps(obj)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_document(body: Body, private_key: Ed25519PrivateKey) -> bytes:
    """The envelope of `body` signed with `private_key` (the admin side)."""
    check_body(body)
    data = canonical_json(body.to_json())
    signature = private_key.sign(SIGNING_CONTEXT + data)
    envelope = {
        "alg": ALGORITHM,
        "kid": key_id(private_key.public_key()),
        "body": _b64(data),
        "sig": _b64(signature),
    }
    raw = canonical_json(envelope)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise SignedDocumentError(Rejection.MALFORMED, "document too large")
    return raw


def check_body(body: Body) -> None:
    """Raise SignedDocumentError if a body built in code breaks the schema."""
    _parse_body(body.to_json())


# --- verifying --------------------------------------------------------------------------------


def verify_document(raw: bytes, keys: Mapping[str, Ed25519PublicKey]) -> SignedDocument:
    """Check key id and signature, then parse the body strictly; SignedDocumentError otherwise."""
    if not isinstance(raw, bytes | bytearray) or len(raw) > MAX_DOCUMENT_BYTES:
        raise SignedDocumentError(Rejection.MALFORMED, "size")
    envelope = Reader(_strict_json(bytes(raw), "envelope"), "envelope", _malformed)
    if envelope.text("alg") != ALGORITHM:
        raise SignedDocumentError(Rejection.MALFORMED, "algorithm")
    kid = envelope.text("kid", pattern=_KEY_ID)
    body_text = envelope.text("body", empty=True)
    sig_text = envelope.text("sig", empty=True)
    envelope.done()
    key = keys.get(kid)
    if key is None:
        raise SignedDocumentError(Rejection.UNKNOWN_KEY)
    try:
        data = _unb64(body_text)
        signature = _unb64(sig_text)
    except (ValueError, binascii.Error):
        raise SignedDocumentError(Rejection.MALFORMED, "base64url") from None
    if len(signature) != 64:
        raise SignedDocumentError(Rejection.BAD_SIGNATURE)
    try:
        key.verify(signature, SIGNING_CONTEXT + data)
    except InvalidSignature:
        raise SignedDocumentError(Rejection.BAD_SIGNATURE) from None
    obj = _strict_json(data, "body")
    if not isinstance(obj, dict) or canonical_json(obj) != data:
        raise SignedDocumentError(Rejection.MALFORMED, "body is not canonical JSON")
    body = _parse_body(obj)
    return SignedDocument(body, kid, hashlib.sha256(data).hexdigest())


def _strict_json(data: bytes, what: str) -> Any:
    try:
        return strict_loads(data, floats=False)
    except (ValueError, RecursionError):
        raise SignedDocumentError(Rejection.MALFORMED, f"{what} is not strict JSON") from None


def _malformed(path: str, reason: str) -> SignedDocumentError:
    """The strict reader's error for a signed document: malformed, saying where."""
    return SignedDocumentError(Rejection.MALFORMED, f"{path}: {reason}")


def _parse_body(obj: dict[str, Any]) -> Body:
    r = Reader(obj, "body", _malformed)
    if r.integer("v", lo=1, hi=MAX_VERSION) != SCHEMA_VERSION:
        raise SignedDocumentError(Rejection.MALFORMED, "schema version")
    kind = r.member("kind", DocumentKind)
    device = r.text("device", pattern=_IDENT)
    issuer = r.text("issuer", pattern=_IDENT)
    issued_at = r.integer("issued_at", lo=1, hi=MAX_TIME)
    body: Body
    if kind is DocumentKind.DESIRED:
        reason = r.text("reason", empty=True)
        if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
            raise r.error("reason", f"must be printable and at most {MAX_REASON_CHARS} characters")
        names = r.texts("sanctions")
        if names != sorted(set(names)):
            raise r.error("sanctions", "must be sorted and unique")
        known = [s.value for s in Sanction]
        for i, name in enumerate(names):
            if name not in known:
                raise r.error(f"sanctions[{i}]", f"must be one of {', '.join(known)}")
        body = DesiredState(
            device=device,
            version=r.integer("version", lo=1, hi=MAX_VERSION),
            state=r.member("state", KioskState),
            reason=reason,
            sanctions=tuple(Sanction(n) for n in names),
            issued_at=issued_at,
            issuer=issuer,
        )
    else:
        expires_at = r.integer("expires_at", lo=1, hi=MAX_TIME)
        if expires_at <= issued_at:
            raise r.error("expires_at", "must be after issued_at")
        body = Command(
            device=device,
            nonce=r.text("nonce", pattern=_NONCE),
            command=r.member("command", CommandName),
            issued_at=issued_at,
            expires_at=expires_at,
            issuer=issuer,
        )
    r.done()
    return body
