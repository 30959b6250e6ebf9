"""`deactivate` and `reactivate`: one kiosk, or every registered kiosk of an institution or a
region (one signed document each, published together, all reports awaited at once)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fleet.actions import DeviceResult, Outcome
from fleet.commands.context import Context, add_json, check_reason
from fleet.errors import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, EXIT_TIMEOUT, EXIT_USAGE, FleetError
from fleet.operations import INSTITUTION_SANCTIONS
from protocol.signed import MAX_REASON_CHARS, Sanction

EXIT_OF = {
    Outcome.DONE: EXIT_OK,
    Outcome.TIMEOUT: EXIT_TIMEOUT,
    Outcome.REFUSED: EXIT_REJECTED,
    Outcome.FAILED: EXIT_FAILED,
}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """deactivate, reactivate."""
    d = sub.add_parser("deactivate", help="deactivate kiosks (signed, retained, gateway too)")
    d.add_argument("--reason", required=True, help=f"why (at most {MAX_REASON_CHARS} characters)")
    d.add_argument(
        "--sanction",
        choices=[s.value for s in Sanction],
        help="deactivate as the PKS sanction reader_deactivated (an institution's sanctions: "
        "kiosk-fleet sanction)",
    )
    r = sub.add_parser("reactivate", help="reactivate kiosks (a later signed version)")
    r.add_argument("--reason", default="reactivated", help="why")
    for q in (d, r):
        q.add_argument("device", nargs="?", help="a kiosk's id")
        q.add_argument("--institution", help="every registered kiosk of this institution")
        q.add_argument("--region", help="every registered kiosk of this region (code prefix)")
        q.add_argument("--timeout", type=float, help="seconds to wait for the kiosks' reports")
        q.add_argument(
            "--no-gateway", action="store_true", help="do not revoke/reinstate at the gateway"
        )
        q.add_argument("--force", action="store_true", help="act on an unregistered id")
        add_json(q)
        q.set_defaults(func=run_state)


def run_state(ctx: Context) -> int:
    """Deactivate or reactivate."""
    a = ctx.args
    deactivate = a.command == "deactivate"
    reason = check_reason(a.reason)
    chosen = [x for x in (a.device, a.institution, a.region) if x is not None]
    if len(chosen) != 1:
        raise FleetError("name one kiosk, or --institution ID, or --region CODE", EXIT_USAGE)
    sanction = Sanction(a.sanction) if deactivate and a.sanction else None
    if sanction is not None:
        return _as_sanction(ctx, sanction, reason)
    ops = ctx.ops
    if a.device is not None:
        result = ops.set_state(
            [a.device],
            deactivate=deactivate,
            reason=reason,
            force=a.force,
            timeout=a.timeout,
            use_gateway=not a.no_gateway,
        )
        return _one(ctx, result.results[0])
    bulk = f"institution:{a.institution}" if a.institution else f"region:{a.region}"
    entries = ops.matching(institution=a.institution, region=a.region)
    if not entries:
        raise FleetError(
            f"no registered kiosk matches {bulk} (see kiosk-fleet devices list)", EXIT_USAGE
        )
    result = ops.set_state(
        [e.device for e in entries],
        deactivate=deactivate,
        reason=reason,
        timeout=a.timeout,
        use_gateway=not a.no_gateway,
        bulk=bulk,
        progress=None if ctx.json else ctx.progress(),
    )
    for r in result.results:
        if r.outcome is not Outcome.DONE:
            print(f"kiosk-fleet: {r.detail}", file=sys.stderr)
    ctx.emit(
        {
            "target": bulk,
            "outcome": result.outcome.value,
            "summary": summary(result.results),
            "kiosks": [r.to_json() for r in result.results],
        },
        f"{bulk}: {summary_text(result.results)}",
    )
    return EXIT_OF[result.outcome]


def _as_sanction(ctx: Context, sanction: Sanction, reason: str) -> int:
    a = ctx.args
    if sanction in INSTITUTION_SANCTIONS or a.device is None:
        raise FleetError(
            f"{sanction.value} is a sanction on an institution: `kiosk-fleet sanction set "
            f"--institution ID {sanction.value}` acts at the gateway and on its kiosks together",
            EXIT_USAGE,
        )
    if sanction is not Sanction.READER_DEACTIVATED:
        raise FleetError(f"{sanction.value} is not a sanction kiosk-fleet sets", EXIT_USAGE)
    result = ctx.ops.sanction(
        sanction, lift=False, device=a.device, reason=reason, force=a.force, timeout=a.timeout
    )
    return _one(ctx, result.results[0])


def _one(ctx: Context, r: DeviceResult) -> int:
    """One kiosk's result: on stdout when done (or as JSON), else on stderr."""
    if r.outcome is Outcome.DONE or ctx.json:
        ctx.emit(r.to_json(), _line(r))
    if r.outcome is not Outcome.DONE:
        print(f"kiosk-fleet: {r.detail}", file=sys.stderr)
    return EXIT_OF[r.outcome]


def _line(r: DeviceResult) -> str:
    if r.outcome is Outcome.DONE:
        state = "deactivated" if r.deactivated else "active"
        return (
            f"{r.device}: {state} (version {r.version}), reported in {r.elapsed_s:.2f} s; "
            f"gateway: {r.gateway}"
        )
    return r.detail


def summary(results: Sequence[DeviceResult]) -> dict[str, int]:
    """Counts of applied, offline/pending, refused and failed kiosks."""
    return {
        "applied": sum(r.outcome is Outcome.DONE for r in results),
        "pending": sum(r.outcome is Outcome.TIMEOUT for r in results),
        "refused": sum(r.outcome is Outcome.REFUSED for r in results),
        "failed": sum(r.outcome is Outcome.FAILED for r in results),
    }


def summary_text(results: Sequence[DeviceResult]) -> str:
    """One line: N kiosks: applied, offline/pending, refused, failed."""
    s = summary(results)
    return (
        f"{len(results)} kiosks: {s['applied']} applied, {s['pending']} offline/pending "
        f"(the retained document waits), {s['refused']} refused, {s['failed']} failed"
    )
