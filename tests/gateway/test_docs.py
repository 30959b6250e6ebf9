"""docs/gateway-api.yaml describes what the gateway serves (text checks: no YAML parser here)."""

from __future__ import annotations

import re
from pathlib import Path

from protocol.elements import DataElement
from protocol.outcomes import Outcome
from tests.gateway.conftest import MakeGateway

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "gateway-api.yaml").read_text()


def _enum_block(name: str) -> set[str]:
    """Items of the first `enum:` list after `name:` (block style)."""
    start = SPEC.index(f"    {name}:\n")
    block = SPEC[start : SPEC.index("enum:", start) + 2000]
    return set(re.findall(r"^\s+- ([A-Z_a-z]+)$", block.split("enum:", 1)[1], re.M))


async def test_every_route_is_documented(make_gateway: MakeGateway) -> None:
    gw = await make_gateway()
    paths = {r.canonical for r in gw._runner.app.router.resources()} - {"/{tail}"}
    documented = set(re.findall(r"^  (/[^:]+):$", SPEC, re.M))
    assert paths == documented


def test_outcomes_elements_and_error_codes_are_documented() -> None:
    assert {o.value for o in Outcome} <= _enum_block("Outcome")
    assert {e.value for e in DataElement} <= _enum_block("DataElement")
    source = "\n".join(p.read_text() for p in (ROOT / "gateway").rglob("*.py"))
    codes = set(re.findall(r'error_answer\(\s*\d+,\s*"([A-Z_]+)"', source))
    codes |= set(re.findall(r"error_answer\(\s*\d+,\s*Outcome\.([A-Z_]+)\.value", source))
    assert codes, "no error codes found in the source"
    start = SPEC.index("    Error:\n")
    documented = set(re.findall(r"^\s+- ([A-Z_]+)$", SPEC[start:], re.M))
    assert codes <= documented
