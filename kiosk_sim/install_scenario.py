"""The demo's "install" scenario: the technician's day at the simulated kiosk with
`kiosk-provision`, driven as a person would through the tool's prompts (JSON Lines with --json).

A kiosk as it leaves the factory (its token empty, no certificate, no state, its SAM bound to no
kiosk) is provisioned from nothing: preflight, enrolment with a token the technician's
certificate obtains, the hardware read and registered, the SAM bound, the MCU's key set and
escrowed, the self-test (the technicians' test card `teknisi` through the SAM, its finger, the
enclosure opened and closed), the handover record countersigned by the fleet. The agent then
verifies a citizen (FOUND); the kiosk is decommissioned; and then it is refused: its agent does
not start and the fleet gives it no new enrolment token.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk_sim.enrolment import TECHNICIAN, EnrolmentError, hand_enrolment_token
from kiosk_sim.stack import DEVICE_ID, INSTITUTION, SERIAL, Stack, StackError

if TYPE_CHECKING:
    from kiosk_sim.scenarios import Run, ScenarioResult

SILENT_S = 120.0  # the longest a step may go without a line (a person's prompt waits)
TEST_PERSONA = "teknisi"  # simulators/personas.toml: the technicians' test card
_DESTROY_ALL_CHILD = (
    "import sys; from pathlib import Path; from common.token import Token, TokenConfig;"
    "Token.open(TokenConfig(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))).destroy_all()"
)


def make_bare(stack: Stack) -> None:
    """The kiosk as it leaves the factory: token empty, identity and state gone, SAM unbound."""
    assert stack.softhsm is not None and stack.token is not None
    t = stack.token
    subprocess.run(
        [sys.executable, "-c", _DESTROY_ALL_CHILD, str(t.module), t.label, str(t.pin_file)],
        env={**os.environ, **stack.softhsm.env()},
        check=True,
        timeout=30,
    )
    for folder in (stack.identity_dir, stack.run_dir / "agent" / "state"):
        shutil.rmtree(folder, ignore_errors=True)
    (stack.run_dir / "agent" / "state.key").unlink(missing_ok=True)  # [state]'s key
    stack.devices.issuer_reset_sam()


async def technician(stack: Stack) -> tuple[Path, Path]:
    """The technician's certificate and key (URI PEM in their SoftHSM token), made once."""
    assert stack.fleet is not None and stack.pki is not None and stack.softhsm is not None
    paths = stack.run_dir / "technician" / "paths.json"
    try:
        await enrolment_token(stack)  # the certificate is made first, then a token asked for
    except EnrolmentError:
        if not paths.exists():
            raise
    made = json.loads(paths.read_text())
    return Path(made["cert"]), Path(made["key"])


async def enrolment_token(stack: Stack) -> Path:
    """A fresh enrolment token asked for with the technician's certificate (EnrolmentError)."""
    assert stack.fleet is not None and stack.pki is not None and stack.softhsm is not None
    return await hand_enrolment_token(
        stack.fleet, stack.pki, stack.softhsm, stack.run_dir, stack.est_url, SERIAL, INSTITUTION
    )


async def registry_state(stack: Stack) -> str:
    """The kiosk's state in the fleet's registry."""
    assert stack.fleet is not None
    code, out = await stack.fleet.fleet("devices", "show", DEVICE_ID, "--json")
    return str(json.loads(out)["state"]) if code == 0 else f"exit {code}"


