"""`sanction set|lift`: the regulation's sanctions, at the gateway and on the kiosks together."""

from __future__ import annotations

import argparse
import sys

from fleet.commands.context import Context, add_json, check_reason
from fleet.commands.state import EXIT_OF, summary, summary_text
from fleet.errors import EXIT_USAGE, FleetError
from fleet.operations import DEVICE_SANCTIONS, INSTITUTION_SANCTIONS
from protocol.signed import Sanction

_ALL = [s.value for s in (*INSTITUTION_SANCTIONS, *DEVICE_SANCTIONS)]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """sanction set|lift."""
    s = sub.add_parser(
        "sanction",
        help="set or lift a sanction (gateway policy and kiosks' signed state)",
        description="Institution: quota_reduced --quota N, user_deactivated, network_cut, "
        "approval_revoked. Kiosk: reader_deactivated. network_cut, approval_revoked and "
        "reader_deactivated deactivate the kiosks; the others keep them active and the gateway "
        "answers QUOTA_EXHAUSTED or USER_INACTIVE.",
    )
    s.add_argument("verb", choices=["set", "lift"])
    s.add_argument("sanction", choices=_ALL)
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--institution", help="an institution's id (its sanctions)")
    where.add_argument("--device", help="a kiosk's id (reader_deactivated)")
    s.add_argument("--quota", type=int, help="look-ups a day (quota_reduced)")
    s.add_argument("--reason", help="why (in the signed documents; default: PKS sanction)")
    s.add_argument("--timeout", type=float, help="seconds to wait for the kiosks' reports")
    s.add_argument("--force", action="store_true", help="act on an unregistered kiosk id")
    add_json(s)
    s.set_defaults(func=run_sanction)


def run_sanction(ctx: Context) -> int:
    """Set or lift one sanction."""
    a = ctx.args
    sanction = Sanction(a.sanction)
    lift = a.verb == "lift"
    if sanction in INSTITUTION_SANCTIONS and a.institution is None:
        why = f"{sanction.value} applies to an institution: --institution ID"
        raise FleetError(why, EXIT_USAGE)
    if sanction in DEVICE_SANCTIONS and a.device is None:
        raise FleetError(f"{sanction.value} applies to a kiosk: --device ID", EXIT_USAGE)
    if sanction is Sanction.QUOTA_REDUCED and not lift:
        if a.quota is None or not 0 <= a.quota <= 10_000_000:
            raise FleetError("quota_reduced needs --quota N (0 to 10000000)", EXIT_USAGE)
    elif a.quota is not None:
        raise FleetError("--quota goes with `sanction set ... quota_reduced` only", EXIT_USAGE)
    result = ctx.ops.sanction(
        sanction,
        lift=lift,
        institution=a.institution,
        device=a.device,
        quota=a.quota,
        reason=check_reason(a.reason or ("PKS sanction lifted" if lift else "PKS sanction")),
        force=a.force,
        timeout=a.timeout,
        progress=None if ctx.json else ctx.progress(),
    )
    target = f"institution {a.institution}" if a.institution else a.device
    value = f" (quota {a.quota})" if a.quota is not None else ""
    verb = "lifted" if lift else "set"
    for r in result.results:
        if r.outcome.value != "done":
            print(f"kiosk-fleet: {r.detail}", file=sys.stderr)
    lines = [
        f"{sanction.value}{value} {verb} for {target}: gateway done; "
        + summary_text(result.results)
    ]
    ctx.emit(
        {
            "sanction": sanction.value,
            "action": a.verb,
            "target": target,
            "quota": a.quota,
            "gateway": result.gateway,
            "outcome": result.outcome.value,
            "summary": summary(result.results),
            "kiosks": [r.to_json() for r in result.results],
        },
        "\n".join(lines),
    )
    return EXIT_OF[result.outcome]
