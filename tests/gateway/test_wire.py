"""The gateway's quick message paths equal the protocol module's strict ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.wire import decode_json, parse_verification, valid_nik, verification_body
from protocol.elements import DataElement
from protocol.messages import (
    MessageError,
    VerificationResponse,
    decode_body,
    encode_body,
    parse_verification_request,
)
from protocol.nik import is_valid_nik
from protocol.outcomes import Outcome
from protocol.regions import PROVINCES


@pytest.mark.parametrize("outcome", list(Outcome))
def test_bodies_equal_the_protocol_encoding(outcome: Outcome) -> None:
    elements = {DataElement.FULL_NAME: 'NAMA "É" \u2028/\\', DataElement.RT: "003"}
    ours = verification_body(
        "ab" * 16,
        outcome,
        {e.value: v for e, v in elements.items()} if outcome.info.data_returned else {},
    )
    theirs = encode_body(
        VerificationResponse(
            "ab" * 16, outcome, elements if outcome.info.data_returned else {}
        ).to_json()
    )
    assert ours == theirs


def _verdict(fn: Any, arg: Any) -> Any:
    try:
        return ("ok", fn(arg))
    except MessageError as err:
        return ("error", err.field)


ident = st.sampled_from(["RDR-1", "a" * 64, "a" * 65, "", "x y", "SAM:1.2_3", "é"])
near_valid = st.fixed_dictionaries(
    {
        "request_id": st.sampled_from(["ab" * 16, "AB" * 16, "ab" * 15, "ab" * 16 + "\n", 5]),
        "nik": st.sampled_from(["3304014508920003", "330401450892000", "3304014508920003\n", 1]),
        "match": st.fixed_dictionaries(
            {
                "finger": st.sampled_from(["right_index", "left_index", "thumb", None]),
                "score": st.sampled_from([0, 65535, 65536, -1, True, 1.0, "1"]),
                "tries": st.sampled_from([1, 3, 0, 4, False]),
            },
            optional={"extra": st.just(1)},
        )
        | st.sampled_from([None, [], "x"]),
        "reader": st.fixed_dictionaries({"reader_id": ident, "sam_id": ident})
        | st.just({"reader_id": "R"}),
    },
    optional={"extra": st.just(0)},
)


@pytest.mark.fuzz
@given(near_valid)
def test_fuzz_quick_parse_equals_strict_parse(obj: dict[str, Any]) -> None:
    assert _verdict(parse_verification, obj) == _verdict(parse_verification_request, obj)


@pytest.mark.fuzz
@given(st.one_of(st.binary(max_size=64), near_valid.map(lambda o: json.dumps(o).encode())))
def test_fuzz_decode_json_agrees_with_decode_body(raw: bytes) -> None:
    ours, theirs = _verdict(decode_json, raw), _verdict(decode_body, raw)
    if ours[0] == "ok":
        assert ours == theirs
    else:  # orjson is stricter (NaN, lone surrogates): still the same error shape
        assert ours == ("error", "body")


def test_decode_json_limits() -> None:
    with pytest.raises(MessageError, match="larger than"):
        decode_json(b" " * 16385)
    with pytest.raises(MessageError, match="must be a JSON object"):
        decode_json(b"[]")


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


nik_like = st.one_of(
    st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(sorted(PROVINCES)) | _two(0, 99),
        _two(0, 3),
        _two(0, 3),
        _two(0, 99),
        _two(0, 13),
        _two(0, 99),
        st.sampled_from(["0000", "0001", "9999"]),
    ),
    st.text(alphabet="0123456789\u0661x", min_size=14, max_size=17),
)


@pytest.mark.parametrize(
    "nik",
    ["3304014508920003", "3304012902000001", "3304016902010001", "3304013102920001", "0" * 16],
)
def test_valid_nik_golden(nik: str) -> None:
    assert valid_nik(nik) == is_valid_nik(nik)


@pytest.mark.fuzz
@given(nik_like)
def test_fuzz_valid_nik_equals_is_valid_nik(nik: str) -> None:
    assert valid_nik(nik) == is_valid_nik(nik)
