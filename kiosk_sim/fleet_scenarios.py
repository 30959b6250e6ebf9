"""Fleet scenarios for `kiosk-sim demo`: broker outage, remote deactivation, tamper.

The stack owns the kiosk (agent process, devices, page); these scenarios drive the admin side
with the real `kiosk-fleet` command and watch MQTT as an admin would. What they need of the
stack comes in `KioskHooks`; each scenario returns (expected, got), equal when it passed.

Wiring, in the stack (`FleetSetup` from `fleet_admin`, `MessageRecorder` from `mqtt_recorder`):

    setup = FleetSetup.create(run_dir / "fleet", pki, broker, gateway_url=gateway.url)
    agent_toml += setup.agent_sections(broker, run_dir / "agent" / "state",
                                       supervisor_port=mcu.port_path)   # MCU optional
    recorder = MessageRecorder(broker, setup).start()    # every message on kiosk/#
    ctx = FleetContext(broker, setup, KioskHooks(...))
    for name, scenario in SCENARIOS:                     # tamper last: it destroys the key
        expected, got = await scenario(ctx)
    recorder.stop(); recorder.dump(run_dir / "mqtt-messages.log")   # for the privacy scan
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.mqtt_recorder import MessageRecorder
from protocol.mqtt import (
    Channel,
    PayloadError,
    Presence,
    UsageMessage,
    parse_reported,
    parse_state,
    parse_usage,
    topic,
)

if TYPE_CHECKING:
    from kiosk_sim.fleet_seen import ServiceHooks

DEFAULT_TIMEOUT = 15.0


@dataclass
class KioskHooks:
    """What the scenarios need of the stack (all async calls run on the stack's loop)."""

    device_id: str
    verify: Callable[[], Awaitable[str]]  # one whole verification; the outcome code shown
    begin_verification: Callable[[], Awaitable[None]]  # card in; returns at the finger screen
    end_verification: Callable[[], Awaitable[None]]  # card out
    wait_screen: Callable[[str, float], Awaitable[bool]]  # the page shows a screen in time
    stop_agent: Callable[[], Awaitable[None]]
    start_agent: Callable[[], Awaitable[None]]
    key_present: Callable[[], bool]  # the device's private key is still there (its token)
    open_enclosure: Callable[[], None] | None = None  # McuSim.open_enclosure (or GPIO)
    expected_outcome: str = "FOUND"  # of `verify` for a kiosk that is active
    gateway_probe: Callable[[], Awaitable[str]] | None = None  # a look-up straight to the gateway
    renews: bool = False  # its key is in a token and it renews over EST (rotate_certificate)


@dataclass
class FleetContext:
    """Everything a fleet scenario uses."""

    broker: MosquittoBroker
    setup: FleetSetup
    kiosk: KioskHooks
    timeout: float = DEFAULT_TIMEOUT
    notes: list[str] = field(default_factory=list)
    institution: str = "perpus-a"  # the kiosks' institution at the gateway and in the registry
    region: str = "33"
    others: tuple[KioskHooks, ...] = ()  # more kiosks of the institution (not driven alone)
    service: ServiceHooks | None = None  # the fleet service, when the stack runs one


def _is(device: str, channel: Channel) -> Callable[[str, bytes], bool]:
    wanted = topic(device, channel)
    return lambda name, _: name == wanted


def _reported_version(
    device: str, predicate: Callable[[Any], bool]
) -> Callable[[str, bytes], bool]:
    wanted = topic(device, Channel.REPORTED)

    def match(name: str, payload: bytes) -> bool:
        if name != wanted:
            return False
        try:
            return predicate(parse_reported(payload))
        except PayloadError:
            return False

    return match


def _usage_today(
    messages: list[tuple[float, str, bytes, bool]], device: str
) -> UsageMessage | None:
    """The highest-sequence usage report of the latest day seen (a replay changes nothing)."""
    wanted = topic(device, Channel.USAGE)
    best: UsageMessage | None = None
    for _, name, payload, _ in messages:
        if name != wanted:
            continue
        try:
            usage = parse_usage(payload)
        except PayloadError:
            continue
        if best is None or (usage.day, usage.seq) > (best.day, best.seq):
            best = usage
    return best


async def broker_down_then_back(ctx: FleetContext) -> tuple[str, str]:
    """Verifications before, during and after a broker outage: every one counted, once."""
    k = ctx.kiosk
    rec = MessageRecorder(
        ctx.broker, ctx.setup, (topic(k.device_id, Channel.USAGE),), "usage-ledger"
    )
    await asyncio.to_thread(rec.start)
    try:
        start = rec.count()
        await k.verify()
        if await rec.await_for(_is(k.device_id, Channel.USAGE), ctx.timeout, start) is None:
            return "usage reported", "no usage report"
        first = _usage_today(rec.messages, k.device_id)
        baseline = first.total if first else 0
        await asyncio.to_thread(ctx.broker.stop)
        during = 3
        for _ in range(during):
            await k.verify()
        await asyncio.to_thread(ctx.broker.start)
        after = 2
        for _ in range(after):
            await k.verify()
        want = baseline + during + after

        def complete(name: str, payload: bytes) -> bool:
            best = _usage_today(rec.messages, k.device_id)
            return best is not None and best.total >= want

        await rec.await_for(complete, ctx.timeout)
        best = _usage_today(rec.messages, k.device_id)
        got = best.total if best else 0
        return f"{want} sessions counted once", f"{got} sessions counted once"
    finally:
        await asyncio.to_thread(rec.stop)


async def _fleet_state(ctx: FleetContext, verb: str, *extra: str) -> tuple[int, str]:
    args = [verb, ctx.kiosk.device_id, *extra]
    if verb == "deactivate" and "--reason" not in extra:
        args += ["--reason", "demo: PKS sanction"]
    return await ctx.setup.fleet(*args)


async def deactivated_mid_session(ctx: FleetContext) -> tuple[str, str]:
    """A citizen is at the finger step when the admin deactivates the kiosk."""
    k = ctx.kiosk
    await k.begin_verification()
    code, out = await _fleet_state(ctx, "deactivate")
    page = await k.wait_screen("deactivated", ctx.timeout)
    await k.end_verification()
    gateway = "revoked" if "gateway: revoked" in out else "not told"
    expected = "exit 0, page deactivated, gateway revoked"
    shown = "deactivated" if page else "unchanged"
    return expected, f"exit {code}, page {shown}, gateway {gateway}"


async def reactivated(ctx: FleetContext) -> tuple[str, str]:
    """A later signed version reactivates the kiosk: verifications work again."""
    k = ctx.kiosk
    code, out = await _fleet_state(ctx, "reactivate")
    page = await k.wait_screen("idle", ctx.timeout)
    outcome = await k.verify() if page else "-"
    gateway = "reinstated" if "gateway: reinstated" in out else "not told"
    expected = f"exit 0, page idle, gateway reinstated, {k.expected_outcome}"
    got = f"exit {code}, page {'idle' if page else 'unchanged'}, gateway {gateway}, {outcome}"
    return expected, got


async def deactivated_while_offline(ctx: FleetContext) -> tuple[str, str]:
    """The kiosk is off when the admin deactivates it; it applies the document on reconnect."""
    k = ctx.kiosk
    rec = MessageRecorder(ctx.broker, ctx.setup, (topic(k.device_id, Channel.REPORTED),))
    await asyncio.to_thread(rec.start)
    try:
        await k.stop_agent()
        code, out = await _fleet_state(ctx, "deactivate", "--timeout", "1")
        offline = code == 3 and "offline" in out and "waits for it" in out
        start = rec.count()
        await k.start_agent()
        applied = await rec.await_for(
            _reported_version(k.device_id, lambda r: r.deactivated), ctx.timeout, start
        )
        page = await k.wait_screen("deactivated", ctx.timeout)
    finally:
        await asyncio.to_thread(rec.stop)
    expected = "exit 3 (offline, document retained), applied on reconnect, page deactivated"
    got = (
        f"exit {code} ({'offline, document retained' if offline else out[:60]}), "
        f"{'applied' if applied else 'not applied'} on reconnect, "
        f"page {'deactivated' if page else 'unchanged'}"
    )
    return expected, got


async def certificate_rotated(ctx: FleetContext) -> tuple[str, str]:
    """A signed rotate_certificate: a new key in the token, a new certificate over EST, new TLS
    contexts; the next verification goes out with the new identity."""
    k = ctx.kiosk
    if not k.renews:  # a kiosk with a key file has nothing to renew (in-process tests)
        return "no token identity", "no token identity"
    code, out = await ctx.setup.fleet(
        "command", k.device_id, "rotate_certificate", "--timeout", str(ctx.timeout)
    )
    outcome = await k.verify()
    expected = f"exit 0, then {k.expected_outcome}"
    got = f"exit {code}{'' if code == 0 else ' ' + out.strip()[:120]}, then {outcome}"
    return expected, got


async def tamper(ctx: FleetContext) -> tuple[str, str]:
    """The enclosure is opened: deactivated at once, key destroyed, reported over MQTT.
    Run it last: the kiosk needs re-provisioning afterwards."""
    k = ctx.kiosk
    if k.open_enclosure is None:
        return "tamper reported", "no enclosure in this stack"
    rec = MessageRecorder(
        ctx.broker,
        ctx.setup,
        (topic(k.device_id, Channel.REPORTED), topic(k.device_id, Channel.STATE)),
    )
    await asyncio.to_thread(rec.start)
    try:
        start = rec.count()
        await asyncio.to_thread(k.open_enclosure)
        page = await k.wait_screen("deactivated", ctx.timeout)
        reported = await rec.await_for(
            _reported_version(k.device_id, lambda r: r.tampered), ctx.timeout, start
        )

        def offline_tamper(name: str, payload: bytes) -> bool:
            if name != topic(k.device_id, Channel.STATE):
                return False
            with contextlib.suppress(PayloadError):
                s = parse_state(payload)
                return s.status is Presence.OFFLINE and s.reason == "tamper"
            return False

        offline = await rec.await_for(offline_tamper, ctx.timeout, start)
    finally:
        await asyncio.to_thread(rec.stop)
    expected = "page deactivated, key destroyed, reported tampered, offline (tamper)"
    got = (
        f"page {'deactivated' if page else 'unchanged'}, "
        f"key {'kept' if k.key_present() else 'destroyed'}, "
        f"reported {'tampered' if reported else 'nothing'}, "
        f"{'offline (tamper)' if offline else 'still online'}"
    )
    return expected, got


async def registered(ctx: FleetContext) -> tuple[str, str]:
    """The kiosks are registered; an unknown id and a wrong-case id are refused (exit 2)."""
    kiosks = [ctx.kiosk, *ctx.others]
    codes = []
    for k in kiosks:
        code, out = await ctx.setup.fleet(
            "devices", "add", k.device_id, "--institution", ctx.institution, "--region", ctx.region
        )
        # a kiosk enrolled by its technician is in the registry already
        codes.append(0 if code == 2 and "already registered" in out else code)
    typo, typo_out = await ctx.setup.fleet("deactivate", "KIOSK-SIM-9999", "--reason", "typo")
    lower = ctx.kiosk.device_id.lower()
    case, case_out = await ctx.setup.fleet("deactivate", lower, "--reason", "typo")
    hint = "did you mean" in case_out and "--force" in typo_out
    status, _ = await ctx.setup.fleet("status", viewer=True)
    expected = "registered, typo exit 2, wrong case exit 2 (with hints), read-only status exit 0"
    got = (
        f"{'registered' if set(codes) == {0} else f'add exit {codes}'}, typo exit {typo}, "
        f"wrong case exit {case}{' (with hints)' if hint else ''}, read-only status exit {status}"
    )
    return expected, got


Scenario = Callable[[FleetContext], Awaitable[tuple[str, str]]]

SCENARIOS: list[tuple[str, Scenario]] = [
    ("broker down then back: no usage lost, none counted twice", broker_down_then_back),
    ("registry: kiosks registered, unknown and wrong-case ids refused", registered),
    ("deactivated mid-session", deactivated_mid_session),
    ("reactivated", reactivated),
    ("deactivated while offline, applied on reconnect", deactivated_while_offline),
    ("reactivated again", reactivated),
    ("certificate renewed on rotate_certificate, verification undisturbed", certificate_rotated),
    ("MCU tamper: deactivated, key destroyed, reported", tamper),
]
"""In order; tamper last (it destroys the device key)."""
