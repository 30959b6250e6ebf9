"""The scenarios of `kiosk-sim demo`: a citizen at the simulated kiosk, watched through the kiosk
page's own WebSocket, end to end through the real agent, gateway and Dukcapil simulator.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kiosk_sim.evidence import evidence_scenario
from kiosk_sim.page import PageWatcher as PageWatcher  # re-exported
from kiosk_sim.page import ScenarioError as ScenarioError  # re-exported
from kiosk_sim.stack import Stack

Step = Callable[["Run"], Awaitable[None]]


@dataclass
class Run:
    """What a scenario's steps act on."""

    stack: Stack
    page: PageWatcher
    timeout: float = 20.0

    async def devices(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call a blocking SimulatedDevices method off the loop."""
        await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _screen(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("screen") == name


def _finger_screen(finger: str) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("screen") == "finger" and s.get("finger") == finger


@dataclass(frozen=True)
class Scenario:
    """One citizen's visit: what to set up, which card, which fingers, what must come out."""

    name: str
    persona: str
    expected: str
    fault: str | None = None
    fingers: tuple[str, ...] = ("right_index",)  # per try: a finger of the persona, or "other"
    before: Step | None = None
    after: Step | None = None
    pull_at_finger: bool = False


async def _place(run: Run, persona: str, finger: str) -> None:
    """The citizen presses a finger once (it lifts after one capture)."""
    dev = run.stack.devices
    if finger == "other":
        await run.devices(functools.partial(dev.place_other_finger, touch=True))
    elif finger == "none":
        await run.devices(dev.lift_finger)
    else:
        await run.devices(functools.partial(dev.place_finger, persona, finger, touch=True))


async def visit(run: Run, s: Scenario) -> str:
    """Play one visit; return the outcome code the kiosk showed (or CANCELLED for a pull)."""
    dev = run.stack.devices
    page = run.page
    await page.until(_screen("idle"), run.timeout)
    await _place(run, s.persona, s.fingers[0])
    await run.devices(dev.insert_card, s.persona, s.fault)
    tries = 0
    while True:
        screen = await page.next(run.timeout)
        name = screen.get("screen")
        if name == "result":
            outcome = str(screen.get("outcome"))
            break
        if name == "finger":
            if s.pull_at_finger:
                await run.devices(dev.remove_card)
                await page.until(_screen("idle"), run.timeout)
                return "CANCELLED"
            if screen.get("problem") == "mismatch":
                tries += 1
                finger = s.fingers[min(tries, len(s.fingers) - 1)]
                if finger in screen.get("fingers", ()) and finger != screen.get("finger"):
                    # the citizen taps "use the other finger" first
                    await page.send({"type": "select_finger", "finger": finger})
                    await page.until(_finger_screen(finger), run.timeout)
                # a person looks at the screen first: the kiosk is waiting for a fresh press
                seen = run.stack.devices.fingerprint.stats.empty_captures
                await run.devices(run.stack.devices.wait_empty_capture, seen)
                await _place(run, s.persona, finger)
        if name == "idle" and not screen.get("card_present", True):
            raise ScenarioError("the kiosk went back to idle without a result")
    await run.devices(dev.remove_card)
    await run.devices(dev.lift_finger)
    await page.until(_screen("idle"), run.timeout)
    return outcome


def _policy(patch: dict[str, Any]) -> Step:
    async def step(run: Run) -> None:
        await run.stack.admin_patch_policy(patch)

    return step


async def _gateway_down(run: Run) -> None:
    await run.stack.stop_gateway()


async def _gateway_up(run: Run) -> None:
    await run.stack.start_gateway()


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("found", "ayu", "FOUND"),
    Scenario("mismatch then match", "bagas", "FOUND", fingers=("other", "left_index")),
    Scenario("three mismatches", "ayu", "FINGER_MISMATCH", fingers=("other",)),
    Scenario("deceased", "darmo", "FOUND_DECEASED"),
    Scenario("duplicate", "gandari", "FOUND_DUPLICATE"),
    Scenario("not found", "intan", "NOT_FOUND"),
    Scenario("inactive", "hendrikus", "FOUND_INACTIVE"),
    Scenario("invalid NIK format", "joko", "INVALID_NIK_FORMAT"),
    Scenario(
        "quota exhausted",
        "bagas",
        "QUOTA_EXHAUSTED",
        before=_policy({"sanctions": {"quota": 0}}),
        after=_policy({"sanctions": {"quota": None}}),
    ),
    Scenario(
        "institution inactive",
        "ayu",
        "INSTITUTION_INACTIVE",
        before=_policy({"active": False}),
        after=_policy({"active": True}),
    ),
    Scenario(
        "user inactive",
        "ayu",
        "USER_INACTIVE",
        before=_policy({"user_active": False}),
        after=_policy({"user_active": True}),
    ),
    Scenario(
        "card pulled mid-session", "bagas", "CANCELLED", fingers=("none",), pull_at_finger=True
    ),
    Scenario("card not authentic", "ayu", "CARD_NOT_AUTHENTIC", fault="cloned"),
    Scenario("gateway down", "ayu", "SERVICE_UNAVAILABLE", before=_gateway_down, after=_gateway_up),
)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One row of the demo table."""

    scenario: str
    expected: str
    got: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the kiosk showed what was expected."""
        return self.got == self.expected

    def to_json(self) -> dict[str, Any]:
        """The --json form of the row."""
        return {
            "scenario": self.scenario,
            "expected": self.expected,
            "got": self.got,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
        }


