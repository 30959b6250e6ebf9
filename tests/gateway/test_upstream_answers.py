"""Parsers of the Dukcapil API's answers: golden vectors and fuzzing (UpstreamError only)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import UpstreamError
from gateway.upstream.base import ReturnAnswer
from gateway.upstream.dukcapil_parsers import (
    TOKEN_REFUSED,
    parse_login_answer,
    parse_return_answer,
    parse_verify_answer,
)
from protocol.outcomes import Outcome


def j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_verify_answers() -> None:
    found = parse_verify_answer(
        200,
        j({"code": "FOUND", "message": "Data Ditemukan", "data": {"nik": "3304", "agama": "x"}}),
    )
    assert found.outcome is Outcome.FOUND  # type: ignore[union-attr]
    assert found.record == {"nik": "3304"}  # type: ignore[union-attr]
    assert "3304" not in repr(found)
    absent = parse_verify_answer(200, j({"code": "NOT_FOUND", "data": {"nik": "1"}}))
    assert absent.record == {}  # type: ignore[union-attr]
    assert parse_verify_answer(401, b"") is TOKEN_REFUSED


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (500, b"oops", "status"),
        (200, b"\x00\xff", "garbage"),
        (200, j([1]), "garbage"),
        (200, j({"message": "x"}), "garbage"),
        (200, j({"code": "FINGER_MISMATCH"}), "garbage"),
        (200, j({"code": "FOUND", "data": ["x"]}), "garbage"),
        (200, j({"code": "FOUND", "data": {"nik": 3304}}), "garbage"),
    ],
)
def test_verify_failures(status: int, body: bytes, kind: str) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_verify_answer(status, body)
    assert info.value.kind == kind


def test_login_and_return_answers() -> None:
    assert parse_login_answer(200, j({"code": "OK", "token": "abc"})) == "abc"
    assert parse_login_answer(200, j({"code": "LOGIN_FAILED"})) is Outcome.LOGIN_FAILED
    for bad in ({"code": "OK"}, {"code": "OK", "token": "a b"}, {"code": "FOUND"}):
        with pytest.raises(UpstreamError):
            parse_login_answer(200, j(bad))
    assert parse_return_answer(200, j({"code": "ACCEPTED"})) == ReturnAnswer(True)
    assert parse_return_answer(200, j({"code": "REJECTED"})) == ReturnAnswer(False, "REJECTED")
    assert parse_return_answer(200, j({"code": "USER_INACTIVE"})) is Outcome.USER_INACTIVE


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
answers = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from([o.value for o in Outcome] + ["OK", "ACCEPTED", "REJECTED", ""]),
        "token": json_values,
        "message": json_values,
        "data": json_values
        | st.dictionaries(st.sampled_from(["nik", "nama_lengkap", "x"]), json_values),
    },
)


@pytest.mark.fuzz
@given(st.sampled_from([200, 401, 500]), st.one_of(st.binary(max_size=64), answers.map(j)))
def test_fuzz_answers_raise_only_upstream_errors(status: int, body: bytes) -> None:
    for parser in (parse_login_answer, parse_verify_answer, parse_return_answer):
        with contextlib.suppress(UpstreamError):
            parser(status, body)
