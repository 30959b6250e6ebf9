"""The handover record (BAST, berita acara serah terima) of a kiosk, and its chain (pure, no I/O).

A record is canonical JSON (protocol.strictjson.canonical_dumps) of::

    {"body": {...}, "kiosk_cert": PEM, "kiosk_sig": b64url | null,
     "technician_cert": PEM, "technician_sig": b64url,
     "fleet": {"at": int, "sig": b64url}}          # added by the fleet service

`body`: v, kind (handover | decommission), seq (0, 1, ... per kiosk), prev (the SHA-256 of the
kiosk's previous record, 64 zeros for the first), device, serial, institution, cert_fingerprint
(SHA-256 of the kiosk certificate's DER), bindings (hardware ids: no personal data), selftest
(test name -> pass | fail | skipped), location, at, technician (the CN of the technician's
certificate), representative (the institution's staff id), reason.

The kiosk's token key and the technician's key sign `PARTY_CONTEXT + canonical(body)` with
ECDSA P-256 / SHA-256 (DER signatures, base64url without padding). A decommission record after a
tamper may lack the kiosk's signature (its key was destroyed): `kiosk_sig` is then null and the
body says so in `reason`. The fleet service countersigns with the device CA's key
`COUNTER_CONTEXT + canonical({"at", "body", "kiosk_sig", "technician_sig"})`. A record's hash is
the SHA-256 of its whole canonical JSON, countersignature included; the next record's `prev`
names it, so a changed, removed or reordered record breaks the chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocol.errors import ProtocolError
from protocol.strictjson import canonical_dumps, strict_loads

VERSION = 1
KINDS = ("handover", "decommission")
RESULTS = ("pass", "fail", "skipped")
PARTY_CONTEXT = b"platform-bersama handover record v1\n"
COUNTER_CONTEXT = b"platform-bersama handover countersignature v1\n"
GENESIS = "0" * 64
MAX_RECORD_BYTES = 32 * 1024
MAX_TEXT = 200
_IDENT = re.compile(r"^[A-Za-z0-9._:/-]{1,80}\Z")
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_B64URL = re.compile(r"^[A-Za-z0-9_-]{1,200}\Z")
_BODY_KEYS = frozenset(
    ("v", "kind", "seq", "prev", "device", "serial", "institution", "cert_fingerprint")
) | frozenset(("bindings", "selftest", "location", "at", "technician", "representative", "reason"))
_RECORD_KEYS = frozenset(("body", "kiosk_cert", "kiosk_sig", "technician_cert", "technician_sig"))


class HandoverRecordError(ProtocolError, ValueError):
    """A record that is malformed or does not verify; the message says which part, no data."""


@dataclass(frozen=True, slots=True)
class HandoverBody:
    """What the parties sign."""

    kind: str
    seq: int
    prev: str
    device: str
    serial: str
    institution: str
    cert_fingerprint: str
    bindings: Mapping[str, str | int] = field(default_factory=dict)
    selftest: Mapping[str, str] = field(default_factory=dict)
    location: str = ""
    at: int = 0
    technician: str = ""
    representative: str = ""
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        """The body object."""
        return {
            "v": VERSION,
            "kind": self.kind,
            "seq": self.seq,
            "prev": self.prev,
            "device": self.device,
            "serial": self.serial,
            "institution": self.institution,
            "cert_fingerprint": self.cert_fingerprint,
            "bindings": dict(self.bindings),
            "selftest": dict(self.selftest),
            "location": self.location,
            "at": self.at,
            "technician": self.technician,
            "representative": self.representative,
            "reason": self.reason,
        }


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of a certificate's DER."""
    return cert.fingerprint(hashes.SHA256()).hex()


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a record's canonical JSON: what the next record's `prev` names."""
    return hashlib.sha256(canonical_dumps(record)).hexdigest()


def encode(record: Mapping[str, Any]) -> bytes:
    """A record's canonical bytes."""
    return canonical_dumps(record)


def party_signature(body: HandoverBody, key: ec.EllipticCurvePrivateKey) -> str:
    """One party's signature over the body (a token key works: it is an EC private key)."""
    sig = key.sign(PARTY_CONTEXT + canonical_dumps(body.as_json()), ec.ECDSA(hashes.SHA256()))
    return _b64(sig)


