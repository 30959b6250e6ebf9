"""`command` (a signed one-off command) and `keygen` (an admin signing key pair)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fleet.commands.context import Context, add_json
from fleet.errors import EXIT_FAILED, EXIT_USAGE, FleetError
from protocol.mqtt import AckStatus
from protocol.signed import CommandName, private_pem, public_pem


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """command, keygen."""
    c = sub.add_parser("command", help="send a signed one-off command and wait for its ack")
    c.add_argument("device")
    c.add_argument("name", choices=[n.value for n in CommandName])
    c.add_argument("--ttl", type=int, default=300, help="seconds the command stays valid")
    c.add_argument("--timeout", type=float, help="seconds to wait for the acknowledgement")
    c.add_argument("--force", action="store_true", help="act on an unregistered id")
    add_json(c)
    c.set_defaults(func=run_command)

    k = sub.add_parser("keygen", help="make an admin signing key pair (Ed25519)")
    k.add_argument("path", type=Path, help="private key file; the public key goes to PATH.pub")
    add_json(k)
    k.set_defaults(func=run_keygen)


def run_command(ctx: Context) -> int:
    """Send a command; audit it whatever comes of it."""
    a = ctx.args
    ops = ctx.ops
    ops.require_known([a.device], force=a.force, action="command")
    try:
        ack, sha = ops.fleet.command(a.device, CommandName(a.name), ttl=a.ttl, timeout=a.timeout)
    except FleetError as err:
        outcome = "timeout" if err.exit_code == 3 else "failed"
        ops.audit("command", a.device, outcome, command=a.name)
        raise
    outcome = {AckStatus.DONE: "done", AckStatus.REJECTED: "refused"}.get(ack.status, "failed")
    ops.audit("command", a.device, outcome, sha, command=a.name, status=ack.status.value)
    detail = f" ({ack.reason})" if ack.reason else ""
    ctx.emit(
        {"device": a.device, "command": a.name, "status": ack.status.value, "reason": ack.reason},
        f"{a.device}: {a.name} {ack.status.value}{detail}",
    )
    return 0 if ack.status is AckStatus.DONE else EXIT_FAILED


def run_keygen(ctx: Context) -> int:
    """Write a new key pair, never over an existing file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path: Path = ctx.args.path
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
    ctx.emit(
        {"private_key": str(path), "public_key": str(pub_path)},
        f"private key {path}, public key {pub_path} (pin the public key on the kiosks)",
    )
    return 0
