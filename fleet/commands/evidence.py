"""`evidence` (the PoC evidence of the PKS and Juknis duties) and `evidence verify`."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fleet.commands.context import Context, add_json
from fleet.errors import EXIT_USAGE, FleetError
from fleet.evidence.model import Evidence
from fleet.evidence.render import render_text
from fleet.evidence.run import collect
from fleet.evidence.signature import read_statement, sign_evidence, verify_evidence
from fleet.reports import read_public_key, read_signing_key
from protocol.signed import keyring, load_public_key

EXIT_DUTY_FAILED = 6


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """evidence, evidence verify."""
    e = sub.add_parser(
        "evidence",
        help="check the PKS and Juknis duties on this deployment (exit 6 when one fails)",
        description="kiosk-fleet evidence [--json] [--out DIR] [--write-check]; "
        "kiosk-fleet evidence verify SIGNATURE",
    )
    e.add_argument("--out", type=Path, help="write the signed report (JSON, text, .sig) there")
    e.add_argument(
        "--write-check",
        action="store_true",
        help="also write each institution's sanctions back unchanged (proves they can be set)",
    )
    add_json(e)
    e.set_defaults(func=run_evidence)
    verbs = e.add_subparsers(dest="verb")
    v = verbs.add_parser("verify", help="check an evidence report's signature (exit 5)")
    v.add_argument("signature", type=Path, help="the .sig file (its files beside it)")
    v.add_argument(
        "--public-key", type=Path, help="the admin public key (default: from fleet.toml)"
    )
    add_json(v)
    v.set_defaults(func=run_verify)


def _keys(ctx: Context, path: Path | None, required: bool) -> dict[str, Ed25519PublicKey] | None:
    if path is not None:
        try:
            return keyring(load_public_key(path.read_bytes()))
        except OSError as err:
            raise FleetError(f"--public-key {path}: cannot be read", EXIT_USAGE) from err
        except ValueError as err:
            raise FleetError(f"--public-key {path}: not an Ed25519 public key", EXIT_USAGE) from err
    config = ctx.config
    if config.public_key is not None:
        return keyring(read_public_key(config))
    if config.signing_key is not None:
        return keyring(read_signing_key(config).public_key())
    if required:
        raise FleetError(
            f"no admin key to verify with: give --public-key FILE or set [admin] public_key in "
            f"{config.source}",
            EXIT_USAGE,
        )
    return None


def _write(out: Path, ev: Evidence, text: str, ctx: Context) -> dict[str, str]:
    key = read_signing_key(ctx.config)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FleetError(f"--out {out}: cannot be made ({err.strerror})") from err
    stem = "bukti-poc-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ev.made_at))
    files = {
        f"{stem}.json": (json.dumps(ev.to_json(), indent=2, ensure_ascii=False) + "\n").encode(),
        f"{stem}.txt": text.encode(),
    }
    sig = sign_evidence(files, key, ok=ev.ok, made_at=ev.made_at, made_by=ev.made_by)
    files[f"{stem}.sig"] = sig
    written = {}
    for name, data in files.items():
        path = out / name
        try:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as err:
            raise FleetError(f"{path}: cannot be written ({err.strerror})") from err
        written[name.rsplit(".", 1)[1]] = str(path)
    return written


def run_evidence(ctx: Context) -> int:
    """Run every check; print the report; with --out, write it signed. Exit 6 on a FAIL."""
    admin = ctx.fleet.gateway()
    try:
        ev = collect(
            ctx.config,
            admin,
            _keys(ctx, None, required=False),
            write_check=bool(ctx.args.write_check),
            made_by=ctx.fleet.name,
        )
    finally:
        if admin is not None:
            admin.close()
    text = render_text(ev)
    written = _write(ctx.args.out, ev, text, ctx) if ctx.args.out is not None else {}
    where = "".join(f"\n{kind}: {path}" for kind, path in written.items())
    ctx.emit({**ev.to_json(), "files": written}, text.rstrip() + where)
    return 0 if ev.ok else EXIT_DUTY_FAILED


def run_verify(ctx: Context) -> int:
    """Check the signature and the files it names; exit 5 when they do not verify."""
    sig_path: Path = ctx.args.signature
    try:
        raw = sig_path.read_bytes()
    except OSError as err:
        raise FleetError(f"{sig_path}: cannot be read (the signature)", EXIT_USAGE) from err
    statement, _ = read_statement(raw, str(sig_path))
    files = {}
    for name in statement.files:
        path = sig_path.with_name(name)
        if path.is_file():
            files[name] = path.read_bytes()
    keys = _keys(ctx, ctx.args.public_key, required=True)
    assert keys is not None
    st = verify_evidence(raw, files, keys, str(sig_path))
    verdict = "LULUS / PASS" if st.ok else "GAGAL / FAIL"
    ctx.emit(
        {
            "verified": True,
            "files": dict(st.files),
            "ok": st.ok,
            "made_at": st.made_at,
            "made_by": st.made_by,
            "kid": st.kid,
        },
        f"{sig_path}: verified: {', '.join(st.files)}; made by {st.made_by}, key {st.kid}; "
        f"result {verdict}",
    )
    return 0
