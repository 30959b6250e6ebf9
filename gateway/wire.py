"""Quick paths for the hot kiosk messages, equal in effect to protocol.messages.

`decode_json` is `decode_body` with orjson (the same 16 KB limit and MessageError; it also
refuses the NaN/Infinity literals that the stdlib accepts). `parse_verification` accepts exactly
what `parse_verification_request` accepts: it checks the common well-formed shape directly and
hands anything else to the strict parser, which raises the precise MessageError.
`verification_body` builds the same bytes as `encode_body(VerificationResponse(...).to_json())`
from precomputed pieces. `valid_nik` is `is_valid_nik` with the birth date checked against a
precomputed table. Tests hold all four equal to the protocol module.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from protocol.messages import (
    FINGERS,
    MAX_BODY_BYTES,
    MatchEvidence,
    MessageError,
    ReaderIdentity,
    VerificationRequest,
    parse_verification_request,
)
from protocol.outcomes import Outcome
from protocol.regions import PROVINCES

_TOP = frozenset({"request_id", "nik", "match", "reader"})
_MATCH = frozenset({"finger", "score", "tries"})
_READER = frozenset({"reader_id", "sam_id"})
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
_NIK = re.compile(r"[0-9]{16}")
_IDENT = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# Birth day (plus 40 for women) and month, DDMM, as the NIK writes them; 29 February only in
# years whose two digits are a multiple of 4 (a leap year in 19xx or 20xx).
_LEAP_DAYS = frozenset({"2902", "6902"})
_DAY_MONTHS = frozenset(
    f"{day + plus:02d}{month:02d}"
    for month, days in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1)
    for day in range(1, days + 1)
    for plus in (0, 40)
)


def decode_json(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or MessageError (field "body")."""
    if len(raw) > MAX_BODY_BYTES:
        raise MessageError("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise MessageError("body", "not valid JSON") from err
    if type(obj) is not dict:
        raise MessageError("body", "must be a JSON object")
    return obj


def parse_verification(obj: dict[str, Any]) -> VerificationRequest:
    """A verification request from a decoded JSON object, or MessageError."""
    m = obj.get("match")
    r = obj.get("reader")
    rid = obj.get("request_id")
    nik = obj.get("nik")
    if (
        obj.keys() == _TOP
        and type(m) is dict
        and type(r) is dict
        and m.keys() == _MATCH
        and r.keys() == _READER
        and type(rid) is str
        and type(nik) is str
        and _REQUEST_ID.fullmatch(rid)
        and _NIK.fullmatch(nik)
    ):
        finger, score, tries = m["finger"], m["score"], m["tries"]
        reader_id, sam_id = r["reader_id"], r["sam_id"]
        if (
            type(finger) is str
            and finger in FINGERS
            and type(score) is int
            and 0 <= score <= 65535
            and type(tries) is int
            and 1 <= tries <= 3
            and type(reader_id) is str
            and type(sam_id) is str
            and _IDENT.fullmatch(reader_id)
            and _IDENT.fullmatch(sam_id)
        ):
            return VerificationRequest(
                rid, nik, MatchEvidence(finger, score, tries), ReaderIdentity(reader_id, sam_id)
            )
    return parse_verification_request(obj)


def _middle(outcome: Outcome) -> str:
    info = outcome.info
    text_id, text_en = _ENCODER.encode(info.text_id), _ENCODER.encode(info.text_en)
    return f'","outcome":"{outcome.value}","text":{{"id":{text_id},"en":{text_en}}}'


_MIDDLE = {o: _middle(o).encode() for o in Outcome}


def verification_body(request_id: str, outcome: Outcome, elements: dict[str, str]) -> bytes:
    """The JSON answer of a verification; `request_id` must already be validated (hex)."""
    head = b'{"request_id":"' + request_id.encode() + _MIDDLE[outcome]
    if elements:
        return head + b',"elements":' + orjson.dumps(elements) + b"}"
    return head + b"}"


def valid_nik(nik: str) -> bool:
    """True if the NIK follows the format (the same answer as protocol.nik.is_valid_nik)."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        return False
    day_month = nik[6:10]
    return (
        nik[:2] in PROVINCES
        and nik[2:4] != "00"
        and nik[4:6] != "00"
        and day_month in _DAY_MONTHS
        and nik[12:] != "0000"
        and (day_month not in _LEAP_DAYS or int(nik[10:12]) % 4 == 0)
    )
