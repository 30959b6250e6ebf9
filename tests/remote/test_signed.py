"""The signed admin document envelope: golden vectors, round trips, every refusal."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from protocol.signed import (
    SIGNING_CONTEXT,
    Command,
    CommandName,
    DesiredState,
    KioskState,
    Rejection,
    Sanction,
    SignedDocumentError,
    canonical_json,
    key_id,
    keyring,
    load_private_key,
    load_public_key,
    private_pem,
    public_pem,
    sign_document,
    verify_document,
)
from tests.remote.keys import ADMIN, KEYS, OTHER

GOLDEN_KID = "56475aa75463474c"
GOLDEN_DESIRED = (
    b'{"alg":"Ed25519","body":"eyJkZXZpY2UiOiJLSU9TSy1BMSIsImlzc3VlZF9hdCI6MTc2NzIyNTYwMCwiaXNzdW'
    b"VyIjoiZmxlZXQtYWRtaW4iLCJraW5kIjoiZGVzaXJlZCIsInJlYXNvbiI6Im1pc3VzZTogc2VxdWVudGlhbCBOSUsgbG"
    b"9va3VwcyIsInNhbmN0aW9ucyI6WyJyZWFkZXJfZGVhY3RpdmF0ZWQiXSwic3RhdGUiOiJkZWFjdGl2YXRlZCIsInYiOjE"
    b'sInZlcnNpb24iOjd9","kid":"56475aa75463474c","sig":"NvWweFnXn51aLgmaz3xdP8qifFVtNen6JPJceinxI2'
    b'Tx681VtqLpEmBR992pbQNowINg_PJYXAiwCrK378YbCQ"}'
)
GOLDEN_COMMAND = (
    b'{"alg":"Ed25519","body":"eyJjb21tYW5kIjoicGluZyIsImRldmljZSI6IktJT1NLLUExIiwiZXhwaXJlc19hdC'
    b"I6MTc2NzIyNTkwMCwiaXNzdWVkX2F0IjoxNzY3MjI1NjAwLCJpc3N1ZXIiOiJmbGVldC1hZG1pbiIsImtpbmQiOiJjb21"
    b'tYW5kIiwibm9uY2UiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsInYiOjF9","kid":"56475aa7'
    b'5463474c","sig":"VWrLsUEUYmFz8ALzY-B83-flGNHUSKvDX-aFneTBfEEqFxlJXcUmjyu86YJJLoa0xqDicPrOaVGQ'
    b'uEcQKGg2DQ"}'
)

DESIRED = DesiredState(
    device="KIOSK-A1",
    version=7,
    state=KioskState.DEACTIVATED,
    reason="misuse: sequential NIK lookups",
    sanctions=(Sanction.READER_DEACTIVATED,),
    issued_at=1767225600,
    issuer="fleet-admin",
)
COMMAND = Command(
    "KIOSK-A1",
    "0123456789abcdef0123456789abcdef",
    CommandName.PING,
    1767225600,
    1767225900,
    "fleet-admin",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _envelope(body: bytes, *, key: Any = ADMIN, **over: Any) -> bytes:
    """An envelope around arbitrary body bytes, correctly signed unless told otherwise."""
    env = {
        "alg": "Ed25519",
        "kid": key_id(key.public_key()),
        "body": _b64(body),
        "sig": _b64(key.sign(SIGNING_CONTEXT + body)),
    }
    env.update(over)
    return json.dumps(env).encode()


def test_golden_vectors() -> None:
    assert key_id(ADMIN.public_key()) == GOLDEN_KID
    assert sign_document(DESIRED, ADMIN) == GOLDEN_DESIRED
    assert sign_document(COMMAND, ADMIN) == GOLDEN_COMMAND
    doc = verify_document(GOLDEN_DESIRED, KEYS)
    assert doc.body == DESIRED and doc.kid == GOLDEN_KID
    assert verify_document(GOLDEN_COMMAND, KEYS).body == COMMAND


def test_pem_round_trip() -> None:
    assert key_id(load_public_key(public_pem(ADMIN.public_key()))) == GOLDEN_KID
    assert key_id(load_private_key(private_pem(ADMIN)).public_key()) == GOLDEN_KID
    with pytest.raises(ValueError):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_the_digest_names_the_body() -> None:
    other = DesiredState(**{**_fields(DESIRED), "reason": "another reason"})
    a = verify_document(sign_document(DESIRED, ADMIN), KEYS)
    b = verify_document(sign_document(other, ADMIN), KEYS)
    assert a.digest != b.digest
    assert a.digest == verify_document(GOLDEN_DESIRED, KEYS).digest


def _fields(d: DesiredState) -> dict[str, Any]:
    return {f: getattr(d, f) for f in DesiredState.__slots__}


def _reason(raw: bytes, keys: Any = KEYS) -> Rejection:
    with pytest.raises(SignedDocumentError) as caught:
        verify_document(raw, keys)
    return caught.value.rejection


def test_unknown_key() -> None:
    assert _reason(sign_document(DESIRED, OTHER)) is Rejection.UNKNOWN_KEY


def test_another_key_claiming_our_key_id() -> None:
    raw = _envelope(canonical_json(DESIRED.to_json()), key=OTHER, kid=GOLDEN_KID)
    assert _reason(raw) is Rejection.BAD_SIGNATURE


def test_body_changed_after_signing() -> None:
    env = json.loads(GOLDEN_DESIRED)
    body = json.loads(base64.urlsafe_b64decode(env["body"] + "=="))
    body["state"] = "active"
    env["body"] = _b64(canonical_json(body))
    assert _reason(json.dumps(env).encode()) is Rejection.BAD_SIGNATURE


def test_signature_from_another_context() -> None:
    body = canonical_json(DESIRED.to_json())
    raw = _envelope(body, sig=_b64(ADMIN.sign(body)))  # signed without the context prefix
    assert _reason(raw) is Rejection.BAD_SIGNATURE


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b'{"alg":"Ed25519"}',
        GOLDEN_DESIRED.replace(b'"alg":"Ed25519"', b'"alg":"HS256"'),
        GOLDEN_DESIRED.replace(b'"kid":"56475aa75463474c"', b'"kid":"56475AA75463474C"'),
        GOLDEN_DESIRED[:-1] + b',"extra":1}',
        GOLDEN_DESIRED.replace(b'"body":"', b'"body":"!'),
        b"\xff" + GOLDEN_DESIRED,
        b" " * 5000,
    ],
)
def test_malformed_envelopes(raw: bytes) -> None:
    assert _reason(raw) is Rejection.MALFORMED


def test_duplicate_envelope_keys() -> None:
    raw = GOLDEN_DESIRED[:-1] + b',"kid":"56475aa75463474c"}'
    assert _reason(raw) is Rejection.MALFORMED


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("version", 0),
        ("version", True),
        ("version", 2**53),
        ("state", "paused"),
        ("device", "KIOSK A1"),
        ("issuer", ""),
        ("issued_at", -1),
        ("reason", "x" * 201),
        ("reason", "line\nbreak"),
        ("sanctions", ["terminated", "network_cut"]),  # not sorted
        ("sanctions", ["network_cut", "network_cut"]),
        ("sanctions", ["shaming"]),
        ("v", 2),
        ("kind", "policy"),
        ("extra", 1),
    ],
)
def test_signed_but_malformed_bodies(change: str, value: Any) -> None:
    body = DESIRED.to_json()
    body[change] = value
    assert _reason(_envelope(canonical_json(body))) is Rejection.MALFORMED


def test_non_canonical_bodies_are_refused_even_when_signed() -> None:
    body = DESIRED.to_json()
    spaced = json.dumps(body, sort_keys=True).encode()  # with spaces
    unsorted = json.dumps(dict(reversed(list(body.items()))), separators=(",", ":")).encode()
    floats = canonical_json(body).replace(b'"version":7', b'"version":7.0')
    for raw in (spaced, unsorted, floats):
        assert _reason(_envelope(raw)) is Rejection.MALFORMED


def test_command_bodies() -> None:
    body = COMMAND.to_json()
    for key, value in (("nonce", "XYZ"), ("expires_at", 1767225600), ("command", "reboot")):
        bad = {**body, key: value}
        assert _reason(_envelope(canonical_json(bad))) is Rejection.MALFORMED


def test_signing_refuses_a_bad_body() -> None:
    with pytest.raises(SignedDocumentError):
        sign_document(DesiredState(**{**_fields(DESIRED), "reason": "\x00"}), ADMIN)


def test_two_pinned_keys() -> None:
    both = keyring(ADMIN.public_key(), OTHER.public_key())
    assert verify_document(sign_document(DESIRED, OTHER), both).body == DESIRED
