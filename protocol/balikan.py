"""Data balikan: the kiosk ↔ institution service contract and what the citizen is shown.

After a FOUND answer the kiosk hands the permitted data elements to the institution's own
service (HTTPS with client certificates, on the closed network), which answers with its own
number for the person (a library member number, a licence number):

- `POST /v1/members` `{"request_id": <32 hex>, "elements": {<element name>: <text>, ...}}`
- `200 {"request_id": <the same>, "number": <1 to 64 of A-Z a-z 0-9 . _ : ->}`: the number;
- `422 {"error": {"code": <A-Z_>, "message": ...}}`: the institution refuses to give one;
- anything else (another status, a malformed body, no answer in time) is a failure of the service.

The kiosk then sends NIK and number to the gateway's returns route, within the same session.
Personal data travels only in the request body; the parsers name a field, never its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocol.elements import DataElement
from protocol.messages import MessageError
from protocol.strict import Reader

MEMBERS_PATH = "/v1/members"
REFUSED_STATUS = 422
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}\Z")
NUMBER = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")  # what the gateway's returns route accepts
_CODE = re.compile(r"^[A-Z][A-Z_]{0,31}\Z")
_ELEMENTS = {e.value: e for e in DataElement}


@dataclass(frozen=True, slots=True)
class MemberRequest:
    """What the kiosk hands to the institution. Holds personal data: never log or persist it."""

    request_id: str
    elements: dict[DataElement, str]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this request."""
        return {
            "request_id": self.request_id,
            "elements": {e.value: v for e, v in self.elements.items()},
        }

    def __repr__(self) -> str:
        return f"MemberRequest(request_id={self.request_id!r}, elements=<{len(self.elements)}>)"


@dataclass(frozen=True, slots=True)
class MemberAnswer:
    """The institution's number for the person."""

    request_id: str
    number: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this answer."""
        return {"request_id": self.request_id, "number": self.number}


def parse_member_request(obj: object) -> MemberRequest:
    """Validate the kiosk's request (the institution's side)."""
    top = Reader(obj, error=MessageError)
    given = top.nested("elements")
    elements: dict[DataElement, str] = {}
    for name in given.names():
        if name not in _ELEMENTS:
            raise MessageError("elements", "unknown element name")
        elements[_ELEMENTS[name]] = given.text(name, empty=True)
    given.done()
    if not elements:
        raise MessageError("elements", "must not be empty")
    request = MemberRequest(top.text("request_id", pattern=_REQUEST_ID), elements)
    top.done()
    return request


def parse_member_answer(obj: object) -> MemberAnswer:
    """Validate the institution's answer (the kiosk's side)."""
    top = Reader(obj, error=MessageError)
    answer = MemberAnswer(
        top.text("request_id", pattern=_REQUEST_ID), top.text("number", pattern=NUMBER)
    )
    top.done()
    return answer


def refusal_code(obj: object) -> str:
    """The code of a 422 refusal body, or MessageError."""
    top = Reader(obj, error=MessageError)
    err = top.nested("error")
    code = err.text("code", pattern=_CODE)
    err.text("message", "", empty=True)
    err.done()
    top.done()
    return code


@dataclass(frozen=True, slots=True)
class BalikanInfo:
    """The citizen's texts of one data balikan outcome, Indonesian and English."""

    text_id: str
    text_en: str
    hint_id: str
    hint_en: str
    number_shown: bool  # the institution gave a number and the page shows it


class BalikanOutcome(Enum):
    """How the data balikan of one FOUND session ended: what the result screen adds."""

    RETURNED = "RETURNED"  # the institution's number, returned to Dukcapil through the gateway
    RETURN_NOT_SENT = "RETURN_NOT_SENT"  # the number, but the gateway refused or did not answer
    INSTITUTION_UNAVAILABLE = "INSTITUTION_UNAVAILABLE"  # down, slow, or a malformed answer
    INSTITUTION_REFUSED = "INSTITUTION_REFUSED"  # the institution's service refused

    @property
    def info(self) -> BalikanInfo:
        """Texts and flags of this outcome."""
        return _INFO[self]


_STAFF_ID = "Silakan hubungi petugas layanan."
_STAFF_EN = "Please contact the service desk staff."

_INFO: dict[BalikanOutcome, BalikanInfo] = {
    BalikanOutcome.RETURNED: BalikanInfo(
        "Nomor Anda dari instansi",
        "Your number from the institution",
        "Catat nomor ini; nomor ini juga sudah dilaporkan ke Dukcapil.",
        "Write this number down; it has also been reported to Dukcapil.",
        number_shown=True,
    ),
    BalikanOutcome.RETURN_NOT_SENT: BalikanInfo(
        "Nomor Anda dari instansi",
        "Your number from the institution",
        "Catat nomor ini. Laporan data balikan ke Dukcapil belum berhasil; " + _STAFF_ID,
        "Write this number down. The return to Dukcapil did not go through; " + _STAFF_EN,
        number_shown=True,
    ),
    BalikanOutcome.INSTITUTION_UNAVAILABLE: BalikanInfo(
        "Layanan instansi sedang tidak tersedia",
        "The institution's service is unavailable",
        "Data Anda sudah terverifikasi. Nomor dari instansi belum dapat diberikan; " + _STAFF_ID,
        "Your data is verified. The institution could not give you a number yet; " + _STAFF_EN,
        number_shown=False,
    ),
    BalikanOutcome.INSTITUTION_REFUSED: BalikanInfo(
        "Instansi tidak memberikan nomor",
        "The institution did not give a number",
        "Data Anda sudah terverifikasi. " + _STAFF_ID,
        "Your data is verified. " + _STAFF_EN,
        number_shown=False,
    ),
}
