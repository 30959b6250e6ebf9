"""Strict parsers of the Dukcapil HTTP API's answers (untrusted input). Pure: no I/O.

Anything malformed becomes UpstreamError("garbage"); messages never quote the body.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import UpstreamError
from gateway.upstream.base import PARAMETER_CHECKS, UPSTREAM_OUTCOMES, ReturnAnswer, UpstreamAnswer
from protocol.elements import DataElement
from protocol.outcomes import Outcome

_OUTCOMES = {o.value: o for o in UPSTREAM_OUTCOMES}
_ELEMENT_NAMES = frozenset(e.value for e in DataElement)
MAX_TOKEN = 512
MAX_ELEMENT = 1024
_STR = {str}


class TokenRefused:
    """The upstream refused the login token (HTTP 401): log in again."""


TOKEN_REFUSED = TokenRefused()


def _json_object(status: int, body: bytes) -> dict[str, Any]:
    if status != 200:
        raise UpstreamError("status", f"HTTP {status}")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise UpstreamError("garbage", "body is not JSON") from err
    if type(obj) is not dict:
        raise UpstreamError("garbage", "body is not a JSON object")
    return obj


def _code(obj: dict[str, Any]) -> str:
    code = obj.get("code")
    if not isinstance(code, str):
        raise UpstreamError("garbage", "no answer code")
    return code


def parse_login_answer(status: int, body: bytes) -> str | Outcome:
    """A login token, or the parameter-check outcome that refused the login."""
    obj = _json_object(status, body)
    code = _code(obj)
    if code == "OK":
        token = obj.get("token")
        if (
            not isinstance(token, str)
            or not 0 < len(token) <= MAX_TOKEN
            or not token.isascii()
            or not token.isprintable()
            or " " in token
        ):
            raise UpstreamError("garbage", "login answer without a usable token")
        return token
    outcome = _OUTCOMES.get(code)
    if outcome not in PARAMETER_CHECKS:
        raise UpstreamError("garbage", "unexpected login answer code")
    assert outcome is not None
    return outcome


def parse_verify_answer(status: int, body: bytes) -> UpstreamAnswer | TokenRefused:
    """The outcome of a NIK query and, when found, the known data elements of the record."""
    if status == 401:
        return TOKEN_REFUSED
    obj = _json_object(status, body)
    outcome = _OUTCOMES.get(_code(obj))
    if outcome is None:
        raise UpstreamError("garbage", "unknown answer code")
    data = obj.get("data")
    if not outcome.info.data_returned or data is None:
        return UpstreamAnswer(outcome)
    if not isinstance(data, dict):
        raise UpstreamError("garbage", "data is not an object")
    # Names that are not a data element any PKS can list are dropped here already.
    record = {name: value for name, value in data.items() if name in _ELEMENT_NAMES}
    values = record.values()
    if values and ({type(v) for v in values} != _STR or max(map(len, values)) > MAX_ELEMENT):
        raise UpstreamError("garbage", "a data element is not a short string")
    return UpstreamAnswer(outcome, record)


def parse_return_answer(status: int, body: bytes) -> ReturnAnswer | Outcome | TokenRefused:
    """Accepted, rejected (with a reason code), or a parameter-check outcome."""
    if status == 401:
        return TOKEN_REFUSED
    obj = _json_object(status, body)
    code = _code(obj)
    if code == "ACCEPTED":
        return ReturnAnswer(True)
    if code == "REJECTED":
        return ReturnAnswer(False, "REJECTED")
    outcome = _OUTCOMES.get(code)
    if outcome not in PARAMETER_CHECKS:
        raise UpstreamError("garbage", "unexpected return answer code")
    assert outcome is not None
    return outcome
