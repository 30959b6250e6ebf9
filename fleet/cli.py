"""`kiosk-fleet`: the Dukcapil admin's fleet tool.

    kiosk-fleet devices add DEVICE --institution ID --region CODE [--serial S]
                [--cert-serial X --cert-expires T]
    kiosk-fleet devices list [--institution ID] [--region CODE] [--state S]
    kiosk-fleet devices show DEVICE | devices remove DEVICE
    kiosk-fleet deactivate (DEVICE | --institution ID | --region CODE) --reason TEXT [--force]
    kiosk-fleet reactivate (DEVICE | --institution ID | --region CODE) [--reason TEXT] [--force]
    kiosk-fleet sanction set|lift NAME (--institution ID | --device DEVICE) [--quota N]
    kiosk-fleet status [--device DEVICE]
    kiosk-fleet audit [--target X] | audit verify
    kiosk-fleet command DEVICE {ping,report_now,rotate_certificate} [--ttl S] [--timeout S]
    kiosk-fleet report --institution ID --semester YYYY-1|YYYY-2 [--out DIR]
    kiosk-fleet report verify PDF [--signature F] [--public-key F]
    kiosk-fleet evidence [--out DIR] [--write-check] | evidence verify SIG   # PoC evidence
    kiosk-fleet keygen PATH            # a new admin signing key: PATH (private), PATH.pub
    kiosk-fleet serve [--retire] | alerts [--all] [--json]   # the fleet service
    kiosk-fleet ca init|crl|broker-acl PATH                   # the device CA (docs/fleet-ca.md)
    kiosk-fleet technician add NAME | admin add NAME [--read-only]   --out DIR ...
    kiosk-fleet revoke (DEVICE | --person NAME) [--reason R] | decommission DEVICE
    kiosk-fleet enrol-token SERIAL --institution ID --url URL --cert F --key F --ca F

Every command takes --json. Only the commands that sign read the signing key; `status` needs a
(read-only) admin certificate only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from fleet.commands import audit, ca, devices, evidence, misc, report, sanction, state, status
from fleet.commands.context import CONFIG_ENV, Context
from fleet.errors import ConfigError, FleetError
from fleet.service import cli as service_cli

AddParsers = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# The registration point: one `add_parsers(sub)` per group of subcommands.
COMMANDS: list[AddParsers] = [
    devices.add_parsers,
    state.add_parsers,
    sanction.add_parsers,
    status.add_parsers,
    audit.add_parsers,
    misc.add_parsers,
    report.add_parsers,
    evidence.add_parsers,
    ca.add_parsers,
    service_cli.add_parsers,
]

EPILOG = f"""\
configuration: --config FILE, else ${CONFIG_ENV}, else ./fleet.toml

exit codes:
  0  done
  1  failed (broker, gateway, store or files)
  2  usage or configuration (also: an id the registry does not know, without --force)
  3  a kiosk did not report in time (offline: the retained document waits for it)
  4  a kiosk refused the document
  5  the audit chain or a report's signature does not verify (audit verify, report verify)
  6  a duty of the PoC evidence failed (evidence: the report says what to fix)
"""


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(
        prog="kiosk-fleet",
        description="Platform Bersama fleet tool.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, help=f"fleet.toml (default: ${CONFIG_ENV}, ./fleet.toml)")
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; FleetError for anything the admin must know."""
    ctx = Context(args)
    try:
        code: int = args.func(ctx)
        return code
    finally:
        ctx.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of kiosk-fleet."""
    args = parser().parse_args(argv)
    try:
        return run(args)
    except ConfigError as err:
        print(
            f"kiosk-fleet: {err}\n(another file: --config FILE or {CONFIG_ENV}=FILE)",
            file=sys.stderr,
        )
        return err.exit_code
    except FleetError as err:
        print(f"kiosk-fleet: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
