"""`status`: the fleet from the broker's retained messages, with the sanctions in force. Needs
no signing key: a read-only admin certificate is enough."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from fleet.commands.context import Context, add_json, iso
from fleet.errors import FleetError
from fleet.status import build_rows, format_table
from fleet.store.base import SanctionInForce, Scope

_log = logging.getLogger(__name__)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """status."""
    s = sub.add_parser("status", help="the fleet from retained state, last health, sanctions")
    s.add_argument("--device", help="only this kiosk")
    add_json(s)
    s.set_defaults(func=run_status)


def sanction_json(s: SanctionInForce) -> dict[str, Any]:
    """A sanction in force as JSON."""
    return {
        "sanction": s.sanction.value,
        "scope": s.scope.value,
        "target": s.target,
        "since": s.since,
        "by": s.by,
        "reason": s.reason,
        "value": s.value,
    }


def _sanctions(ctx: Context) -> list[SanctionInForce] | None:
    try:
        return ctx.store.sanctions()
    except FleetError as err:  # status still shows the broker's view
        print(f"kiosk-fleet: sanctions not shown: {err}", file=sys.stderr)
        return None


def run_status(ctx: Context) -> int:
    """Print the fleet table and the sanctions in force."""
    fleet = ctx.fleet
    rows = build_rows(fleet.snapshot(), fleet.keys)
    if ctx.args.device:
        rows = [r for r in rows if r.device == ctx.args.device]
    sanctions = _sanctions(ctx)
    institutions: dict[str, str] = {}
    if sanctions:
        for r in rows:
            entry = ctx.store.device(r.device)
            if entry is not None:
                institutions[r.device] = entry.institution

    def of(device: str) -> list[dict[str, Any]]:
        inst = institutions.get(device)
        return [
            sanction_json(s)
            for s in sanctions or []
            if (s.scope is Scope.DEVICE and s.target == device)
            or (s.scope is Scope.INSTITUTION and s.target == inst)
        ]

    text = format_table(rows)
    if sanctions:
        text += "\n\nSANCTIONS IN FORCE\n" + "\n".join(
            f"{s.sanction.value}{'' if s.value is None else f' ({s.value})'}  "
            f"{s.scope.value} {s.target}  since {iso(s.since)}  by {s.by}"
            for s in sanctions
        )
    ctx.emit([{**r.to_json(), "sanctions": of(r.device)} for r in rows], text)
    return 0
