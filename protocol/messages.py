"""Message schemas of the kiosk ↔ gateway API (JSON bodies), with strict parsers.

Personal data (the NIK, returned elements) travels only in POST bodies. Parsers reject unknown
fields and wrong types with MessageError naming the field, never echoing its value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.elements import DataElement
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome
from protocol.strict import Reader, StrictError
from protocol.strictjson import strict_loads

MAX_BODY_BYTES = 16 * 1024
REPLAY_KEY_BYTES = 32
FINGERS = ("right_index", "left_index")
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}\Z")
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


class MessageError(StrictError):
    """A message that does not follow its schema. `field` names where; the value is never shown."""

    @property
    def field(self) -> str:
        """Where in the message (`match.score`)."""
        return self.path


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
    replay_key: bytes  # 32 random bytes, fresh per request id; the gateway seals its answer with it

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
            "replay_key": encode_replay_key(self.replay_key),
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
    replay_key: bytes  # as in VerificationRequest

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this request."""
        return {
            "request_id": self.request_id,
            "nik": self.nik,
            "return_number": self.return_number,
            "replay_key": encode_replay_key(self.replay_key),
        }

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


def decode_body(raw: bytes | bytearray) -> dict[str, Any]:
    """Parse a request/response body into a JSON object, or raise MessageError.

    Strict JSON (protocol.strictjson): UTF-8, no duplicate keys, no NaN or Infinity.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise MessageError("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        obj = strict_loads(raw)
    except (ValueError, RecursionError) as err:
        raise MessageError("body", "not valid JSON") from err
    if not isinstance(obj, dict):
        raise MessageError("body", "must be a JSON object")
    return obj


def encode_body(obj: dict[str, Any]) -> bytes:
    """Compact JSON bytes, UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _nik(top: Reader) -> str:
    """The request's NIK: its shape only (16 digits); the format rules are the gateway's."""
    nik = top.text("nik")
    if not has_nik_shape(nik):
        raise top.error("nik", "has the wrong format")
    return nik


_REPLAY_KEY = re.compile(r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]\Z")


def encode_replay_key(key: bytes | bytearray) -> str:
    """A replay key as the body carries it: base64url without padding (43 characters)."""
    if len(key) != REPLAY_KEY_BYTES:
        raise MessageError("replay_key", f"must be {REPLAY_KEY_BYTES} bytes")
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def _replay_key(top: Reader) -> bytes:
    """The 32-byte replay key of a request body (canonical base64url, no padding)."""
    text = top.text("replay_key", pattern=_REPLAY_KEY)
    try:
        return base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError) as err:  # unreachable after the pattern; kept strict
        raise MessageError("replay_key", "has the wrong format") from err


def parse_verification_request(obj: object) -> VerificationRequest:
    """Validate a verification request's shape (NIK: 16 digits; the format rules come later)."""
    top = Reader(obj, error=MessageError)  # fields read in name order: the first one wrong is named
    match = top.nested("match")
    finger = match.choice("finger", FINGERS)
    evidence = MatchEvidence(finger, match.integer("score", lo=0, hi=65535), _tries(match))
    match.done()
    nik = _nik(top)
    reader = top.nested("reader")
    identity = ReaderIdentity(
        reader.text("reader_id", pattern=_IDENT), reader.text("sam_id", pattern=_IDENT)
    )
    reader.done()
    replay_key = _replay_key(top)
    request = VerificationRequest(
        request_id=top.text("request_id", pattern=_REQUEST_ID),
        nik=nik,
        match=evidence,
        reader=identity,
        replay_key=replay_key,
    )
    top.done()
    return request


def _tries(match: Reader) -> int:
    return match.integer("tries", lo=1, hi=3)


def parse_verification_response(obj: object) -> VerificationResponse:
    """Validate the gateway's answer; unknown element names and outcomes are refused."""
    top = Reader(obj, error=MessageError)
    outcome = top.member("outcome", Outcome)
    returned = top.nested("elements", {})
    known = {e.value: e for e in DataElement}
    elements: dict[DataElement, str] = {}
    for name in returned.names():
        if name not in known:
            raise MessageError("elements", "unknown element name")
        elements[known[name]] = returned.text(name, empty=True)
    top.raw("text")
    response = VerificationResponse(top.text("request_id", pattern=_REQUEST_ID), outcome, elements)
    top.done()
    return response


def parse_return_request(obj: object) -> ReturnRequest:
    """Validate a data-balikan request."""
    top = Reader(obj, error=MessageError)
    nik = _nik(top)  # fields read in name order, as in the others
    replay_key = _replay_key(top)
    request = ReturnRequest(
        request_id=top.text("request_id", pattern=_REQUEST_ID),
        nik=nik,
        return_number=top.text("return_number", pattern=_IDENT),
        replay_key=replay_key,
    )
    top.done()
    return request


_REASON = re.compile(r"^[A-Z_]{1,32}\Z")


def parse_return_response(obj: object) -> ReturnResponse:
    """Validate the gateway's answer to data balikan."""
    top = Reader(obj, error=MessageError)
    reason = top.raw("reason", None)
    response = ReturnResponse(
        top.text("request_id", pattern=_REQUEST_ID),
        top.boolean("accepted"),
        None if reason is None else top.text("reason", pattern=_REASON),
    )
    top.done()
    return response
