"""Fleet scenarios of the registry, the regulation's sanctions and bulk deactivation, through the
whole stack: the real `kiosk-fleet` sets each sanction, the real gateway refuses or reduces as
the regulation says, and the kiosk shows the right outcome; lifting restores service.

Each scenario returns (expected, got), equal when it passed. They run after the kiosk's own
fleet scenarios and before tamper (`all_scenarios()`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from edge_agent.config import GatewayConfig
from edge_agent.session.gateway_link import GatewayLink
from fleet.actions import Fleet
from fleet.config import load_config
from kiosk_sim.fleet_scenarios import SCENARIOS as FLEET_SCENARIOS
from kiosk_sim.fleet_scenarios import FleetContext, KioskHooks
from protocol.messages import MatchEvidence, ReaderIdentity
from simulators.personas import PERSONAS

REPLAY_KEY_BYTES = 32


async def gateway_lookup(config: GatewayConfig, device_id: str, reader: ReaderIdentity) -> str:
    """One look-up straight to the gateway as this kiosk (its certificate, its gateway link),
    skipping the kiosk's own refusal: the outcome code the gateway gives."""
    link = GatewayLink(config, device_id)
    await link.start()
    try:
        nik = bytearray(PERSONAS["ayu"].nik.encode())
        key = bytearray(secrets.token_bytes(REPLAY_KEY_BYTES))
        match = MatchEvidence("right_index", 120, 1)
        answer = await link.verify(secrets.token_hex(16), nik, match, reader, key)
        return answer.outcome.value
    finally:
        await link.close()


def _gateway(ctx: FleetContext) -> Any:
    client = Fleet(load_config(ctx.setup.fleet_config)).gateway()
    assert client is not None, "fleet.toml has no [gateway]"
    return client


async def _policy(ctx: FleetContext) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with _gateway(ctx) as gw:
            sanctions: dict[str, Any] = gw.policy(ctx.institution)["sanctions"]
            return sanctions

    return await asyncio.to_thread(read)


async def _used_today(ctx: FleetContext) -> int:
    def read() -> int:
        with _gateway(ctx) as gw:
            quota = gw.quota(ctx.institution)
            return 0 if quota is None else quota[0]

    return await asyncio.to_thread(read)


async def _status_sanctions(ctx: FleetContext, device: str) -> list[str]:
    code, out = await ctx.setup.fleet("status", "--json", "--device", device, viewer=True)
    if code != 0:
        return [f"status exit {code}"]
    try:
        rows = json.loads(out)
    except ValueError:
        return ["status not JSON"]
    return [s["sanction"] for row in rows for s in row.get("sanctions", [])]


async def _probe(k: KioskHooks) -> str:
    return await k.gateway_probe() if k.gateway_probe is not None else "no probe"


def _stopping(name: str) -> Callable[[FleetContext], Awaitable[tuple[str, str]]]:
    async def scenario(ctx: FleetContext) -> tuple[str, str]:
        k = ctx.kiosk
        code, _ = await ctx.setup.fleet(
            "sanction", "set", name, "--institution", ctx.institution, "--reason", "demo"
        )
        gateway = (await _policy(ctx)).get(name)
        page = await k.wait_screen("deactivated", ctx.timeout)
        refused = await _probe(k)
        shown = await _status_sanctions(ctx, k.device_id)
        lift, _ = await ctx.setup.fleet("sanction", "lift", name, "--institution", ctx.institution)
        idle = await k.wait_screen("idle", ctx.timeout)
        after = await k.verify() if idle else "-"
        expected = (
            f"exit 0, gateway {name}, kiosk deactivated, gateway DEVICE_DEACTIVATED, "
            f"status {name}; lifted: exit 0, {k.expected_outcome}"
        )
        got = (
            f"exit {code}, gateway {name if gateway is True else 'not told'}, "
            f"kiosk {'deactivated' if page else 'active'}, gateway {refused}, "
            f"status {','.join(shown) or 'none'}; lifted: exit {lift}, {after}"
        )
        return expected, got

    scenario.__doc__ = f"{name}: every kiosk of the institution refused, until lifted."
    return scenario


network_cut = _stopping("network_cut")
approval_revoked = _stopping("approval_revoked")


async def user_deactivated(ctx: FleetContext) -> tuple[str, str]:
    """The institution's user ID deactivated: the kiosk stays active, look-ups USER_INACTIVE."""
    k = ctx.kiosk
    inst = ("--institution", ctx.institution)
    code, _ = await ctx.setup.fleet("sanction", "set", "user_deactivated", *inst)
    shown = await k.verify()
    lift, _ = await ctx.setup.fleet("sanction", "lift", "user_deactivated", *inst)
    after = await k.verify()
    expected = f"exit 0, USER_INACTIVE; lifted: exit 0, {k.expected_outcome}"
    return expected, f"exit {code}, {shown}; lifted: exit {lift}, {after}"


