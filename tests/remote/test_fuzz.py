"""Property tests: mutated signed documents are never accepted; every parser of untrusted input
raises only its own error. Example counts come from the hypothesis profile (`make fuzz`: long)."""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.uplink.remote_control import RemoteControl, VerdictKind
from edge_agent.uplink.statefile import StateFile, StateFileError, parse_state
from protocol.mqtt import (
    PayloadError,
    TopicError,
    parse_ack,
    parse_health,
    parse_reported,
    parse_topic,
    parse_usage,
)
from protocol.mqtt import (
    parse_state as parse_state_message,
)
from protocol.signed import (
    Command,
    CommandName,
    DesiredState,
    KioskState,
    Sanction,
    SignedDocumentError,
    sign_document,
    verify_document,
)
from tests.remote.keys import ADMIN, KEYS

pytestmark = pytest.mark.fuzz
T0 = 1_767_225_600
DEVICE = "KIOSK-A1"

desired_bodies = st.builds(
    DesiredState,
    device=st.just(DEVICE),
    version=st.integers(1, 2**40),
    state=st.sampled_from(KioskState),
    reason=st.text(
        st.characters(codec="utf-8", categories=("L", "N", "P"), include_characters=" "),
        max_size=40,
    ),
    sanctions=st.sets(st.sampled_from(Sanction)).map(
        lambda s: tuple(sorted(s, key=lambda x: x.value))
    ),
    issued_at=st.integers(T0 - 10**6, T0),
    issuer=st.from_regex(r"[A-Za-z0-9._:-]{1,16}", fullmatch=True),
)
command_bodies = st.builds(
    Command,
    device=st.just(DEVICE),
    nonce=st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    command=st.sampled_from(CommandName),
    issued_at=st.integers(T0 - 100, T0),
    expires_at=st.integers(T0 + 1, T0 + 3600),
    issuer=st.just("adm"),
)
bodies = st.one_of(desired_bodies, command_bodies)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[DesiredState | Command, bytes]:
    """A signed document and a mutation of it."""
    body = draw(bodies)
    raw = sign_document(body, ADMIN)
    kind = draw(st.sampled_from(["bits", "splice", "body", "sig", "envelope"]))
    if kind == "bits":
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return body, bytes(data)
    if kind == "splice":
        i = draw(st.integers(0, len(raw)))
        j = draw(st.integers(i, min(len(raw), i + 8)))
        return body, raw[:i] + draw(st.binary(max_size=8)) + raw[j:]
    env = json.loads(raw)
    if kind == "body":
        obj = json.loads(base64.urlsafe_b64decode(env["body"] + "=="))
        key = draw(st.sampled_from(sorted(obj)))
        obj[key] = draw(
            st.one_of(st.integers(-(2**60), 2**60), st.text(max_size=10), st.booleans(), st.none())
        )
        text = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        env["body"] = base64.urlsafe_b64encode(text).rstrip(b"=").decode()
    elif kind == "sig":
        other = sign_document(draw(bodies), ADMIN)
        env["sig"] = json.loads(other)["sig"]
    else:
        env[draw(st.sampled_from(["alg", "kid", "body", "sig", "x"]))] = draw(
            st.one_of(st.text(max_size=20), st.integers(), st.none(), st.lists(st.integers()))
        )
    return body, json.dumps(env).encode()


@given(mutations())
def test_mutated_documents_are_never_accepted(case: tuple[Any, bytes]) -> None:
    original, raw = case
    try:
        doc = verify_document(raw, KEYS)
    except SignedDocumentError:
        return
    # Only a change outside the signed bytes (envelope spacing, key order) may pass, and then
    # the body is exactly the one the admin signed.
    assert doc.body == original


_FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-remote-"))
_CONTROL = RemoteControl(DEVICE, KEYS, StateFile(_FOLDER / "state.json"), wall=lambda: T0)
_APPLIED = sign_document(
    DesiredState(DEVICE, 2**41, KioskState.DEACTIVATED, "x", (), T0, "adm"), ADMIN
)
assert _CONTROL.desired(_APPLIED).kind is VerdictKind.APPLIED


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_a_kiosk_never_applies_a_mutated_document(case: tuple[Any, bytes]) -> None:
    _, raw = case
    before = _CONTROL.state
    assert _CONTROL.desired(raw).kind is not VerdictKind.APPLIED  # versions are below 2**41
    verdict = _CONTROL.command("0" * 32, raw)  # a nonce no mutation carries
    assert verdict.kind is not VerdictKind.APPLIED
    assert _CONTROL.state.version == before.version


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=20,
)


@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_payload_parsers_raise_only_payload_errors(raw: bytes) -> None:
    for parse in (parse_state_message, parse_health, parse_usage, parse_reported, parse_ack):
        with contextlib.suppress(PayloadError):
            parse(raw)


@given(st.text(max_size=120))
def test_topic_parser_raises_only_topic_errors(text: str) -> None:
    try:
        ref = parse_topic(text)
    except TopicError:
        return
    assert text.startswith("kiosk/v1/" + ref.device + "/")


@given(st.one_of(st.binary(max_size=400), json_values.map(lambda v: json.dumps(v).encode())))
def test_state_file_parser_raises_only_its_error(raw: bytes) -> None:
    with contextlib.suppress(StateFileError):
        parse_state(raw)
