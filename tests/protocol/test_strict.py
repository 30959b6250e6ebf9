"""protocol.strict: typed getters, the key path of every error, unknown keys refused, and no
value ever in an error message."""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Any

import pytest

from protocol.messages import MessageError, encode_replay_key, parse_verification_request
from protocol.strict import REQUIRED, Reader, StrictError

NIK = "3313061704870002"


class Colour(Enum):
    RED = "red"
    GREEN = "green"


def reader(obj: Any) -> Reader:
    return Reader(obj, "doc")


def test_typed_getters_and_defaults() -> None:
    r = reader({"s": "x", "i": 3, "f": 0.5, "b": False, "l": ["a"], "o": {"k": 1}, "c": "red"})
    assert r.text("s") == "x"
    assert r.integer("i", lo=1, hi=3) == 3
    assert r.number("f", lo=0.0, hi=1.0) == 0.5
    assert r.boolean("b") is False
    assert r.texts("l") == ["a"]
    assert r.member("c", Colour) is Colour.RED
    o = r.nested("o")
    assert o.integer("k") == 1
    o.done()
    assert r.text("absent", None) is None
    assert r.integer("absent2", 7) == 7
    assert r.nested("absent3", None) is None
    assert r.nested("absent4", {}).text("x", "d") == "d"
    r.done()


def test_an_integral_number_is_an_integer_and_a_boolean_is_not() -> None:
    r = reader({"a": 3.0, "b": True, "c": 3.5, "d": 1e300, "e": math.nan})
    value = r.integer("a")
    assert value == 3 and type(value) is int
    for key, reason in (("b", "got a boolean"), ("c", "got a number"), ("e", "got a number")):
        with pytest.raises(StrictError, match=rf"^doc\.{key}: must be an integer \({reason}\)$"):
            r.integer(key)
    with pytest.raises(StrictError, match=r"^doc.d: must be between 0 and"):
        r.integer("d")


def test_numbers_are_finite_and_in_range() -> None:
    r = reader({"inf": math.inf, "nan": math.nan, "zero": 0, "b": True})
    for key in ("inf", "nan"):
        with pytest.raises(StrictError, match="must be between"):
            r.number(key, lo=0.0, hi=10.0)
    with pytest.raises(StrictError, match="more than 0"):
        r.seconds("zero")
    with pytest.raises(StrictError, match=r"got a boolean"):
        r.number("b")


def test_errors_carry_the_key_path() -> None:
    doc = {"institutions": {"lib-01": {"quota": "many"}}, "elements": ["a", "b", 3]}
    r = Reader(doc)
    inst = r.nested("institutions").nested("lib-01")
    with pytest.raises(StrictError) as caught:
        inst.integer("quota")
    assert caught.value.path == "institutions.lib-01.quota"
    assert caught.value.reason == "must be an integer (got a string)"
    with pytest.raises(StrictError) as caught:
        r.texts("elements")
    assert caught.value.path == "elements[2]"
    with pytest.raises(StrictError, match=r"^missing: missing$"):
        r.text("missing")
    with pytest.raises(StrictError, match=r"^document: must be a table/object"):
        Reader([])


def test_unknown_keys_are_refused_and_named_only_when_they_cannot_carry_data() -> None:
    r = reader({"known": 1, "colour": 2})
    r.integer("known")
    with pytest.raises(StrictError, match=r"^doc.colour: unknown key; known: known$"):
        r.done()
    r = reader({NIK: 1})
    with pytest.raises(StrictError) as caught:
        r.done()
    assert caught.value.path == "doc.<field>" and NIK not in str(caught.value)


@pytest.mark.parametrize("value", [NIK, 3313061704870002, [NIK], {"nik": NIK}, NIK + ".5", True])
def test_no_value_is_ever_in_a_message(value: Any) -> None:
    r = reader({"k": value})
    getters = (
        lambda: r.text("k", pattern=re.compile("^x$")),
        lambda: r.integer("k", hi=10),
        lambda: r.number("k", hi=10.0),
        lambda: r.boolean("k"),
        lambda: r.choice("k", ("a", "b")),
        lambda: r.member("k", Colour),
        lambda: r.texts("k", pattern=re.compile("^x$")),
        lambda: r.nested("k").done(),
        lambda: r.items("k"),
    )
    refused = 0
    for get in getters:
        try:
            get()
        except StrictError as err:
            refused += 1
            assert NIK not in str(err)
    assert refused >= len(getters) - 1


def test_the_error_factory_makes_the_callers_error() -> None:
    r = Reader({"a": "x"}, "top", MessageError)
    with pytest.raises(MessageError) as caught:
        r.integer("a")
    assert caught.value.field == "top.a" and isinstance(caught.value, StrictError)
    assert REQUIRED is not None


def test_score_and_tries_may_be_integral_numbers() -> None:
    """The OpenAPI file says integer: a schema-valid 3.0 is one (JSON Schema's rule)."""
    body = {
        "request_id": "0123456789abcdef0123456789abcdef",
        "nik": NIK,
        "match": {"finger": "right_index", "score": 120.0, "tries": 1.0},
        "reader": {"reader_id": "RDR-0001", "sam_id": "SAM-0001"},
        "replay_key": encode_replay_key(bytes(32)),
    }
    request = parse_verification_request(body)
    assert (request.match.score, request.match.tries) == (120, 1)
    assert type(request.match.score) is int