async def run_scenario(run: Run, s: Scenario) -> ScenarioResult:
    """Set up, visit, tear down; an error becomes the row's `got`, never an exception."""
    start = time.perf_counter()
    try:
        if s.before is not None:
            await s.before(run)
        try:
            got = await visit(run, s)
        finally:
            if s.after is not None:
                await s.after(run)
    except Exception as err:  # the table says what went wrong; the run goes on
        got = f"error: {err}"
        await run.devices(run.stack.devices.remove_card)
    return ScenarioResult(s.name, s.expected, got, time.perf_counter() - start)


def _service_hooks(stack: Stack) -> Any:
    """The fleet service's store and its stop and start, when the stack runs one."""
    from kiosk_sim.fleet_seen import ServiceHooks

    service = stack.fleet_service
    if service is None or stack.fleet is None or stack.alerts is None:
        return None
    store = stack.fleet.directory / "fleet.sqlite3"
    return ServiceHooks(store, stack.alerts, service.stop, service.start)


def _kiosk_hooks(run: Run) -> Any:
    """What the fleet scenarios need of this kiosk."""
    from common.tls import load_token_provider
    from edge_agent.config import GatewayConfig
    from kiosk_sim.fleet_sanctions import gateway_lookup
    from kiosk_sim.fleet_scenarios import KioskHooks
    from kiosk_sim.stack import DEVICE_ID, READER_ID, SAM_ID
    from protocol.messages import ReaderIdentity

    stack, dev = run.stack, run.stack.devices
    assert stack.device is not None and stack.mcu is not None

    async def verify() -> str:
        return await visit(run, Scenario("fleet", "ayu", "FOUND"))

    async def begin() -> None:
        await run.page.until(_screen("idle"), run.timeout)
        await run.devices(dev.lift_finger)
        await run.devices(dev.insert_card, "ayu", None)
        await run.page.until(_screen("finger"), run.timeout)

    async def end() -> None:
        await run.devices(dev.remove_card)

    async def wait_screen(name: str, timeout: float) -> bool:
        try:
            await run.page.until(_screen(name), timeout)
        except ScenarioError:
            return False
        return True

    async def stop_agent() -> None:
        await stack.stop_agent()

    async def start_agent() -> None:
        await stack.start_agent()
        await run.page.reconnect()

    async def probe() -> str:
        assert stack.pki is not None and stack.device is not None
        # the kiosk's own identity: its key in the token, through pkcs11-provider here too
        load_token_provider(stack.identity_dir / "openssl-pkcs11.cnf")
        link = GatewayConfig(
            f"https://127.0.0.1:{stack.gateway_port}",
            stack.pki.server_ca.cert,
            stack.device.cert,
            stack.device.key,
        )
        return await gateway_lookup(link, DEVICE_ID, ReaderIdentity(READER_ID, SAM_ID))

    return KioskHooks(
        device_id=DEVICE_ID,
        verify=verify,
        begin_verification=begin,
        end_verification=end,
        wait_screen=wait_screen,
        stop_agent=stop_agent,
        start_agent=start_agent,
        key_present=stack.kiosk_key_present,
        renews=True,
        open_enclosure=stack.mcu.open_enclosure,
        gateway_probe=probe,
    )


