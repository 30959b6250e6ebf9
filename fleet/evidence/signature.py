"""The detached signature of an evidence report (pure, no I/O), as the semester report's
(fleet/semester/signature.py): the signed statement names each file with its SHA-256; its own
signing context, so that no other signature of the admin key can pass for it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fleet.errors import FleetError
from fleet.semester.signature import MAX_SIGNATURE_BYTES, SignatureMismatch, check_signature
from protocol.signed import ALGORITHM, canonical_json, key_id
from protocol.strict import Reader, StrictError
from protocol.strictjson import strict_loads

SIGNING_CONTEXT = b"platform-bersama poc evidence v1\n"
KIND = "poc_evidence"
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_FILE = re.compile(r"^[A-Za-z0-9._-]{1,128}\Z")


@dataclass(frozen=True, slots=True)
class EvidenceStatement:
    """What the signature vouches for."""

    files: Mapping[str, str]  # file name -> SHA-256 (hex)
    ok: bool
    made_at: int
    made_by: str
    kid: str

    def body(self) -> dict[str, Any]:
        """The signed object."""
        return {
            "v": 1,
            "kind": KIND,
            "alg": ALGORITHM,
            "kid": self.kid,
            "files": dict(self.files),
            "ok": self.ok,
            "made_at": self.made_at,
            "made_by": self.made_by,
        }


def sign_evidence(
    files: Mapping[str, bytes], key: Ed25519PrivateKey, *, ok: bool, made_at: int, made_by: str
) -> bytes:
    """The signature file over the report's files (file name -> content)."""
    statement = EvidenceStatement(
        {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        ok,
        made_at,
        made_by,
        key_id(key.public_key()),
    )
    body = statement.body()
    sig = key.sign(SIGNING_CONTEXT + canonical_json(body))
    return canonical_json({**body, "sig": base64.urlsafe_b64encode(sig).decode().rstrip("=")})


def read_statement(raw: bytes, where: str) -> tuple[EvidenceStatement, bytes]:
    """The statement and the signature bytes of a signature file (FleetError if it is not one)."""
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise FleetError(f"{where}: not an evidence signature (too large)")
    try:
        r = Reader(strict_loads(raw))
        if r.text("kind") != KIND or r.integer("v") != 1 or r.text("alg") != ALGORITHM:
            raise FleetError(f"{where}: not an evidence signature")
        f = r.nested("files")
        files = {name: f.text(name, pattern=_SHA256) for name in f.names()}
        if not files or not all(_FILE.match(n) for n in files):
            raise FleetError(f"{where}: not an evidence signature (file names)")
        statement = EvidenceStatement(
            files, r.boolean("ok"), r.integer("made_at"), r.text("made_by"), r.text("kid")
        )
        text = r.text("sig")
        sig = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        r.done()
    except (StrictError, ValueError, binascii.Error, RecursionError) as err:
        raise FleetError(f"{where}: not an evidence signature ({err})") from err
    return statement, sig


def verify_evidence(
    raw: bytes, files: Mapping[str, bytes], keys: Mapping[str, Ed25519PublicKey], where: str
) -> EvidenceStatement:
    """Check the signature and every signed file given (all must be given); SignatureMismatch
    (exit 5) naming what fails."""
    statement, sig = read_statement(raw, where)
    check_signature(
        keys, statement.kid, sig, SIGNING_CONTEXT + canonical_json(statement.body()), where
    )
    for name, digest in statement.files.items():
        if name not in files:
            raise SignatureMismatch(f"{name}: signed, but not found beside {where}")
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise SignatureMismatch(f"{name}: changed after it was signed")
    return statement
