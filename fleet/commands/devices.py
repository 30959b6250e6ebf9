"""`devices add|list|show|remove`: the registry of kiosks."""

from __future__ import annotations

import argparse
import calendar
import re
import time
from typing import Any

from fleet.commands.context import Context, add_json, iso
from fleet.commands.records import EXIT_CHAIN_BROKEN, chain_report
from fleet.errors import EXIT_USAGE, FleetError
from fleet.store.base import DeviceEntry, DeviceFilter, DeviceState, FleetRow, Scope
from protocol.mqtt import is_device_id

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_REGION = re.compile(r"^[0-9]{2}([0-9]{2})?\Z")
_SERIAL = re.compile(r"^[A-Za-z0-9._:/-]{1,80}\Z")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """devices add|list|show|remove."""
    d = sub.add_parser("devices", aliases=["device"], help="the registry of kiosks")
    verbs = d.add_subparsers(dest="verb", required=True)
    a = verbs.add_parser("add", help="register a kiosk")
    a.add_argument("device")
    a.add_argument("--institution", required=True, help="its institution's id")
    a.add_argument("--region", required=True, help="province (2 digits) or regency (4 digits)")
    a.add_argument("--serial", default="", help="the kiosk's hardware serial")
    a.add_argument("--cert-serial", help="its certificate's serial (hex)")
    a.add_argument("--cert-expires", help="its certificate's expiry (UTC ISO, or Unix seconds)")
    a.set_defaults(func=run_add)
    ls = verbs.add_parser("list", help="registered kiosks")
    ls.add_argument("--institution")
    ls.add_argument("--region", help="a code prefix: 32 matches 32 and 3273")
    ls.add_argument("--state", choices=[s.value for s in DeviceState])
    ls.set_defaults(func=run_list)
    sh = verbs.add_parser(
        "show", help="one kiosk's entry, sanctions and handover records (chain checked)"
    )
    sh.add_argument("device")
    sh.set_defaults(func=run_show)
    rm = verbs.add_parser(
        "remove", help="remove an entry made by mistake (its gateway revocation undone)"
    )
    rm.add_argument("device")
    rm.set_defaults(func=run_remove)
    for p in (a, ls, sh, rm):
        add_json(p)


def _check(value: str | None, pattern: re.Pattern[str], what: str) -> None:
    if value is not None and not pattern.match(value):
        raise FleetError(f"not {what}: {value!r}", EXIT_USAGE)


def _when(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt))
        except ValueError:
            continue
    raise FleetError(f"--cert-expires: not a time (YYYY-MM-DDTHH:MM:SSZ): {text!r}", EXIT_USAGE)


def entry_json(e: DeviceEntry) -> dict[str, Any]:
    """A registry entry as JSON."""
    return {
        "device": e.device,
        "institution": e.institution,
        "region": e.region,
        "serial": e.serial,
        "bindings": dict(e.bindings),
        "cert_serial": e.cert_serial,
        "cert_expires": e.cert_expires,
        "state": e.state.value,
        "registered_at": e.registered_at,
    }


def run_add(ctx: Context) -> int:
    """Register a kiosk."""
    a = ctx.args
    if not is_device_id(a.device):
        raise FleetError(f"not a device id: {a.device!r}", EXIT_USAGE)
    _check(a.institution, _ID, "an institution id")
    _check(a.region, _REGION, "a region code (2 or 4 digits)")
    _check(a.serial or None, _SERIAL, "a serial")
    _check(a.cert_serial, re.compile(r"^[0-9A-Fa-f:]{1,80}\Z"), "a certificate serial (hex)")
    ops = ctx.ops
    store = ops.store
    if store.device(a.device) is not None:
        raise FleetError(f"{a.device} is already registered (kiosk-fleet devices show)", EXIT_USAGE)
    twin = next((r.device for r in store.fleet() if r.device.lower() == a.device.lower()), None)
    if twin is not None and twin != a.device and store.device(twin) is not None:
        raise FleetError(f"{twin} is registered: ids differ only in case", EXIT_USAGE)
    entry = DeviceEntry(
        device=a.device,
        institution=a.institution,
        region=a.region,
        serial=a.serial,
        cert_serial=a.cert_serial,
        cert_expires=_when(a.cert_expires),
        registered_at=int(time.time()),
    )
    store.put_device(entry)
    ops.audit("register", a.device, "done", institution=a.institution, region=a.region)
    ctx.emit(entry_json(entry), f"{a.device}: registered ({a.institution}, region {a.region})")
    return 0


