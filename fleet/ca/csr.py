"""What a certificate request must be to be signed: a pure check, every refusal an EnrolError.

EST sends the PKCS#10 request base64-encoded DER (RFC 7030 4.2.1; line breaks allowed). The
request must carry a valid self-signature (it proves the sender holds the private key), the
subject the enrolment expects (CN = device id, O = institution: nothing more is taken from it,
the certificate's subject is built by the CA) and a key of the accepted kinds: EC P-256 or
P-384. RSA and other curves are refused as weak or unsupported here (the kiosks' tokens make
P-256 keys).

Where the key lives cannot be proven by a PKCS#10 request alone: SoftHSM has no attestation, and
a TPM's (TPM2_Certify) or a secure element's attestation certificate would have to travel beside
it. The policy `key_origin = "token-claimed"` therefore only requires the request to claim it
(the KEY_ORIGIN extension below, the token's model as its value); `"any"` (the default) requires
nothing. See docs/fleet-ca.md.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.ca.errors import EnrolError

MAX_CSR_BYTES = 16 * 1024
CURVES = {"secp256r1", "secp384r1"}
# A private OID (under the UUID arc, 2.25) for "this key was made in a token", an extension
# request of the CSR whose value is the token's model (UTF8String DER or raw bytes).
KEY_ORIGIN = x509.ObjectIdentifier("2.25.229335411447926081823404938812442620545")
KEY_ORIGIN_POLICIES = ("any", "token-claimed")


def decode_body(body: bytes) -> bytes:
    """The DER of a base64 (RFC 7030) request body; EnrolError when it is not base64."""
    if len(body) > MAX_CSR_BYTES * 2:
        raise EnrolError(413, "too_large", "the certificate request is too large")
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise EnrolError(
            400, "not_base64", "the body must be a base64 DER PKCS#10 request (RFC 7030 4.2.1)"
        ) from None


def load_csr(der: bytes) -> x509.CertificateSigningRequest:
    """Parse and check the request's self-signature; EnrolError when it is not one."""
    try:
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
    except ValueError:
        raise EnrolError(400, "not_pkcs10", "the body is not a DER PKCS#10 request") from None
    if not valid:
        raise EnrolError(400, "bad_signature", "the request's signature does not verify")
    return csr


def _one(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def check_subject(csr: x509.CertificateSigningRequest, device: str, institution: str) -> None:
    """The request names this device (CN) of this institution (O); EnrolError otherwise."""
    cn = _one(csr.subject, NameOID.COMMON_NAME)
    org = _one(csr.subject, NameOID.ORGANIZATION_NAME)
    if cn != device or org != institution:
        raise EnrolError(
            400,
            "wrong_subject",
            f"the request's subject must be CN={device}, O={institution}"
            f" (it is {csr.subject.rfc4514_string() or 'empty'})",
        )


def check_key(csr: x509.CertificateSigningRequest) -> ec.EllipticCurvePublicKey:
    """The request's public key if it is EC P-256 or P-384; EnrolError (weak key) otherwise."""
    try:
        key = csr.public_key()
    except (ValueError, TypeError):
        raise EnrolError(400, "weak_key", "the request's public key is not supported") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        kind = type(key).__name__.replace("PublicKey", "").replace("_", "")
        size = getattr(key, "key_size", None)
        raise EnrolError(
            400,
            "weak_key",
            f"the request's key ({kind} {size or ''} bits) is weak or not accepted:"
            " make an EC P-256 (or P-384) key",
        )
    return key


def check_origin(csr: x509.CertificateSigningRequest, policy: str) -> None:
    """Under `token-claimed`, the request must claim its key was made in a token."""
    if policy == "any":
        return
    try:
        csr.extensions.get_extension_for_oid(KEY_ORIGIN)
    except x509.ExtensionNotFound:
        raise EnrolError(
            400,
            "key_not_in_token",
            "the policy requires a key made in a token: the request does not say its key was"
            f" (extension {KEY_ORIGIN.dotted_string}); make the key in the kiosk's token",
        ) from None
    except ValueError:
        raise EnrolError(400, "not_pkcs10", "the request's extensions do not parse") from None
