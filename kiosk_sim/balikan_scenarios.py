"""The data balikan scenarios of `kiosk-sim demo`: a FOUND visit whose result shows the
institution's answer, with the gateway's return count read before and after, and its faults."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from kiosk_sim.scenarios import Run, ScenarioResult, _screen
from kiosk_sim.stack import INSTITUTION
from protocol.messages import encode_replay_key
from simulators.institution import InstitutionFault

# A well-formed NIK that no persona has and no kiosk looked up.
NEVER_LOOKED_UP = "3374015505900007"


async def _returns_accepted(run: Run) -> int:
    gateway = run.stack.gateway
    assert gateway is not None
    await gateway.usage.flush()
    rows = await gateway.store.usage(INSTITUTION, "0000-01-01", "9999-12-31")
    return sum(r.count for r in rows if r.outcome == "RETURN_ACCEPTED")


async def _visit(run: Run, persona: str = "ayu") -> str:
    """One FOUND visit: "<outcome>, <balikan outcome>, returns +<n>"."""
    dev, page = run.stack.devices, run.page
    before = await _returns_accepted(run)
    await page.until(_screen("idle"), run.timeout)
    await run.devices(functools.partial(dev.place_finger, persona, "right_index", touch=True))
    await run.devices(dev.insert_card, persona, None)
    screen = await page.until(_screen("result"), run.timeout)
    balikan: dict[str, Any] = screen.get("balikan") or {}
    shown = "number shown" if balikan.get("number") else "no number"
    await run.devices(dev.remove_card)
    await run.devices(dev.lift_finger)
    await page.until(_screen("idle"), run.timeout)
    gained = await _returns_accepted(run) - before
    return f"{screen.get('outcome')}, {balikan.get('outcome')} ({shown}), returns +{gained}"


def _with_fault(fault: InstitutionFault) -> Callable[[Run], Awaitable[str]]:
    async def scenario(run: Run) -> str:
        institution = run.stack.institution
        assert institution is not None
        institution.set_fault(fault, delay_s=30.0)
        try:
            return await _visit(run)
        finally:
            institution.set_fault(InstitutionFault.NONE)

    return scenario


async def _down(run: Run) -> str:
    institution = run.stack.institution
    assert institution is not None
    await institution.stop_listening()
    try:
        return await _visit(run)
    finally:
        await institution.listen()


async def _not_looked_up(run: Run) -> str:
    """The kiosk's own certificate sends a return for a NIK it never looked up."""
    stack = run.stack
    assert stack.pki is not None and stack.device is not None
    before = await _returns_accepted(run)
    rid = secrets.token_hex(16)
    body = {
        "request_id": rid,
        "nik": NEVER_LOOKED_UP,
        "return_number": "PERPUS-SIM-999999",
        "replay_key": encode_replay_key(secrets.token_bytes(32)),
    }
    url = f"https://127.0.0.1:{stack.gateway_port}/v1/returns"
    ctx = stack.kiosk_client_context()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.post(url, json=body, ssl=ctx) as resp,
    ):
        answer = await resp.json()
    gained = await _returns_accepted(run) - before
    verdict = "accepted" if answer.get("accepted") else f"refused {answer.get('reason')}"
    return f"{verdict}, returns +{gained}"


_SHOWN = "FOUND, {} (number shown), returns +{}"
_NONE = "FOUND, {} (no number), returns +0"
BALIKAN_SCENARIOS: tuple[tuple[str, str, Callable[[Run], Awaitable[str]]], ...] = (
    ("data balikan", _SHOWN.format("RETURNED", 1), _with_fault(InstitutionFault.NONE)),
    ("institution service down", _NONE.format("INSTITUTION_UNAVAILABLE"), _down),
    (
        "institution answer malformed",
        _NONE.format("INSTITUTION_UNAVAILABLE"),
        _with_fault(InstitutionFault.MALFORMED),
    ),
    (
        "institution service slow",
        _NONE.format("INSTITUTION_UNAVAILABLE"),
        _with_fault(InstitutionFault.SLOW),
    ),
    (
        "institution refuses",
        _NONE.format("INSTITUTION_REFUSED"),
        _with_fault(InstitutionFault.REFUSE),
    ),
    ("return for a NIK not looked up", "refused NOT_LOOKED_UP, returns +0", _not_looked_up),
)


async def run_balikan_scenarios(run: Run) -> list[ScenarioResult]:
    """Every data balikan scenario; an error becomes the row's `got`."""
    results = []
    for name, expected, scenario in BALIKAN_SCENARIOS:
        start = time.perf_counter()
        try:
            got = await scenario(run)
        except Exception as err:  # the table says what went wrong; the run goes on
            got = f"error: {err}"
            await run.devices(run.stack.devices.remove_card)
        results.append(ScenarioResult(name, expected, got, time.perf_counter() - start))
    return results