def run_list(ctx: Context) -> int:
    """The registry, filtered."""
    a = ctx.args
    where = DeviceFilter(a.institution, a.region, DeviceState(a.state) if a.state else None)
    rows = [r for r in ctx.store.fleet(where) if r.entry is not None]
    ctx.emit([_row_json(r) for r in rows], format_entries(rows))
    return 0


def _row_json(r: FleetRow) -> dict[str, Any]:
    assert r.entry is not None
    return {**entry_json(r.entry), "presence": r.presence, "last_seen": r.last_seen}


def format_entries(rows: list[FleetRow]) -> str:
    """The registry as a table (times in UTC)."""
    head = ("DEVICE", "INSTITUTION", "REGION", "STATE", "SERIAL", "CERT EXPIRES", "LAST SEEN")
    table = [head]
    for r in rows:
        e = r.entry
        assert e is not None
        table.append(
            (
                e.device,
                e.institution,
                e.region,
                e.state.value,
                e.serial or "-",
                iso(e.cert_expires),
                iso(r.last_seen),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    if not rows:
        lines.append("(no kiosk registered: kiosk-fleet devices add)")
    return "\n".join(lines)


def run_show(ctx: Context) -> int:
    """One kiosk's entry and the sanctions in force for it."""
    store = ctx.store
    entry = store.device(ctx.args.device)
    if entry is None:
        raise FleetError(f"{ctx.args.device} is not in the registry", EXIT_USAGE)
    sanctions = store.sanctions(Scope.DEVICE, entry.device) + store.sanctions(
        Scope.INSTITUTION, entry.institution
    )
    obj = {
        **entry_json(entry),
        "sanctions": [
            {
                "sanction": s.sanction.value,
                "scope": s.scope.value,
                "target": s.target,
                "since": s.since,
                "by": s.by,
                "value": s.value,
            }
            for s in sanctions
        ],
    }
    times = {"cert_expires": iso(entry.cert_expires), "registered_at": iso(entry.registered_at)}
    lines = [f"{k}: {times.get(k, v)}" for k, v in entry_json(entry).items() if k != "bindings"]
    lines += [f"binding {k}: {v}" for k, v in sorted(entry.bindings.items())]
    lines += [
        f"sanction {s.sanction.value} ({s.scope.value} {s.target}) since {iso(s.since)}"
        for s in sanctions
    ]
    chain = chain_report(ctx, entry.device)
    obj["records"], obj["records_intact"] = chain.records, not chain.broken
    ctx.emit(obj, "\n".join(lines + chain.lines))
    return EXIT_CHAIN_BROKEN if chain.broken else 0


def run_remove(ctx: Context) -> int:
    """Remove an entry made by mistake, and undo its revocation at the gateway."""
    device = ctx.args.device
    ops = ctx.ops
    store = ops.store
    registered = store.device(device) is not None
    held = store.sanctions(Scope.DEVICE, device)
    if held:
        raise FleetError(
            f"{device}: lift {held[0].sanction.value} first "
            f"(kiosk-fleet sanction lift {held[0].sanction.value} --device {device})",
            EXIT_USAGE,
        )
    gateway = ops.fleet.gateway()
    revoked = False
    if gateway is not None:
        with gateway:
            revoked = device in gateway.revoked()
            if not registered and not revoked:
                why = f"{device} is neither registered nor revoked at the gateway"
                raise FleetError(why, EXIT_USAGE)
            if revoked:
                try:
                    gateway.set_revoked(device, False)
                except FleetError:
                    ops.audit("unregister", device, "failed", gateway="reinstate_failed")
                    raise
    elif not registered:
        raise FleetError(f"{device} is not in the registry", EXIT_USAGE)
    store.remove_device(device)
    ops.audit("unregister", device, "done", registered=registered, reinstated=revoked)
    done = "removed from the registry" if registered else "not registered"
    gw = "; reinstated at the gateway" if revoked else ""
    ctx.emit(
        {"device": device, "removed": registered, "reinstated": revoked}, f"{device}: {done}{gw}"
    )
    return 0
