"""The HTTP/1.1 codec of the device hot path: a strict request-head reader and the answer bytes.

Pure: no I/O. `read_request` accepts only the plain, well-formed form of the two device POSTs
(exact request line, token header names, one decimal Content-Length of at most 16 KB,
`Content-Type: application/json`, no transfer or content coding, no Expect, Upgrade or
Connection other than keep-alive) and answers HAND_OVER for anything else, so the connection
goes to the general aiohttp server, which applies its own rules and error answers from that
request on. Any input gives a LeanRequest, MORE or HAND_OVER; nothing raises.
"""

from __future__ import annotations

import re
import time
from enum import Enum
from http import HTTPStatus
from typing import NamedTuple

from protocol.messages import MAX_BODY_BYTES

MAX_HEAD_BYTES = 8 * 1024
MAX_HEADERS = 32
VERIFY = "/v1/verifications"
RETURNS = "/v1/returns"
_ENDPOINTS = {b"/v1/verifications": VERIFY, b"/v1/returns": RETURNS}
_REQUEST_LINES = frozenset(b"POST %s HTTP/1.1\r\n" % path for path in _ENDPOINTS)
# The request line and up to MAX_HEADERS header lines of token names and visible values.
_HEAD = re.compile(
    rb"POST (/v1/verifications|/v1/returns) HTTP/1\.1\r\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n){0,"
    + str(MAX_HEADERS).encode()
    + rb"})\r\n"
)
_DIGITS = re.compile(rb"[0-9]{1,5}")
# Headers that change how aiohttp would read the request or the connection: the lean path
# leaves such requests to it.
_NOT_LEAN = (b"\r\ntransfer-encoding:", b"\r\ncontent-encoding:", b"\r\nexpect:", b"\r\nupgrade:")


class Verdict(Enum):
    """What to do when no complete lean request could be read."""

    MORE = "more"  # a lean request so far: wait for more bytes
    HAND_OVER = "hand_over"  # not a lean request: the general server takes the connection


class LeanRequest(NamedTuple):
    """One complete device request: endpoint path, body, and the bytes it took in the buffer."""

    endpoint: str
    body: bytes
    size: int


def read_request(buf: bytes) -> LeanRequest | Verdict:
    """The lean request at the start of `buf`, MORE, or HAND_OVER."""
    m = _HEAD.match(buf)
    if m is None:
        # Not (yet) a lean head: wait only while it may still become one.
        window = buf[: MAX_HEAD_BYTES + 4]
        line_end = window.find(b"\n")
        if (
            (line_end >= 0 and window[: line_end + 1] not in _REQUEST_LINES)
            or b"\n\r\n" in window
            or b"\n\n" in window
            or len(buf) > MAX_HEAD_BYTES
        ):
            return Verdict.HAND_OVER
        return Verdict.MORE
    head_end = m.end()
    if head_end > MAX_HEAD_BYTES + 4:
        return Verdict.HAND_OVER
    # Every line of `fields` is `name:value` with no CR or LF inside, so "\r\nname:" finds
    # exactly the header lines of that name.
    fields = b"\r\n" + m.group(2).lower()
    length = _single(fields, b"\r\ncontent-length:")
    if length is None or not _DIGITS.fullmatch(length):
        return Verdict.HAND_OVER
    if _single(fields, b"\r\ncontent-type:") != b"application/json":
        return Verdict.HAND_OVER
    if b"\r\nconnection:" in fields and _single(fields, b"\r\nconnection:") != b"keep-alive":
        return Verdict.HAND_OVER
    for name in _NOT_LEAN:
        if name in fields:
            return Verdict.HAND_OVER
    size = head_end + int(length)
    if size - head_end > MAX_BODY_BYTES:
        return Verdict.HAND_OVER
    if len(buf) < size:
        return Verdict.MORE
    return LeanRequest(_ENDPOINTS[m.group(1)], buf[head_end:size], size)


class RequestReader:
    """`read_request` that remembers the heads it accepted (a kiosk sends the same head each time).

    The verdict on a head depends on the head's bytes alone, so a known head is not parsed again.
    """

    __slots__ = ("_known", "_size")

    def __init__(self, size: int = 1024) -> None:
        self._known: dict[bytes, tuple[str, int]] = {}  # head → endpoint, body length
        self._size = size

    def read(self, buf: bytes) -> LeanRequest | Verdict:
        """The same answer as `read_request(buf)`."""
        end = buf.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4) + 4
        known = self._known.get(buf[:end]) if end >= 4 else None
        if known is None:
            got = read_request(buf)
            if type(got) is LeanRequest:
                if len(self._known) >= self._size:
                    self._known.clear()
                self._known[buf[: got.size - len(got.body)]] = (got.endpoint, len(got.body))
            return got
        endpoint, length = known
        size = end + length
        if len(buf) < size:
            return Verdict.MORE
        return LeanRequest(endpoint, buf[end:size], size)


def _single(fields: bytes, name: bytes) -> bytes | None:
    """The value of the one header line `name` (lowercase, CRLF first), None if not just one."""
    at = fields.find(name)
    if at < 0 or fields.find(name, at + 1) >= 0:
        return None
    start = at + len(name)
    return fields[start : fields.index(b"\r\n", start)].strip(b" \t")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(second: int) -> bytes:
    """An IMF-fixdate (`Tue, 24 Nov 2026 00:16:48 GMT`) of a Unix time."""
    t = time.gmtime(second)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    ).encode()


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


_HEADS = {
    s: _status_line(s)
    + b"Content-Type: application/json\r\nServer: kiosk-gateway\r\nContent-Length: "
    for s in range(100, 600)
}


class AnswerWriter:
    """Builds whole answers (head and body, one buffer), with the same headers as aiohttp's."""

    __slots__ = ("_date", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._date = b""

    def answer(self, status: int, body: bytes) -> bytes:
        """The answer bytes of a JSON body; `status` is 100..599."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._date = http_date(second)
        return b"%s%d\r\nDate: %s\r\n\r\n%s" % (_HEADS[status], len(body), self._date, body)
