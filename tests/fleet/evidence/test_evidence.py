"""`kiosk-fleet evidence` against the simulated stack (started once): it passes as the stack
comes up, and fails naming the duty on one deliberate breach at a time (an element outside the
PKS list, a log line with a NIK, the quota off), each undone after; its signed files verify and a
changed one does not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from kiosk_sim.balikan_scenarios import BALIKAN_SCENARIOS
from kiosk_sim.device_token import device_env
from kiosk_sim.evidence import configure_evidence
from kiosk_sim.scenarios import PageWatcher, Run
from kiosk_sim.stack import DEMO_TIMEOUTS, ELEMENTS, Stack
from simulators.personas import PERSONAS

pytestmark = [pytest.mark.middleware, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The whole simulated stack with [evidence] in its fleet.toml."""
    async with Stack(tmp_path_factory.mktemp("evidence") / "run", timeouts=DEMO_TIMEOUTS) as s:
        configure_evidence(s)
        yield s


async def evidence(stack: Stack, *args: str) -> tuple[int, dict[str, Any]]:
    """Run the real CLI; (exit code, its JSON)."""
    assert stack.fleet is not None
    code, out = await stack.fleet.fleet("evidence", "--json", *args, env=device_env())
    start = out.find("{")
    assert start >= 0, out
    return code, json.loads(out[start:])


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {d["duty"]: d["status"] for d in report["duties"]}


def failing(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["duty"]: d for d in report["duties"] if d["status"] == "FAIL"}


@pytest.mark.timeout(180)
async def test_passes_on_the_simulated_stack_and_signs(stack: Stack, tmp_path: Path) -> None:
    code, report = await evidence(stack, "--out", str(tmp_path / "out"), "--write-check")
    assert failing(report) == {}, json.dumps(failing(report), indent=1)
    assert code == 0 and report["ok"] is True
    got = statuses(report)
    for duty in ("network", "storage", "elements", "quota", "antiscrape", "outcomes"):
        assert got[duty] == "PASS", duty
    assert got["sanctions"] == "PASS" and got["coredumps"] == "PASS"
    assert got["balikan"] == "SKIP" and got["reports"] == "SKIP"  # no FOUND yet, none due yet
    assert {d["duty"]: bool(d["clause"]) for d in report["duties"]} == dict.fromkeys(got, True)
    storage = next(d for d in report["duties"] if d["duty"] == "storage")
    assert storage["facts"]["files"] > 5 and len(storage["facts"]["canaries"]) > 5
    probe = next(d for d in report["duties"] if d["duty"] == "antiscrape")
    assert probe["facts"]["answers"][-1] == "PATTERN_BLOCKED"

    # the signed files verify; a changed one does not (exit 5)
    assert stack.fleet is not None
    sig = Path(report["files"]["sig"])
    code, out = await stack.fleet.fleet("evidence", "verify", str(sig))
    assert code == 0, out
    text = Path(report["files"]["txt"])
    assert "LULUS / PASS" in text.read_text()
    text.write_text(text.read_text().replace("LULUS", "LULUS!", 1))
    code, out = await stack.fleet.fleet("evidence", "verify", str(sig))
    assert code == 5 and "changed after it was signed" in out


@pytest.mark.timeout(120)
async def test_an_element_outside_the_pks_fails_the_elements_duty(stack: Stack) -> None:
    await stack.admin_patch_policy({"elements": [*ELEMENTS, "alamat"]})
    try:
        code, report = await evidence(stack)
    finally:
        await stack.admin_patch_policy({"elements": ELEMENTS})
    assert code == 6
    assert set(failing(report)) == {"elements"}
    found = failing(report)["elements"]
    assert "alamat given but not in its PKS" in found["detail"] and found["fix"]


@pytest.mark.timeout(120)
async def test_a_log_line_with_a_nik_fails_the_storage_duty(stack: Stack) -> None:
    log = stack.run_dir / "gateway" / "log" / "gateway.log"
    before = log.read_bytes() if log.exists() else b""
    nik = PERSONAS["ayu"].nik
    log.write_bytes(before + f"2026-12-05 INFO verification nik={nik}\n".encode())
    try:
        code, report = await evidence(stack)
    finally:
        log.write_bytes(before)
    assert code == 6
    assert set(failing(report)) == {"storage"}
    found = failing(report)["storage"]
    assert "gateway.log: ayu.nik (plain)" in found["detail"]
    assert nik not in json.dumps(report)  # the report names the canary, never its value


@pytest.mark.timeout(120)
async def test_the_quota_off_fails_the_quota_duty(stack: Stack) -> None:
    await stack.admin_patch_policy({"poc_approved": True})
    try:
        code, report = await evidence(stack)
    finally:
        await stack.admin_patch_policy({"poc_approved": False})
    assert code == 6
    assert set(failing(report)) == {"quota"}
    assert "daily limit none (quota off)" in failing(report)["quota"]["detail"]


@pytest.mark.timeout(120)
async def test_data_balikan_flowing_then_falling_behind(stack: Stack) -> None:
    """Last: the visits stay in the gateway's counts."""
    scenarios = {name: scenario for name, _, scenario in BALIKAN_SCENARIOS}
    async with PageWatcher(stack.ui_url) as page:
        run = Run(stack, page, timeout=20.0)
        assert (await scenarios["data balikan"](run)).endswith("returns +1")
        code, report = await evidence(stack)
        assert code == 0 and statuses(report)["balikan"] == "PASS"
        # a FOUND whose return never came: 1 of 2 returned, below the 90% asked
        assert (await scenarios["institution service down"](run)).endswith("returns +0")
    code, report = await evidence(stack)
    assert code == 6 and set(failing(report)) == {"balikan"}
    assert "1 returns for 2 FOUND" in failing(report)["balikan"]["detail"]