def signed_record(
    body: HandoverBody,
    *,
    kiosk_cert: x509.Certificate,
    kiosk_sig: str | None,
    technician_cert: x509.Certificate,
    technician_sig: str,
) -> dict[str, Any]:
    """The record as the kiosk sends it to the fleet service (not yet countersigned)."""
    return {
        "body": body.as_json(),
        "kiosk_cert": _pem(kiosk_cert),
        "kiosk_sig": kiosk_sig,
        "technician_cert": _pem(technician_cert),
        "technician_sig": technician_sig,
    }


def countersign(
    record: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, at: int
) -> dict[str, Any]:
    """The record with the fleet service's countersignature."""
    sig = key.sign(COUNTER_CONTEXT + _counter_bytes(record, at), ec.ECDSA(hashes.SHA256()))
    return {**{k: record[k] for k in _RECORD_KEYS}, "fleet": {"at": at, "sig": _b64(sig)}}


def decode(raw: bytes) -> dict[str, Any]:
    """A record from bytes: strict JSON, the expected shape (HandoverRecordError)."""
    if len(raw) > MAX_RECORD_BYTES:
        raise HandoverRecordError("the record is too large")
    try:
        doc = strict_loads(raw, floats=False)
    except (ValueError, RecursionError) as err:
        raise HandoverRecordError("the record is not strict JSON") from err
    check_shape(doc)
    return dict(doc)


def check_shape(doc: Any) -> HandoverBody:
    """The body of a record of the right shape (HandoverRecordError naming the bad part)."""
    if not isinstance(doc, dict):
        raise HandoverRecordError("the record is not an object")
    keys = set(doc)
    if not keys >= _RECORD_KEYS or not keys <= _RECORD_KEYS | {"fleet"}:
        raise HandoverRecordError("the record's keys are not those of a handover record")
    for name in ("kiosk_cert", "technician_cert"):
        if not isinstance(doc[name], str):
            raise HandoverRecordError(f"{name} is not a PEM text")
    if doc["kiosk_sig"] is not None and not _is_b64(doc["kiosk_sig"]):
        raise HandoverRecordError("kiosk_sig is not base64url")
    if not _is_b64(doc["technician_sig"]):
        raise HandoverRecordError("technician_sig is not base64url")
    if "fleet" in doc:
        fleet = doc["fleet"]
        if (
            not isinstance(fleet, dict)
            or set(fleet) != {"at", "sig"}
            or not _is_int(fleet["at"])
            or not _is_b64(fleet["sig"])
        ):
            raise HandoverRecordError("fleet is not {at, sig}")
    body = _body(doc["body"])
    if doc["kiosk_sig"] is None and body.kind != "decommission":
        raise HandoverRecordError("only a decommission record may lack the kiosk's signature")
    return body


def verify(
    record: Mapping[str, Any], *, device_ca: x509.Certificate, admin_ca: x509.Certificate
) -> HandoverBody:
    """Check the shape and both parties' signatures and certificates (HandoverRecordError)."""
    body = check_shape(record)
    signed = PARTY_CONTEXT + canonical_dumps(body.as_json())
    kiosk = _cert(record["kiosk_cert"], "kiosk_cert")
    _issued(kiosk, device_ca, "kiosk_cert", body.device)
    if fingerprint(kiosk) != body.cert_fingerprint:
        raise HandoverRecordError("cert_fingerprint does not match kiosk_cert")
    if record["kiosk_sig"] is not None:
        _check(kiosk, record["kiosk_sig"], signed, "kiosk_sig")
    tech = _cert(record["technician_cert"], "technician_cert")
    _issued(tech, admin_ca, "technician_cert", body.technician)
    _check(tech, record["technician_sig"], signed, "technician_sig")
    return body


