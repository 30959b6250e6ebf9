"""docs/gateway-api.yaml and protocol.messages agree: every body the schema allows is parsed,
and bodies the schema refuses (a key missing or unknown, a value of another type) are refused
with MessageError, which the gateway answers 400."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from protocol.messages import (
    MessageError,
    decode_body,
    encode_replay_key,
    parse_return_request,
    parse_verification_request,
)

SPEC = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "docs" / "gateway-api.yaml").read_text()
)
SCHEMAS = {"components": {"schemas": SPEC["components"]["schemas"]}}
PARSERS = {"VerificationRequest": parse_verification_request, "ReturnRequest": parse_return_request}
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", **SCHEMAS}


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for the schema, from the keywords the request schemas use (hypothesis-
    jsonschema 0.23 no longer runs on this Hypothesis); integers also as integral floats."""
    if "$ref" in node:
        return from_schema(SCHEMAS["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node["type"]
    if kind == "string":
        if "pattern" in node:
            return st.from_regex(
                node["pattern"].removeprefix("^").removesuffix("$"), fullmatch=True
            )
        return st.text()
    if kind == "integer":
        ints = st.integers(node.get("minimum"), node.get("maximum"))
        return ints | ints.map(float)
    if kind == "boolean":
        return st.booleans()
    assert kind == "object" and node.get("additionalProperties") is False, node
    props = node["properties"]
    required = {k: from_schema(props[k]) for k in node.get("required", [])}
    optional = {k: from_schema(v) for k, v in props.items() if k not in required}
    return st.fixed_dictionaries(required, optional=optional)


def parse(name: str, obj: Any) -> object:
    return PARSERS[name](decode_body(json.dumps(obj).encode()))


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data())
def test_what_the_schema_allows_is_parsed(name: str, data: st.DataObject) -> None:
    obj = data.draw(from_schema(schema(name)))
    parse(name, obj)


@st.composite
def negatives(draw: st.DrawFn, name: str) -> Any:
    """A valid body spoilt at one place: a key dropped or added, or a value replaced."""
    obj = draw(from_schema(schema(name)))
    target = obj
    if "match" in obj and draw(st.booleans()):
        target = obj[draw(st.sampled_from(["match", "reader"]))]
    key = draw(st.sampled_from(sorted(target)))
    how = draw(st.sampled_from(["drop", "add", "replace"]))
    if how == "drop":
        del target[key]
    elif how == "add":
        target[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in target))] = 1
    else:
        target[key] = draw(WRONG)
    return obj


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(PARSERS))
@given(data=st.data())
def test_what_the_schema_refuses_is_refused(name: str, data: st.DataObject) -> None:
    obj = data.draw(negatives(name))
    if jsonschema.Draft202012Validator(schema(name)).is_valid(obj):
        return  # the spoilt value happened to be valid (e.g. another allowed string)
    with pytest.raises(MessageError):
        parse(name, obj)


@pytest.mark.parametrize(("score", "ok"), [(3.0, True), (3, True), (3.5, False), (True, False)])
def test_integral_numbers_are_integers(score: object, ok: bool) -> None:
    body = {
        "request_id": "0123456789abcdef0123456789abcdef",
        "nik": "3304014508920003",
        "match": {"finger": "right_index", "score": score, "tries": 1.0},
        "reader": {"reader_id": "R", "sam_id": "S"},
        "replay_key": encode_replay_key(bytes(32)),
    }
    if ok:
        assert parse("VerificationRequest", body).match.score == 3  # type: ignore[attr-defined]
    else:
        with pytest.raises(MessageError):
            parse("VerificationRequest", body)


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(MessageError):
        decode_body(b'{"nik": "1", "nik": "2"}')
