"""`kiosk-fleet`: the Dukcapil admin's fleet tool.

    kiosk-fleet deactivate DEVICE --reason TEXT [--sanction NAME]... [--timeout S] [--no-gateway]
    kiosk-fleet reactivate DEVICE [--reason TEXT] [--timeout S] [--no-gateway]
    kiosk-fleet status [--json] [--device DEVICE]
    kiosk-fleet command DEVICE {ping,report_now,rotate_certificate} [--ttl S] [--timeout S]
    kiosk-fleet keygen PATH            # a new admin signing key: PATH (private), PATH.pub
    kiosk-fleet serve | alerts [--all] [--json]   # the fleet service (fleet/service/cli.py)

The configuration is `--config`, else $KIOSK_FLEET_CONFIG, else ./fleet.toml. Exit codes: 0 done,
1 failed (broker, gateway, files), 2 usage or configuration, 3 the kiosk did not report in time
(it is offline: the retained document waits for it), 4 the kiosk refused the document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fleet.actions import Fleet
from fleet.config import load_config
from fleet.errors import EXIT_FAILED, EXIT_USAGE, FleetError
from fleet.service import cli as service_cli
from fleet.status import build_rows, format_table
from protocol.mqtt import AckStatus
from protocol.signed import MAX_REASON_CHARS, CommandName, Sanction, private_pem, public_pem


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kiosk-fleet", description="Platform Bersama fleet tool.")
    p.add_argument("--config", type=Path, help="fleet.toml (default: $KIOSK_FLEET_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("deactivate", help="deactivate a kiosk (signed, retained, gateway too)")
    d.add_argument("device")
    d.add_argument("--reason", required=True, help=f"why (at most {MAX_REASON_CHARS} characters)")
    d.add_argument(
        "--sanction",
        action="append",
        choices=[s.value for s in Sanction],
        help="a PKS sanction to record (repeatable; default reader_deactivated)",
    )
    r = sub.add_parser("reactivate", help="reactivate a kiosk (a later signed version)")
    r.add_argument("device")
    r.add_argument("--reason", default="reactivated", help="why")
    for q in (d, r):
        q.add_argument("--timeout", type=float, help="seconds to wait for the kiosk's report")
        q.add_argument(
            "--no-gateway", action="store_true", help="do not revoke/reinstate at the gateway"
        )

    s = sub.add_parser("status", help="the fleet from retained state and last health")
    s.add_argument("--json", action="store_true", help="JSON (one array of objects)")
    s.add_argument("--device", help="only this kiosk")

    c = sub.add_parser("command", help="send a signed one-off command and wait for its ack")
    c.add_argument("device")
    c.add_argument("name", choices=[n.value for n in CommandName])
    c.add_argument("--ttl", type=int, default=300, help="seconds the command stays valid")
    c.add_argument("--timeout", type=float, help="seconds to wait for the acknowledgement")

    k = sub.add_parser("keygen", help="make an admin signing key pair (Ed25519)")
    k.add_argument("path", type=Path, help="private key file; the public key goes to PATH.pub")
    service_cli.add_parsers(sub)
    return p


def _config_path(arg: Path | None) -> Path:
    if arg is not None:
        return arg
    env = os.environ.get("KIOSK_FLEET_CONFIG")
    return Path(env) if env else Path("fleet.toml")


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; FleetError for anything the admin must know."""
    if args.command == "keygen":
        return _keygen(args.path)
    if args.command in service_cli.COMMANDS:
        return service_cli.run(args, load_config(_config_path(args.config)))
    fleet = Fleet(load_config(_config_path(args.config)))
    if args.command in ("deactivate", "reactivate"):
        deactivate = args.command == "deactivate"
        reason = args.reason
        if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
            raise FleetError(
                f"--reason must be printable and at most {MAX_REASON_CHARS} characters", EXIT_USAGE
            )
        sanctions: tuple[Sanction, ...] = ()
        if deactivate:
            names = sorted(set(args.sanction or [Sanction.READER_DEACTIVATED.value]))
            sanctions = tuple(Sanction(n) for n in names)
        change = fleet.set_state(
            args.device,
            deactivate=deactivate,
            reason=reason,
            sanctions=sanctions,
            timeout=args.timeout,
            use_gateway=not args.no_gateway,
        )
        state = "deactivated" if change.deactivated else "active"
        print(
            f"{change.device}: {state} (version {change.version}), reported in "
            f"{change.elapsed_s:.2f} s; gateway: {change.gateway}"
        )
        return 0
    if args.command == "status":
        rows = build_rows(fleet.snapshot(), fleet.keys)
        if args.device:
            rows = [r for r in rows if r.device == args.device]
        if args.json:
            print(json.dumps([r.to_json() for r in rows], indent=2))
        else:
            print(format_table(rows))
        return 0
    ack = fleet.command(args.device, CommandName(args.name), ttl=args.ttl, timeout=args.timeout)
    detail = f" ({ack.reason})" if ack.reason else ""
    print(f"{args.device}: {args.name} {ack.status.value}{detail}")
    return 0 if ack.status is AckStatus.DONE else EXIT_FAILED


def _keygen(path: Path) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub_path = path.with_name(path.name + ".pub")
    if path.exists() or pub_path.exists():
        raise FleetError(f"{path} or {pub_path.name} exists: not overwritten", EXIT_USAGE)
    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem(key))
        pub_path.write_bytes(public_pem(key.public_key()))
    except OSError as err:
        raise FleetError(f"cannot write the key: {err.strerror}") from err
    print(f"private key {path}, public key {pub_path} (pin the public key on the kiosks)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of kiosk-fleet."""
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except FleetError as err:
        print(f"kiosk-fleet: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
