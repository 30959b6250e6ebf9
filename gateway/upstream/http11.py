"""A minimal HTTP/1.1 codec for the upstream client: request bytes out, an incremental response
parser in. Pure: no I/O. Any malformed response raises HttpParseError, nothing else.
"""

from __future__ import annotations

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
_MAX_HEADERS = 100


def build_request(head: bytes, extra_headers: bytes, body: bytes) -> bytes:
    """One request: a prebuilt head (request line, Host, Content-Type), extra header lines
    (each ending in CRLF), Content-Length and the body."""
    return b"%s%sContent-Length: %d\r\n\r\n%s" % (head, extra_headers, len(body), body)


def request_head(method: str, path: str, host: str) -> bytes:
    """The constant part of a JSON request to one path."""
    for text in (method, path, host):
        if any(c in text for c in "\r\n ") or not text.isascii():
            raise ValueError("method, path and host must be ASCII without spaces or line breaks")
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    ).encode()


class HttpParseError(ValueError):
    """A response that does not follow HTTP/1.1 (as far as this client needs it)."""


class ResponseParser:
    """Feed bytes as they arrive; `done` turns true once one whole response is in.

    Bodies are delimited by Content-Length, chunked transfer coding, or the end of the
    connection. `keep_alive` says whether the connection may carry another request.
    """

    __slots__ = (
        "_buf",
        "_chunk_left",
        "_chunks",
        "_mode",
        "_state",
        "body",
        "done",
        "keep_alive",
        "status",
    )

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = 0  # 0 head, 1 body by length, 2 chunk size, 3 chunk data, 4 trailers, 5 eof
        self._mode = ""
        self._chunk_left = 0
        self._chunks: list[bytes] = []
        self.status = 0
        self.body = b""
        self.done = False
        self.keep_alive = True

    @property
    def started(self) -> bool:
        """Some bytes of the response arrived."""
        return bool(self._buf) or self._state != 0 or self.done

    def feed(self, data: bytes) -> None:
        """Take more bytes; raises HttpParseError on malformed input or extra bytes."""
        if self.done:
            if data:
                raise HttpParseError("bytes after the end of the response")
            return
        if self._state == 0 and not self._buf:
            # The usual case: the head starts this piece (often the whole response is in it).
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                if end > MAX_HEAD_BYTES:
                    raise HttpParseError("response head too large")
                self._take_head(data[:end])
                rest = data[end + 4 :]
                if self.done:
                    return
                if self._state == 1 and len(rest) == self._chunk_left:
                    self._finish(rest)
                    return
                data = rest
        self._buf += data
        while not self.done:
            before = (self._state, len(self._buf))
            self._step()
            if (self._state, len(self._buf)) == before:
                break

    def feed_eof(self) -> None:
        """The connection closed; completes a body delimited by the end of the connection."""
        if self.done:
            return
        if self._state == 5:
            self._finish(bytes(self._buf))
            self.keep_alive = False
            return
        raise HttpParseError("connection closed before the response was complete")

    def _step(self) -> None:
        if self._state == 0:
            self._parse_head()
        elif self._state == 1:
            if len(self._buf) >= self._chunk_left:
                if len(self._buf) > self._chunk_left:
                    raise HttpParseError("bytes after the end of the response")
                self._finish(bytes(self._buf))
        elif self._state == 2:
            self._parse_chunk_size()
        elif self._state == 3:
            if len(self._buf) >= self._chunk_left + 2:
                if self._buf[self._chunk_left : self._chunk_left + 2] != b"\r\n":
                    raise HttpParseError("chunk not followed by CRLF")
                self._chunks.append(bytes(self._buf[: self._chunk_left]))
                del self._buf[: self._chunk_left + 2]
                self._state = 2
        elif self._state == 4:
            self._parse_trailer()
        elif self._state == 5 and len(self._buf) > MAX_BODY_BYTES:
            raise HttpParseError("body too large")

    def _parse_head(self) -> None:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise HttpParseError("response head too large")
            return
        if end > MAX_HEAD_BYTES:
            raise HttpParseError("response head too large")
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        self._take_head(head)

    def _take_head(self, head: bytes) -> None:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError as err:  # pragma: no cover - latin-1 decodes anything
            raise HttpParseError("undecodable head") from err
        lines = text.split("\r\n")
        self.status, http10 = _status_line(lines[0])
        if len(lines) - 1 > _MAX_HEADERS:
            raise HttpParseError("too many headers")
        length: int | None = None
        chunked = False
        connection = ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or not name.isascii():
                raise HttpParseError("malformed header line")
            lname = name.lower()
            value = value.strip()
            if lname == "content-length":
                if not value.isdigit() or not value.isascii() or len(value) > 10:
                    raise HttpParseError("bad Content-Length")
                if length is not None and length != int(value):
                    raise HttpParseError("conflicting Content-Length")
                length = int(value)
            elif lname == "transfer-encoding":
                if value.lower() != "chunked":
                    raise HttpParseError("unsupported Transfer-Encoding")
                chunked = True
            elif lname == "connection":
                connection = value.lower()
        if chunked and length is not None:
            raise HttpParseError("both Content-Length and chunked")
        self.keep_alive = (connection == "keep-alive") if http10 else connection != "close"
        if self.status in (204, 304) or 100 <= self.status < 200:
            if self.status < 200:
                raise HttpParseError("interim responses are not expected")
            self._finish(b"")
        elif chunked:
            self._state = 2
        elif length is not None:
            if length > MAX_BODY_BYTES:
                raise HttpParseError("body too large")
            self._chunk_left = length
            self._state = 1
        else:
            self.keep_alive = False
            self._state = 5

    def _parse_chunk_size(self) -> None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > 1024:
                raise HttpParseError("chunk size line too long")
            return
        line = bytes(self._buf[:end]).split(b";", 1)[0].strip()
        del self._buf[: end + 2]
        if not line or len(line) > 8 or any(c not in b"0123456789abcdefABCDEF" for c in line):
            raise HttpParseError("bad chunk size")
        size = int(line, 16)
        if sum(len(c) for c in self._chunks) + size > MAX_BODY_BYTES:
            raise HttpParseError("body too large")
        if size == 0:
            self._state = 4
        else:
            self._chunk_left = size
            self._state = 3

    def _parse_trailer(self) -> None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise HttpParseError("trailers too large")
            return
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        if line:
            return  # a trailer field: ignored
        if self._buf:
            raise HttpParseError("bytes after the end of the response")
        self._finish(b"".join(self._chunks))

    def _finish(self, body: bytes) -> None:
        self.body = body
        self.done = True
        self._state = 6
        self._buf = bytearray()


def _status_line(line: str) -> tuple[int, bool]:
    parts = line.split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpParseError("bad status line")
    code = parts[1]
    if len(code) != 3 or not code.isdigit() or not code.isascii():
        raise HttpParseError("bad status code")
    return int(code), parts[0] == "HTTP/1.0"
