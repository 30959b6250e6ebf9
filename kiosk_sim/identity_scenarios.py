"""The demo's identity scenarios: a certificate that renews itself at two thirds of a short life
while a citizen is at the kiosk, and a revoked kiosk refused at both doors within 5 s.

- **Renewal.** The CA's certificate life ([ca] days of the stack's fleet.toml) is cut to
  `DEMO_LIFE_S` seconds, the fleet service restarted, and a signed `rotate_certificate` gives
  the kiosk such a certificate. Just before two thirds of its life a citizen inserts a card; the
  kiosk renews by itself (new key in its token, simplereenroll, new TLS contexts) while the
  session waits for the finger; the finger goes down after the switch and the query goes out
  with the new identity: FOUND. The life is then set back and one more rotation gives the kiosk
  a long certificate again.
- **Revocation.** `kiosk-fleet revoke --reason key_compromise` revokes the kiosk's certificate
  for good and publishes the CRL (to the gateway, and the CRL file mosquitto reads, which the
  stack's broker reloads on SIGHUP, as `kill -HUP` would). New TLS connections presenting the
  kiosk's identity are then tried at both doors until both refuse; the times are measured from
  the revocation command's start. The kiosk then comes back as a revoked kiosk must: a new
  technician's token, a new key and certificate (simpleenroll), and a verification.

Registered in kiosk_sim/scenarios.py (run after the citizen and data balikan scenarios).
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from cryptography import x509

from kiosk_sim.scenarios import Run, Scenario, ScenarioError, ScenarioResult, visit
from kiosk_sim.stack import DEVICE_ID, Stack

DEMO_LIFE_S = 24.0  # the certificate life while the renewal is shown
LEAD_S = 1.0  # the citizen inserts the card this long before the renewal is due
REFUSAL_LIMIT_S = 5.0
_DAYS = re.compile(r"^days = .*$", re.M)


def _cert(stack: Stack) -> x509.Certificate:
    return x509.load_pem_x509_certificate((stack.identity_dir / "device.crt").read_bytes())


async def _set_life(stack: Stack, days: float) -> None:
    """[ca] days in the stack's fleet.toml, the fleet service restarted to read it."""
    assert stack.fleet is not None and stack.fleet_service is not None
    path = stack.fleet.fleet_config
    text, count = _DAYS.subn(f"days = {days!r}", path.read_text(), count=1)
    if count != 1:
        raise ScenarioError(f"{path}: no [ca] days line")
    path.write_text(text)
    await stack.fleet_service.stop()
    await stack.fleet_service.start()


async def _rotate(stack: Stack) -> None:
    assert stack.fleet is not None
    code, out = await stack.fleet.fleet(
        "command", DEVICE_ID, "rotate_certificate", "--timeout", "20"
    )
    if code != 0:
        raise ScenarioError(f"rotate_certificate: exit {code}: {out.strip()[:120]}")


