import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.elements import DataElement
from protocol.messages import (
    MessageError,
    VerificationResponse,
    decode_body,
    encode_body,
    parse_return_request,
    parse_verification_request,
    parse_verification_response,
)
from protocol.outcomes import Outcome

NIK = "3313061704870002"
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # bytes 0..31, base64url without padding


def request(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_id": "0123456789abcdef0123456789abcdef",
        "nik": NIK,
        "match": {"finger": "right_index", "score": 120, "tries": 1},
        "reader": {"reader_id": "RDR-0001", "sam_id": "SAM-0001"},
        "replay_key": KEY,
    }
    body.update(over)
    return body


def test_round_trip() -> None:
    req = parse_verification_request(request())
    assert req.to_json() == request()
    assert req.replay_key == bytes(range(32))
    assert NIK not in repr(req) and KEY not in repr(req)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (request(nik="33130617048700"), "nik"),
        (request(nik=3313061704870002), "nik"),
        (request(request_id="x"), "request_id"),
        (request(extra=1), "extra"),
        (request(**{NIK: 1}), "<field>"),
        (request(match={"finger": "thumb", "score": 1, "tries": 1}), "match.finger"),
        (request(match={"finger": "left_index", "score": 1, "tries": 4}), "match.tries"),
        (request(match={"finger": "left_index", "score": True, "tries": 1}), "match.score"),
        (request(reader=[]), "reader"),
        (request(replay_key=KEY + "="), "replay_key"),  # no padding
        (request(replay_key=KEY[:-1]), "replay_key"),  # 31.5 bytes
        (request(replay_key=KEY[:-1] + "h"), "replay_key"),  # not canonical: the last bits set
        (request(replay_key=KEY.replace("A", "+")), "replay_key"),  # base64url, not base64
        (request(replay_key=bytes(range(32)).hex()), "replay_key"),  # not hex
        (request(replay_key=None), "replay_key"),
    ],
)
def test_bad_requests_name_the_field_not_the_value(body: dict[str, Any], field: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_verification_request(body)
    assert info.value.field == field
    assert NIK not in str(info.value)


def test_missing_field() -> None:
    body = request()
    del body["reader"]
    with pytest.raises(MessageError, match="reader: missing"):
        parse_verification_request(body)
    body = request()
    del body["replay_key"]
    with pytest.raises(MessageError, match="replay_key: missing"):
        parse_verification_request(body)


def test_response_round_trip() -> None:
    resp = VerificationResponse(
        "0123456789abcdef0123456789abcdef", Outcome.FOUND, {DataElement.FULL_NAME: "X"}
    )
    wire = json.loads(encode_body(resp.to_json()))
    assert wire["text"]["id"] == "Data Ditemukan"
    assert parse_verification_response(wire) == resp
    assert "X" not in repr(resp)


def test_response_without_elements() -> None:
    resp = VerificationResponse("0123456789abcdef0123456789abcdef", Outcome.NOT_FOUND)
    assert "elements" not in resp.to_json()
    assert parse_verification_response(resp.to_json()) == resp


def test_return_request() -> None:
    body = {"request_id": "0" * 32, "nik": NIK, "return_number": "PERPUS-2026-0042"}
    with pytest.raises(MessageError, match="replay_key: missing"):
        parse_return_request(body)
    body["replay_key"] = KEY
    assert parse_return_request(body).to_json() == body


def test_decode_body_limits() -> None:
    with pytest.raises(MessageError, match="larger than"):
        decode_body(b" " * (16 * 1024 + 1))
    with pytest.raises(MessageError, match="not valid JSON"):
        decode_body(b"{")
    with pytest.raises(MessageError, match="object"):
        decode_body(b"[]")
    with pytest.raises(MessageError):
        decode_body(b"[" * 5000 + b"]" * 5000)


@pytest.mark.parametrize(
    "raw",
    [b'{"nik": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"nik": "1", "nik": "2"}'],
)
def test_decode_body_is_strict_json(raw: bytes) -> None:
    with pytest.raises(MessageError) as info:
        decode_body(raw)
    assert info.value.field == "body"


@pytest.mark.parametrize("nik", [NIK[:15], NIK + "0", NIK[:15] + "x", NIK[:15] + "\u0661"])
def test_nik_shape_is_16_ascii_digits(nik: str) -> None:
    body = {"request_id": "0" * 32, "nik": nik, "return_number": "M-1", "replay_key": KEY}
    with pytest.raises(MessageError) as info:
        parse_return_request(body)
    assert info.value.field == "nik"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@pytest.mark.fuzz
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_parsers_only_raise_message_error(raw: bytes) -> None:
    for parse in (parse_verification_request, parse_verification_response, parse_return_request):
        with contextlib.suppress(MessageError):
            parse(decode_body(raw))