async def agent_hang(run: Run) -> str:
    """The agent hangs (SIGSTOP): the MCU misses its heartbeats and power-cycles the kiosk."""
    stack = run.stack
    assert stack.agent is not None
    stack.rebooted.clear()
    stack.agent.send_signal(signal.SIGSTOP)
    try:
        await asyncio.wait_for(stack.rebooted.wait(), 60)
    except TimeoutError:
        return "no power cycle within 60 s"
    await run.page.reconnect()
    return "power cycled, " + await visit(run, Scenario("after", "ayu", "FOUND"))


async def run_scenarios(
    stack: Stack,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    on_result: Callable[[ScenarioResult], None] | None = None,
    *,
    fleet: bool = True,
) -> list[ScenarioResult]:
    """Run every scenario in order against a started stack, then the fleet and MCU ones."""
    from kiosk_sim.fleet_sanctions import all_scenarios
    from kiosk_sim.fleet_scenarios import FleetContext
    from kiosk_sim.install_scenario import run_install_scenario
    from kiosk_sim.stack import INSTITUTION

    results = []

    def add(result: ScenarioResult) -> None:
        if on_result is not None:
            on_result(result)
        results.append(result)

    async with PageWatcher(stack.ui_url) as page:
        run = Run(stack, page)
        for s in scenarios:
            add(await run_scenario(run, s))
        if stack.institution is not None:
            from kiosk_sim.balikan_scenarios import run_balikan_scenarios

            for result in await run_balikan_scenarios(run):
                add(result)
        if not fleet:
            return results
        from kiosk_sim.identity_scenarios import run_identity_scenarios  # renewal, revocation

        await run_identity_scenarios(run, add)
        start = time.perf_counter()
        try:
            got = await agent_hang(run)
        except Exception as err:  # the table says what went wrong
            got = f"error: {err}"
        add(ScenarioResult("agent hang", "power cycled, FOUND", got, time.perf_counter() - start))
        assert stack.broker is not None and stack.fleet is not None
        ctx = FleetContext(
            stack.broker,
            stack.fleet,
            _kiosk_hooks(run),
            institution=INSTITUTION,
            region="33",
            service=_service_hooks(stack),
        )
        for name, scenario in all_scenarios(service=ctx.service is not None):
            start = time.perf_counter()
            try:
                expected, got = await scenario(ctx)
            except Exception as err:
                expected, got = "ok", f"error: {err}"
            add(ScenarioResult(name, expected, got, time.perf_counter() - start))
        add(ScenarioResult(*await evidence_scenario(stack)))  # its probe is a device of its own
        await run_install_scenario(run, add)  # last: the kiosk ends decommissioned
    return results


def format_results(results: list[ScenarioResult]) -> str:
    """The demo table: scenario, expected, got, time."""
    rows = [("scenario", "expected", "got", "seconds", "ok")]
    rows += [
        (r.scenario, r.expected, r.got, f"{r.seconds:.2f}", "yes" if r.ok else "NO")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