async def _new_serial(stack: Stack, old: int, timeout: float) -> float | None:
    """When the certificate on disk changed from serial `old` (wall time), None if it did not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _cert(stack).serial_number != old:
                return time.time()
        except (OSError, ValueError):
            pass  # replaced right now
        await asyncio.sleep(0.02)  # a file on disk, no event to wait on
    return None


async def _visit_across(run: Run, old: int) -> tuple[str, float | None]:
    """Card in before the switch, finger after it: the outcome and when the switch came."""
    stack, page = run.stack, run.page
    dev = stack.devices
    await page.until(lambda s: s.get("screen") == "idle", run.timeout)
    await run.devices(dev.lift_finger)
    await run.devices(dev.insert_card, "ayu", None)
    await page.until(lambda s: s.get("screen") == "finger", run.timeout)
    switched = await _new_serial(stack, old, max(stack.timeouts.finger_wait - 1.0, 1.0))
    await run.devices(functools.partial(dev.place_finger, "ayu", "right_index", touch=True))
    screen = await page.until(lambda s: s.get("screen") == "result", run.timeout)
    await run.devices(dev.remove_card)
    await run.devices(dev.lift_finger)
    await page.until(lambda s: s.get("screen") == "idle", run.timeout)
    return str(screen.get("outcome")), switched


async def renewal_at_two_thirds(run: Run) -> tuple[str, str, str]:
    """The short-lived certificate renews itself at 2/3 of its life under a verification."""
    stack = run.stack
    expected = "renewed by itself, FOUND across the switch"
    if stack.fleet is None or stack.fleet_service is None:
        return "renewal", expected, "no fleet service in this stack"
    await _set_life(stack, DEMO_LIFE_S / 86400)
    try:
        await _rotate(stack)
        cert = _cert(stack)
        start = cert.not_valid_before_utc.timestamp()
        life = cert.not_valid_after_utc.timestamp() - start
        due = start + 2 / 3 * life
        await asyncio.sleep(max(0.0, due - LEAD_S - time.time()))  # until the citizen comes
        outcome, switched = await _visit_across(run, cert.serial_number)
    finally:
        await _set_life(stack, stack.cert_days)
        await _rotate(stack)  # a long certificate again for the rest of the demo
    share = "" if switched is None else f" at {100 * (switched - start) / life:.0f}% of its life"
    name = f"certificate of {DEMO_LIFE_S:g} s renewed by itself{share} (due at 67%)"
    if switched is None:
        return name, expected, f"not renewed within the visit, {outcome}"
    return name, expected, f"renewed by itself, {outcome} across the switch"


async def _gateway_refuses(stack: Stack) -> bool:
    """A new TLS connection as the kiosk to the gateway is refused (401/403 counts too)."""
    url = f"https://127.0.0.1:{stack.gateway_port}/v1/health"
    ctx = stack.kiosk_client_context()  # a new context: no session to resume
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http,
            http.get(url, ssl=ctx) as resp,
        ):
            return resp.status in (401, 403)
    except (aiohttp.ClientError, ssl.SSLError, OSError, TimeoutError):
        return True


_CONNECT = bytes.fromhex("10 10 0004 4d515454 04 02 003c 0004 7072 6f62".replace(" ", ""))


async def _broker_refuses(stack: Stack) -> bool:
    """A new MQTT connection as the kiosk (TLS, CONNECT, CONNACK) is refused."""
    assert stack.broker is not None
    ctx = stack.kiosk_client_context()
    host, port = stack.broker.host, stack.broker.port
    try:
        async with asyncio.timeout(3):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            try:
                writer.write(_CONNECT)
                await writer.drain()
                connack = await reader.readexactly(4)
            finally:
                writer.close()
    except (ssl.SSLError, OSError, asyncio.IncompleteReadError, TimeoutError):
        return True
    return connack[0] != 0x20 or connack[3] != 0


async def _first_refusal(probe: Callable[[], Awaitable[bool]], since: float) -> float | None:
    """Seconds from `since` to the first refusal (None after 10 s)."""
    while time.monotonic() - since < 10.0:
        if await probe():
            return time.monotonic() - since
        await asyncio.sleep(0.05)  # each try is a new handshake: no event to wait on
    return None


async def _re_enrol(run: Run) -> str:
    """As a revoked kiosk comes back: a new technician's token, a new key and certificate."""
    stack = run.stack
    await stack.stop_agent()
    for name in ("device.crt", "device.key"):
        (stack.identity_dir / name).unlink(missing_ok=True)
    await stack.technician_enrolment_token()
    await stack.start_agent()
    await run.page.reconnect()
    return await visit(run, Scenario("re-enrolled", "ayu", "FOUND"))


async def revoked_refused(run: Run) -> tuple[str, str, str]:
    """`kiosk-fleet revoke`: the gateway and the broker refuse the kiosk within 5 s."""
    stack = run.stack
    expected = f"gateway and broker refuse it within {REFUSAL_LIMIT_S:g} s, re-enrolled, FOUND"
    if stack.fleet is None or stack.broker is None:
        return "revocation", expected, "no fleet in this stack"
    since = time.monotonic()
    code, out = await stack.fleet.fleet("revoke", DEVICE_ID, "--reason", "key_compromise")
    if code != 0:
        return "revocation", expected, f"revoke exit {code}: {out.strip()[:120]}"
    await asyncio.get_running_loop().run_in_executor(None, stack.broker.reload)
    gateway, broker = await asyncio.gather(
        _first_refusal(functools.partial(_gateway_refuses, stack), since),
        _first_refusal(functools.partial(_broker_refuses, stack), since),
    )
    outcome = await _re_enrol(run)
    times = [t for t in (gateway, broker) if t is not None]
    name = "revoked kiosk refused: " + ", ".join(
        f"{door} {'never' if t is None else f'{t:.1f} s'}"
        for door, t in (("gateway", gateway), ("broker", broker))
    )
    within = len(times) == 2 and max(times) <= REFUSAL_LIMIT_S
    doors = f"within {REFUSAL_LIMIT_S:g} s" if within else "NOT in time"
    return (
        name + " after the revocation",
        expected,
        (f"gateway and broker refuse it {doors}, re-enrolled, {outcome}"),
    )


_SCENARIOS: tuple[Callable[[Run], Awaitable[tuple[str, str, str]]], ...] = (
    renewal_at_two_thirds,
    revoked_refused,
)


async def run_identity_scenarios(run: Run, add: Callable[[ScenarioResult], Any]) -> None:
    """Run both against a started stack (token identity, fleet service); `add` each row."""
    for scenario in _SCENARIOS:
        start = time.perf_counter()
        try:
            name, expected, got = await scenario(run)
        except Exception as err:  # the table says what went wrong
            name, expected, got = scenario.__name__, "ok", f"error: {err}"
        add(ScenarioResult(name, expected, got, time.perf_counter() - start))
