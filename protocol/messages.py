"""Message schemas of the kiosk ↔ gateway API (JSON bodies), with strict parsers.

Personal data (the NIK, returned elements) travels only in POST bodies. Parsers reject unknown
fields and wrong types with MessageError naming the field, never echoing its value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.elements import DataElement
from protocol.errors import ProtocolError
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome

MAX_BODY_BYTES = 16 * 1024
FINGERS = ("right_index", "left_index")
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}\Z")
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


class MessageError(ProtocolError, ValueError):
    """A message that does not follow its schema. `field` names where; the value is never shown."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MatchEvidence:
    """The fingerprint module's 1:1 result that let the session go on to the query."""

    finger: str
    score: int
    tries: int


@dataclass(frozen=True, slots=True)
class ReaderIdentity:
    """The card reader and SAM the card was read with."""

    reader_id: str
    sam_id: str


@dataclass(frozen=True, slots=True)
class VerificationRequest:
    """POST /v1/verifications. Holds a NIK: never log or persist it."""

    request_id: str
    nik: str
    match: MatchEvidence
    reader: ReaderIdentity

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this request."""
        return {
            "request_id": self.request_id,
            "nik": self.nik,
            "match": {
                "finger": self.match.finger,
                "score": self.match.score,
                "tries": self.match.tries,
            },
            "reader": {"reader_id": self.reader.reader_id, "sam_id": self.reader.sam_id},
        }

    def __repr__(self) -> str:
        return f"VerificationRequest(request_id={self.request_id!r}, nik=<redacted>)"


@dataclass(frozen=True, slots=True)
class VerificationResponse:
    """The gateway's answer: an outcome, its texts, and the permitted elements when found."""

    request_id: str
    outcome: Outcome
    elements: dict[DataElement, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this answer (texts included, Indonesian first)."""
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "outcome": self.outcome.value,
            "text": {"id": self.outcome.info.text_id, "en": self.outcome.info.text_en},
        }
        if self.elements:
            body["elements"] = {e.value: v for e, v in self.elements.items()}
        return body

    def __repr__(self) -> str:
        return (
            f"VerificationResponse(request_id={self.request_id!r}, outcome={self.outcome.value},"
            f" elements=<{len(self.elements)}>)"
        )


@dataclass(frozen=True, slots=True)
class ReturnRequest:
    """POST /v1/returns: data balikan, the institution's own number for a person it looked up."""

    request_id: str
    nik: str
    return_number: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this request."""
        return {"request_id": self.request_id, "nik": self.nik, "return_number": self.return_number}

    def __repr__(self) -> str:
        return f"ReturnRequest(request_id={self.request_id!r}, <redacted>)"


@dataclass(frozen=True, slots=True)
class ReturnResponse:
    """The gateway's answer to data balikan: accepted, or not with a reason code.

    Reasons: REJECTED (the upstream refused it, e.g. that NIK was never looked up by the
    institution) or a parameter-check outcome code (INSTITUTION_INACTIVE, USER_INACTIVE, ...).
    """

    request_id: str
    accepted: bool
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this answer."""
        body: dict[str, Any] = {"request_id": self.request_id, "accepted": self.accepted}
        if self.reason is not None:
            body["reason"] = self.reason
        return body


def error_body(code: str, message: str, field_name: str | None = None) -> dict[str, Any]:
    """The JSON body of every 4xx/5xx answer: {"error": {"code", "message", "field"?}}."""
    err: dict[str, Any] = {"code": code, "message": message}
    if field_name is not None:
        err["field"] = field_name
    return {"error": err}


def decode_body(raw: bytes) -> dict[str, Any]:
    """Parse a request/response body into a JSON object, or raise MessageError."""
    if len(raw) > MAX_BODY_BYTES:
        raise MessageError("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise MessageError("body", "not valid JSON") from err
    if not isinstance(obj, dict):
        raise MessageError("body", "must be a JSON object")
    return obj


def encode_body(obj: dict[str, Any]) -> bytes:
    """Compact JSON bytes, UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


_SAFE_NAME = re.compile(r"^[a-z_]{1,32}\Z")


def _where(name: str, key: str) -> str:
    """A field path for an error; a key that could carry data is not echoed."""
    shown = key if _SAFE_NAME.match(key) else "<field>"
    return f"{name}.{shown}" if name else shown


def _object(obj: object, name: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise MessageError(name or "body", "must be an object")
    unknown = sorted(set(obj) - keys, key=str)
    if unknown:
        raise MessageError(_where(name, str(unknown[0])), "unknown field")
    missing = sorted(keys - set(obj))
    if missing:
        raise MessageError(_where(name, missing[0]), "missing")
    return obj


def _str(obj: dict[str, Any], key: str, name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = obj[key]
    where = _where(name, key)
    if not isinstance(value, str):
        raise MessageError(where, "must be a string")
    if pattern is not None and not pattern.match(value):
        raise MessageError(where, "has the wrong format")
    return value


def _int(obj: dict[str, Any], key: str, name: str, lo: int, hi: int) -> int:
    value = obj[key]
    where = _where(name, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MessageError(where, "must be an integer")
    if not lo <= value <= hi:
        raise MessageError(where, f"must be between {lo} and {hi}")
    return value


def _nik(obj: dict[str, Any]) -> str:
    value = _str(obj, "nik", "")
    if not has_nik_shape(value):
        raise MessageError("nik", "has the wrong format")
    return value


def parse_verification_request(obj: object) -> VerificationRequest:
    """Validate a verification request's shape (NIK: 16 digits; the format rules come later)."""
    top = _object(obj, "", {"request_id", "nik", "match", "reader"})
    match = _object(top["match"], "match", {"finger", "score", "tries"})
    reader = _object(top["reader"], "reader", {"reader_id", "sam_id"})
    finger = _str(match, "finger", "match")
    if finger not in FINGERS:
        raise MessageError("match.finger", f"must be one of {', '.join(FINGERS)}")
    return VerificationRequest(
        request_id=_str(top, "request_id", "", _REQUEST_ID),
        nik=_nik(top),
        match=MatchEvidence(finger, _int(match, "score", "match", 0, 65535), _tries(match)),
        reader=ReaderIdentity(
            _str(reader, "reader_id", "reader", _IDENT), _str(reader, "sam_id", "reader", _IDENT)
        ),
    )


def _tries(match: dict[str, Any]) -> int:
    return _int(match, "tries", "match", 1, 3)


def parse_verification_response(obj: object) -> VerificationResponse:
    """Validate the gateway's answer; unknown element names and outcomes are refused."""
    if isinstance(obj, dict) and "elements" not in obj:
        obj = {**obj, "elements": {}}
    top = _object(obj, "", {"request_id", "outcome", "text", "elements"})
    try:
        outcome = Outcome(_str(top, "outcome", ""))
    except ValueError as err:
        raise MessageError("outcome", "unknown outcome code") from err
    raw_elements = top["elements"]
    if not isinstance(raw_elements, dict):
        raise MessageError("elements", "must be an object")
    known = {e.value: e for e in DataElement}
    elements: dict[DataElement, str] = {}
    for name, value in raw_elements.items():
        if name not in known:
            raise MessageError("elements", "unknown element name")
        if not isinstance(value, str):
            raise MessageError(f"elements.{name}", "must be a string")
        elements[known[name]] = value
    return VerificationResponse(_str(top, "request_id", "", _REQUEST_ID), outcome, elements)


def parse_return_request(obj: object) -> ReturnRequest:
    """Validate a data-balikan request."""
    top = _object(obj, "", {"request_id", "nik", "return_number"})
    return ReturnRequest(
        request_id=_str(top, "request_id", "", _REQUEST_ID),
        nik=_nik(top),
        return_number=_str(top, "return_number", "", _IDENT),
    )


_REASON = re.compile(r"^[A-Z_]{1,32}\Z")


def parse_return_response(obj: object) -> ReturnResponse:
    """Validate the gateway's answer to data balikan."""
    if isinstance(obj, dict) and "reason" not in obj:
        obj = {**obj, "reason": None}
    top = _object(obj, "", {"request_id", "accepted", "reason"})
    accepted = top["accepted"]
    if not isinstance(accepted, bool):
        raise MessageError("accepted", "must be true or false")
    reason = top["reason"]
    if reason is not None:
        reason = _str(top, "reason", "", _REASON)
    return ReturnResponse(_str(top, "request_id", "", _REQUEST_ID), accepted, reason)
