"""The upstream client's HTTP/1.1 codec: golden vectors and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.upstream.http11 import (
    HttpParseError,
    ResponseParser,
    build_request,
    request_head,
)


def parse(*chunks: bytes, eof: bool = False) -> ResponseParser:
    p = ResponseParser()
    for c in chunks:
        p.feed(c)
    if eof:
        p.feed_eof()
    return p


def test_request_bytes() -> None:
    head = request_head("POST", "/api/v1/nik", "10.0.0.1:8080")
    assert build_request(head, b"Authorization: Bearer t\r\n", b'{"a":1}') == (
        b"POST /api/v1/nik HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer t\r\nContent-Length: 7\r\n\r\n" + b'{"a":1}'
    )
    with pytest.raises(ValueError):
        request_head("POST", "/a b", "h")


GOLDEN = [
    (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        200,
        b"{}",
        True,
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"a"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n',
        200,
        b'{"a":1}',
        True,
    ),
    (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        503,
        b"",
        False,
    ),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 1\r\n\r\nx", 200, b"x", True),
    (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
]


@pytest.mark.parametrize(("raw", "status", "body", "keep_alive"), GOLDEN)
def test_golden_whole_and_byte_by_byte(
    raw: bytes, status: int, body: bytes, keep_alive: bool
) -> None:
    for p in (parse(raw), parse(*(raw[i : i + 1] for i in range(len(raw))))):
        assert (p.done, p.status, p.body, p.keep_alive) == (True, status, body, keep_alive)


def test_body_until_close() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\n\r\nhello ", b"world")
    assert not p.done
    p.feed_eof()
    assert (p.done, p.body, p.keep_alive) == (True, b"hello world", False)


MALFORMED = [
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 20000,
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed(raw: bytes) -> None:
    with pytest.raises(HttpParseError):
        parse(raw, eof=True)


def test_truncated_response_fails_at_eof() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    with pytest.raises(HttpParseError):
        p.feed_eof()


def _outcome(chunks: list[bytes]) -> tuple[str, int, bytes] | str:
    p = ResponseParser()
    try:
        for c in chunks:
            p.feed(c)
        if not p.done:
            p.feed_eof()
    except HttpParseError:
        return "error"
    return ("done", p.status, p.body)


@pytest.mark.fuzz
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_fuzz_only_parse_errors_and_split_invariance(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert _outcome(chunks) == _outcome([data])


@pytest.mark.fuzz
@given(
    st.sampled_from([g[0] for g in GOLDEN]),
    st.integers(0, 300),
    st.binary(min_size=1, max_size=4),
)
def test_fuzz_mutated_golden(raw: bytes, at: int, junk: bytes) -> None:
    at = min(at, len(raw))
    _outcome([raw[:at] + junk + raw[at:]])  # only HttpParseError may escape: none does