def verify_countersignature(record: Mapping[str, Any], device_ca: x509.Certificate) -> None:
    """Check the fleet service's countersignature (HandoverRecordError)."""
    fleet = record.get("fleet")
    if not isinstance(fleet, dict):
        raise HandoverRecordError("the record is not countersigned")
    key = device_ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    try:
        key.verify(
            _unb64(fleet["sig"]),
            COUNTER_CONTEXT + _counter_bytes(record, fleet["at"]),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        raise HandoverRecordError("the fleet's countersignature does not verify") from None


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One record of a chain as checked: its hash and what is wrong with it (empty: nothing)."""

    seq: int
    kind: str
    at: int
    hash: str
    problems: tuple[str, ...]


def check_chain(
    records: Sequence[Mapping[str, Any]],
    *,
    device_ca: x509.Certificate,
    admin_ca: x509.Certificate,
) -> list[ChainEntry]:
    """Each record of one kiosk, oldest first, with its problems (signatures, seq, prev)."""
    out: list[ChainEntry] = []
    prev = GENESIS
    for index, record in enumerate(records):
        problems: list[str] = []
        try:
            body = verify(record, device_ca=device_ca, admin_ca=admin_ca)
            verify_countersignature(record, device_ca)
        except HandoverRecordError as err:
            problems.append(str(err))
            raw = record.get("body")
            body = _loose(raw if isinstance(raw, dict) else {})
        if body.seq != index:
            problems.append(f"seq {body.seq} where {index} was expected")
        if body.prev != prev:
            problems.append("prev does not name the previous record (changed or removed)")
        digest = record_hash(record)
        out.append(ChainEntry(body.seq, body.kind, body.at, digest, tuple(problems)))
        prev = digest
    return out


# --- helpers ----------------------------------------------------------------------------------


def _counter_bytes(record: Mapping[str, Any], at: int) -> bytes:
    return canonical_dumps(
        {
            "at": at,
            "body": record["body"],
            "kiosk_sig": record["kiosk_sig"],
            "technician_sig": record["technician_sig"],
        }
    )


def _body(raw: Any) -> HandoverBody:
    if not isinstance(raw, dict) or set(raw) != _BODY_KEYS:
        raise HandoverRecordError("the body's keys are not those of a handover record")
    if raw["v"] != VERSION:
        raise HandoverRecordError(f"body version {raw['v']!r} is not {VERSION}")
    if raw["kind"] not in KINDS:
        raise HandoverRecordError("kind is not handover or decommission")
    for name in ("seq", "at"):
        if not _is_int(raw[name]) or raw[name] < 0:
            raise HandoverRecordError(f"{name} is not a non-negative integer")
    for name in ("prev", "cert_fingerprint"):
        if not isinstance(raw[name], str) or not _HEX64.match(raw[name]):
            raise HandoverRecordError(f"{name} is not 64 hex digits")
    for name in ("device", "serial", "institution", "technician", "representative"):
        if not isinstance(raw[name], str) or not _IDENT.match(raw[name]):
            raise HandoverRecordError(f"{name} is not an identifier")
    for name in ("location", "reason"):
        if not isinstance(raw[name], str) or len(raw[name]) > MAX_TEXT:
            raise HandoverRecordError(f"{name} is not a text of at most {MAX_TEXT} characters")
    bindings, selftest = raw["bindings"], raw["selftest"]
    if not isinstance(bindings, dict) or not all(
        isinstance(k, str) and ((isinstance(v, str) and len(v) <= MAX_TEXT) or _is_int(v))
        for k, v in bindings.items()
    ):
        raise HandoverRecordError("bindings is not an object of short texts and integers")
    if not isinstance(selftest, dict) or not all(
        isinstance(k, str) and v in RESULTS for k, v in selftest.items()
    ):
        raise HandoverRecordError("selftest is not an object of pass | fail | skipped")
    return _loose(raw)


def _loose(raw: Mapping[str, Any]) -> HandoverBody:
    """A body from a mapping, defaults for what is missing (to report a broken record)."""

    def text(name: str) -> str:
        value = raw.get(name, "")
        return value if isinstance(value, str) else ""

    def number(name: str) -> int:
        value = raw.get(name, -1)
        return value if _is_int(value) else -1

    return HandoverBody(
        kind=text("kind"),
        seq=number("seq"),
        prev=text("prev"),
        device=text("device"),
        serial=text("serial"),
        institution=text("institution"),
        cert_fingerprint=text("cert_fingerprint"),
        bindings=dict(raw.get("bindings") or {}),
        selftest=dict(raw.get("selftest") or {}),
        location=text("location"),
        at=number("at"),
        technician=text("technician"),
        representative=text("representative"),
        reason=text("reason"),
    )


def _cert(pem: str, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise HandoverRecordError(f"{what} is not a PEM certificate") from None


def _issued(cert: x509.Certificate, ca: x509.Certificate, what: str, name: str) -> None:
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        raise HandoverRecordError(f"{what} is not issued by the expected CA") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != name:
        raise HandoverRecordError(f"{what} does not name the body's {what.split('_')[0]}")


def _check(cert: x509.Certificate, sig: str, data: bytes, what: str) -> None:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise HandoverRecordError(f"{what}: the certificate's key is not an EC key")
    try:
        key.verify(_unb64(sig), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise HandoverRecordError(f"{what} does not verify") from None


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise HandoverRecordError("a signature is not base64url") from None


def _is_b64(value: Any) -> bool:
    return isinstance(value, str) and bool(_B64URL.match(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