async def provision(stack: Stack, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """Run `kiosk-provision --json ARGS` as the technician; answer its prompts as a person."""
    assert stack.mcu is not None and stack.softhsm is not None
    cert, key = await technician(stack)
    config = stack.run_dir / "agent" / "agent.toml"
    command = [sys.executable, "-m", "provisioning.cli", "--config", str(config), "--json"]
    command += [*args, "--technician-cert", str(cert), "--technician-key", str(key)]
    command += ["--representative", "PEG-SIM-0001"]
    env = {**os.environ, **stack.devices.pcscd.env, **stack.softhsm.env()}
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT on silence: every thread's stack to its log
    log = stack.run_dir / "technician" / f"kiosk-provision-{args[0]}.log"
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert proc.stdin is not None and proc.stdout is not None
    events: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    mcu, dev = stack.mcu, stack.devices
    acts = {
        "Insert": lambda: dev.insert_card(TEST_PERSONA, None),
        "Place": lambda: dev.place_finger(TEST_PERSONA, "right_index"),
        "Open": mcu.open_enclosure,
        "Close": mcu.close_enclosure,
    }
    while line := await _next_line(proc, log):
        event = json.loads(line)
        events.append(event)
        if event.get("event") != "prompt":
            continue
        for word, act in acts.items():
            if event["text_en"].startswith(word):
                await loop.run_in_executor(None, act)
        proc.stdin.write(b"y\n")
        await proc.stdin.drain()
    code = await proc.wait()
    await loop.run_in_executor(None, dev.lift_finger)
    await loop.run_in_executor(None, dev.remove_card)
    return code, events


async def _next_line(proc: asyncio.subprocess.Process, log: Path) -> bytes:
    """The tool's next line; after SILENT_S without one, its stacks dumped to `log` and
    ScenarioError (the demo's table then says where it stood)."""
    from kiosk_sim.scenarios import ScenarioError

    assert proc.stdout is not None
    try:
        return await asyncio.wait_for(proc.stdout.readline(), SILENT_S)
    except TimeoutError:
        proc.send_signal(signal.SIGABRT)  # faulthandler writes where each thread stands
        await proc.wait()
        raise ScenarioError(f"kiosk-provision silent for {SILENT_S:g} s; see {log}") from None


def _summary(code: int, events: list[dict[str, Any]]) -> str:
    failed = [e for e in events if e.get("event") == "failed"]
    if failed:
        return f"exit {code}: {failed[0]['step']} {failed[0]['error']['code']}"
    done = [e["step"] for e in events if e.get("event") == "done"]
    return f"exit {code}: {len(done)} steps"


async def run_install_scenario(run: Run, add: Callable[[ScenarioResult], None]) -> None:
    """The rows of the install scenario (each a step of the technician's day), each given to
    `add` as it ends; a step that breaks off the day ends it with a row saying where."""
    from kiosk_sim.scenarios import ScenarioError, ScenarioResult

    start = time.perf_counter()

    def row(name: str, expected: str, got: str, since: float) -> None:
        add(ScenarioResult(f"install: {name}", expected, got, time.perf_counter() - since))

    try:
        await _technicians_day(run, row)
    except (ScenarioError, StackError, OSError) as err:
        row("broken off", "every step", f"error: {err}", start)


async def _technicians_day(run: Run, row: Callable[[str, str, str, float], None]) -> None:
    """Back to service if tampered, provision, self-test, record, verify, decommission."""
    from kiosk_sim.scenarios import Scenario, visit

    stack = run.stack
    start = time.perf_counter()
    await stack.stop_agent()
    if (state := await registry_state(stack)) != "active":  # the MCU tamper scenario's kiosk
        code, events = await provision(
            stack, "decommission", "--return-to-service", "--reason", f"{state} (demo)"
        )
        row(f"{state}: back to service", "exit 0: 4 steps", _summary(code, events), start)
        start = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, make_bare, stack)
    code, events = await provision(
        stack,
        "install",
        "--serial",
        SERIAL,
        "--location",
        "Perpustakaan Simulasi, lantai 1",
        "--confirm-indicators",
    )
    row("provision from nothing", "exit 0: 7 steps", _summary(code, events), start)
    selftest = [e for e in events if e.get("step") == "selftest" and e.get("event") == "done"]
    results = selftest[0]["result"]["results"] if selftest else {}
    row("self-test", "all pass", _all_pass(results), start)
    start = time.perf_counter()
    assert stack.fleet is not None
    shown, out = await stack.fleet.fleet("device", "show", DEVICE_ID, "--json")
    doc = json.loads(out) if shown == 0 else {}
    records = doc.get("records") or [{}]
    last = records[-1].get("record", {}).get("body", {}).get("kind")
    intact = doc.get("records_intact") is True and last == "handover"
    row("handover record", "intact", "intact" if intact else f"exit {shown}", start)
    start = time.perf_counter()
    try:
        await stack.start_agent()
        await run.page.reconnect()
        got = await visit(run, Scenario("install", "ayu", "FOUND"))
    except (StackError, OSError) as err:
        got = f"error: {err}"
    row("verification", "FOUND", got, start)
    start = time.perf_counter()
    await stack.stop_agent()
    code, events = await provision(stack, "decommission", "--reason", "akhir demo")
    row("decommission", "exit 0: 4 steps", _summary(code, events), start)
    start = time.perf_counter()
    row("kiosk refused", "refused", await _refused(stack), start)


async def _refused(stack: Stack) -> str:
    """The agent does not start, and the fleet gives no new enrolment token."""
    try:
        await stack.start_agent()
    except StackError:
        agent = "refused"
    else:
        await stack.stop_agent()
        return "the agent started"
    assert stack.fleet is not None and stack.pki is not None and stack.softhsm is not None
    try:
        await enrolment_token(stack)
    except EnrolmentError as err:
        return agent if "decommissioned" in str(err) else f"error: {err}"
    return "a new enrolment token was issued"


def _all_pass(results: dict[str, str]) -> str:
    bad = {k: v for k, v in results.items() if v != "pass"}
    return "all pass" if results and not bad else json.dumps(bad or results)


__all__ = ["TECHNICIAN", "make_bare", "provision", "run_install_scenario"]