async def quota_reduced(ctx: FleetContext) -> tuple[str, str]:
    """Quota reduced to N (today's use + 1): one more look-up, then QUOTA_EXHAUSTED."""
    k = ctx.kiosk
    inst = ("--institution", ctx.institution)
    n = await _used_today(ctx) + 1
    code, _ = await ctx.setup.fleet("sanction", "set", "quota_reduced", "--quota", str(n), *inst)
    last = await k.verify()
    over = await k.verify()
    lift, _ = await ctx.setup.fleet("sanction", "lift", "quota_reduced", *inst)
    after = await k.verify()
    expected = (
        f"quota {n}: exit 0, look-up {n} {k.expected_outcome}, look-up {n + 1} QUOTA_EXHAUSTED; "
        f"lifted: exit 0, {k.expected_outcome}"
    )
    got = (
        f"quota {n}: exit {code}, look-up {n} {last}, look-up {n + 1} {over}; "
        f"lifted: exit {lift}, {after}"
    )
    return expected, got


async def reader_deactivated(ctx: FleetContext) -> tuple[str, str]:
    """One kiosk's card reader deactivated: that kiosk refused, the others not."""
    k = ctx.kiosk
    dev = ("--device", k.device_id)
    code, _ = await ctx.setup.fleet("sanction", "set", "reader_deactivated", *dev)
    page = await k.wait_screen("deactivated", ctx.timeout)
    refused = await _probe(k)
    others = [await _probe(o) for o in ctx.others]
    lift, _ = await ctx.setup.fleet("sanction", "lift", "reader_deactivated", *dev)
    idle = await k.wait_screen("idle", ctx.timeout)
    after = await k.verify() if idle else "-"
    want_others = ", ".join(o.expected_outcome for o in ctx.others) or "none"
    expected = (
        f"exit 0, kiosk deactivated, gateway DEVICE_DEACTIVATED, others {want_others}; "
        f"lifted: exit 0, {k.expected_outcome}"
    )
    got = (
        f"exit {code}, kiosk {'deactivated' if page else 'active'}, gateway {refused}, "
        f"others {', '.join(others) or 'none'}; lifted: exit {lift}, {after}"
    )
    return expected, got


async def bulk_institution(ctx: FleetContext) -> tuple[str, str]:
    """Every registered kiosk of the institution deactivated with one command, then back."""
    kiosks = [ctx.kiosk, *ctx.others]
    inst = ("--institution", ctx.institution)
    code, out = await ctx.setup.fleet("deactivate", *inst, "--reason", "demo: bulk", "--json")
    try:
        applied = json.loads(out)["summary"]["applied"]
    except (ValueError, KeyError, TypeError):
        applied = -1
    pages = [await k.wait_screen("deactivated", ctx.timeout) for k in kiosks]
    back, back_out = await ctx.setup.fleet("reactivate", *inst)
    idle = [await k.wait_screen("idle", ctx.timeout) for k in kiosks]
    n = len(kiosks)
    expected = f"exit 0, {n} applied, {n} deactivated; reactivated: exit 0, {n} idle"
    got = (
        f"exit {code}, {applied} applied, {sum(pages)} deactivated; "
        f"reactivated: exit {back}, {sum(idle)} idle"
    ) + ("" if back == 0 else f" ({back_out.strip()[-160:]})")
    return expected, got


async def audit_intact(ctx: FleetContext) -> tuple[str, str]:
    """Every action above is in the audit trail, and its hash chain verifies."""
    code, out = await ctx.setup.fleet("audit", "verify", "--json")
    try:
        lines = int(json.loads(out)["lines"])
    except (ValueError, KeyError, TypeError):
        lines = -1
    chain = "intact" if code == 0 else "broken"
    return "exit 0, chain intact, lines kept", f"exit {code}, chain {chain}, " + (
        "lines kept" if lines > 0 else "no lines"
    )


Scenario = Callable[[FleetContext], Awaitable[tuple[str, str]]]


def all_scenarios(*, service: bool = False) -> list[tuple[str, Scenario]]:
    """The kiosk's fleet scenarios, then these, then tamper (it destroys the device key); with
    a fleet service, what it stored is checked too and tamper waits for its alert."""
    from kiosk_sim.fleet_seen import SERVICE_SCENARIOS, tamper_alerted

    *before, (name, tamper) = FLEET_SCENARIOS
    if not service:
        return [*before, *SANCTION_SCENARIOS, (name, tamper)]
    name = f"{name}, alerted by the fleet service"
    return [*before, *SERVICE_SCENARIOS, *SANCTION_SCENARIOS, (name, tamper_alerted)]


SANCTION_SCENARIOS: list[tuple[str, Scenario]] = [
    ("sanction network_cut: refused at the gateway and on the kiosk, lifted", network_cut),
    ("sanction approval_revoked: refused, lifted", approval_revoked),
    ("sanction user_deactivated: USER_INACTIVE, lifted", user_deactivated),
    ("sanction quota_reduced: N look-ups, then QUOTA_EXHAUSTED, lifted", quota_reduced),
    ("sanction reader_deactivated: that kiosk refused, lifted", reader_deactivated),
    ("bulk: an institution's kiosks deactivated and reactivated", bulk_institution),
    ("audit trail: every action, chain intact", audit_intact),
]
"""After `registered` and the kiosk's own fleet scenarios, before tamper."""
