"""Untrusted input the agent parses turns into one domain error (or is ignored), never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.config import parse_config
from edge_agent.errors import ConfigError
from edge_agent.session.gateway_link import _error_code, _parse_answer, _Unavailable
from edge_agent.ui.server import UiServer

RID = "0123456789abcdef0123456789abcdef"

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_answer_like = st.fixed_dictionaries(
    {},
    optional={
        "request_id": st.one_of(st.just(RID), st.text(max_size=40)),
        "outcome": st.one_of(st.sampled_from(["FOUND", "NOT_FOUND", "x"]), _scalars),
        "text": _json,
        "elements": st.one_of(
            st.dictionaries(st.sampled_from(["nama_lengkap", "rt", "nik", "zz"]), _scalars), _json
        ),
        "error": _json,
    },
)


class _Control:
    def select_finger(self, finger: Any) -> bool:
        return True

    def cancel(self) -> bool:
        return True


@pytest.mark.fuzz
@given(
    status=st.integers(100, 599),
    raw=st.one_of(st.binary(max_size=300), _answer_like.map(lambda d: json.dumps(d).encode())),
)
def test_gateway_answers_parse_or_are_unavailable(status: int, raw: bytes) -> None:
    try:
        answer = _parse_answer(status, raw, RID)
    except _Unavailable:
        return
    assert status == 200 and answer.request_id == RID


@pytest.mark.fuzz
@given(
    raw=st.one_of(st.binary(max_size=200), _json.map(lambda v: json.dumps({"error": v}).encode()))
)
def test_error_codes_never_echo_data(raw: bytes) -> None:
    code = _error_code(raw)
    assert code.replace("_", "").replace(" ", "").isalpha()


@pytest.mark.fuzz
@given(text=st.one_of(st.text(max_size=200), _json.map(json.dumps)))
def test_page_commands_never_raise(text: str) -> None:
    server = UiServer(control=_Control())
    server._command(text)


_sections = st.dictionaries(
    st.sampled_from(
        [
            "device",
            "reader",
            "gateway",
            "timeouts",
            "ui",
            "session",
            "log",
            "indicators",
            "fingerprint",
            "x",
        ]
    ),
    st.one_of(
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "reader_id",
                    "sam_id",
                    "url",
                    "ca_file",
                    "cert_file",
                    "key_file",
                    "port",
                    "host",
                    "card_read",
                    "level",
                    "enabled",
                    "max_tries",
                    "first_finger",
                    "zz",
                ]
            ),
            _scalars,
            max_size=8,
        ),
        _scalars,
    ),
    max_size=9,
)


@pytest.mark.fuzz
@given(data=_sections)
def test_config_documents_parse_or_raise_config_error(data: dict[str, Any]) -> None:
    try:
        parse_config(data)
    except ConfigError as err:
        assert err.key
