"""The detached signature of a report's PDF (pure, no I/O).

A JSON file beside the PDF: the signed statement (canonical JSON: the PDF's SHA-256, its file
name, the institution, the semester, when and by whom it was made, the key id) and `sig`, Ed25519
over `SIGNING_CONTEXT + statement`. The context differs from the admin documents' so that no
signature of one can pass for the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fleet.errors import FleetError
from protocol.signed import ALGORITHM, canonical_json, key_id
from protocol.strict import Reader, StrictError
from protocol.strictjson import strict_loads

SIGNING_CONTEXT = b"platform-bersama semester report v1\n"
KIND = "semester_report"
EXIT_NOT_VERIFIED = 5  # as `audit verify`: what was checked does not verify
MAX_SIGNATURE_BYTES = 4096
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


class SignatureMismatch(FleetError):
    """The report does not verify (changed, or signed by another key); exit code 5."""

    exit_code = EXIT_NOT_VERIFIED


@dataclass(frozen=True, slots=True)
class Statement:
    """What the signature vouches for."""

    sha256: str
    file: str
    institution: str
    semester: str
    made_at: int
    made_by: str
    kid: str
    annex: Mapping[str, str]  # file name -> SHA-256 (hex) of the CSV and JSON annex

    def body(self) -> dict[str, Any]:
        """The signed object."""
        return {
            "v": 1,
            "kind": KIND,
            "alg": ALGORITHM,
            "kid": self.kid,
            "sha256": self.sha256,
            "file": self.file,
            "institution": self.institution,
            "semester": self.semester,
            "made_at": self.made_at,
            "made_by": self.made_by,
            "annex": dict(self.annex),
        }


def sign_report(
    pdf: bytes,
    key: Ed25519PrivateKey,
    *,
    file: str,
    institution: str,
    semester: str,
    made_at: int,
    made_by: str,
    annex: Mapping[str, bytes],
) -> bytes:
    """The signature file of a PDF and its annex (file name -> content)."""
    statement = Statement(
        hashlib.sha256(pdf).hexdigest(),
        file,
        institution,
        semester,
        made_at,
        made_by,
        key_id(key.public_key()),
        {name: hashlib.sha256(content).hexdigest() for name, content in annex.items()},
    )
    body = statement.body()
    sig = key.sign(SIGNING_CONTEXT + canonical_json(body))
    return canonical_json({**body, "sig": base64.urlsafe_b64encode(sig).decode().rstrip("=")})


def verify_report(
    pdf: bytes,
    raw: bytes,
    keys: Mapping[str, Ed25519PublicKey],
    where: str,
    annex: Mapping[str, bytes] | None = None,
) -> Statement:
    """Check a signature file against the PDF (and the annex files given, by name);
    SignatureMismatch naming what fails, FleetError for a file that is not a signature."""
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise FleetError(f"{where}: not a report signature (too large)")
    try:
        r = Reader(strict_loads(raw))
        if r.text("kind") != KIND or r.integer("v") != 1 or r.text("alg") != ALGORITHM:
            raise FleetError(f"{where}: not a semester report signature")
        statement = Statement(
            r.text("sha256"),
            r.text("file"),
            r.text("institution"),
            r.text("semester"),
            r.integer("made_at"),
            r.text("made_by"),
            r.text("kid"),
            _hashes(r.nested("annex")),
        )
        text = r.text("sig")
        sig = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        r.done()
    except (StrictError, ValueError, binascii.Error, RecursionError) as err:
        raise FleetError(f"{where}: not a semester report signature ({err})") from err
    check_signature(
        keys, statement.kid, sig, SIGNING_CONTEXT + canonical_json(statement.body()), where
    )
    digest = hashlib.sha256(pdf).hexdigest()
    if digest != statement.sha256:
        raise SignatureMismatch(
            f"the PDF's SHA-256 {digest[:16]}... is not the signed {statement.sha256[:16]}...: "
            "the PDF was changed after it was signed"
        )
    for name, content in (annex or {}).items():
        signed = statement.annex.get(name)
        if signed is None:
            raise SignatureMismatch(f"{name}: not an annex of this report")
        if hashlib.sha256(content).hexdigest() != signed:
            raise SignatureMismatch(f"{name}: the annex was changed after it was signed")
    return statement


def _hashes(r: Reader) -> dict[str, str]:
    """The annex's {file name: SHA-256}."""
    return {name: r.text(name, pattern=_SHA256) for name in r.names()}


def check_signature(
    keys: Mapping[str, Ed25519PublicKey], kid: str, sig: bytes, message: bytes, where: str
) -> None:
    """SignatureMismatch (exit 5) unless `kid` is one of `keys` and `sig` signs `message`."""
    key = keys.get(kid)
    if key is None:
        raise SignatureMismatch(
            f"{where}: signed by key {kid}, which is not the admin key given "
            f"({', '.join(sorted(keys)) or 'none'})"
        )
    try:
        key.verify(sig, message)
    except InvalidSignature as err:
        raise SignatureMismatch(
            f"{where}: the signature is not valid (the file was edited)"
        ) from err
