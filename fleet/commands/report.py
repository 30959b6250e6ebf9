"""`report` (a signed semester report of one institution) and `report verify`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fleet.commands.context import Context, add_json
from fleet.errors import EXIT_USAGE, FleetError
from fleet.reports import read_public_key, read_signing_key
from fleet.semester.make import check_institution, make_report, prepare_out
from fleet.semester.period import Semester
from fleet.semester.signature import verify_report
from fleet.semester.sources import GatewayCounts, gateway_counts
from protocol.signed import keyring, load_public_key


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """report, report verify."""
    r = sub.add_parser(
        "report",
        help="make an institution's signed semester report (PDF, CSV/JSON annex)",
        description="kiosk-fleet report --institution ID --semester 2026-2 [--out DIR]",
    )
    r.add_argument("--institution", help="the institution's id")
    r.add_argument("--semester", help="YYYY-1 (January-June) or YYYY-2 (July-December)")
    r.add_argument("--out", type=Path, default=Path("."), help="folder of the files (default .)")
    add_json(r)
    r.set_defaults(func=run_report)
    verbs = r.add_subparsers(dest="verb")
    v = verbs.add_parser("verify", help="check a report's PDF against its signature (exit 5)")
    v.add_argument("pdf", type=Path)
    v.add_argument("--signature", type=Path, help="the signature file (default PDF.sig)")
    v.add_argument(
        "--public-key", type=Path, help="the admin public key (default: from fleet.toml)"
    )
    add_json(v)
    v.set_defaults(func=run_verify)


def run_report(ctx: Context) -> int:
    """Make the report: check every input first, then read, compute, sign, write."""
    a = ctx.args
    if a.institution is None or a.semester is None:
        raise FleetError("report needs --institution ID and --semester YYYY-1|YYYY-2", EXIT_USAGE)
    institution = check_institution(a.institution)
    semester = Semester.parse(a.semester)
    key = read_signing_key(ctx.config)
    out = prepare_out(a.out)
    try:
        client = ctx.fleet.gateway()
    except FleetError as err:  # its TLS files do not load: the report says so
        counts = GatewayCounts(None, None, str(err))
    else:
        counts = gateway_counts(client, institution, semester)
    if counts.error is not None:
        print(
            f"kiosk-fleet: warning: the gateway's counts were not read ({counts.error}); "
            "the report says so and its figures are unreconciled",
            file=sys.stderr,
        )
    made = make_report(
        ctx.store,
        counts,
        key,
        institution=institution,
        semester=semester,
        out=out,
        admin=ctx.fleet.name,
        now=int(time.time()),
    )
    data = made.data
    diffs = len(data.differences)
    state = {True: "reconciled", False: f"{diffs} differences", None: "gateway unreachable"}
    total = data.total
    ctx.emit(
        {
            "institution": institution,
            "semester": str(semester),
            "pdf": str(made.pdf),
            "signature": str(made.signature),
            "csv": str(made.csv),
            "json": str(made.json),
            "sha256": made.sha256,
            "reconciled": data.reconciled,
            "differences": diffs,
            "gateway_error": data.sources.gateway_error,
            "sessions": total.sessions,
            "found": total.found,
            "balikan_sent": total.balikan_sent,
        },
        f"{made.pdf} (signature {made.signature.name}; annex {made.csv.name}, "
        f"{made.json.name})\n{institution} {semester}: {total.sessions} sessions, "
        f"{total.found} FOUND; {state[data.reconciled]}; SHA-256 {made.sha256}",
    )
    return 0


def _keys(ctx: Context) -> dict[str, Ed25519PublicKey]:
    path: Path | None = ctx.args.public_key
    if path is not None:
        try:
            return keyring(load_public_key(path.read_bytes()))
        except OSError as err:
            why = "no such file" if isinstance(err, FileNotFoundError) else "cannot be read"
            raise FleetError(f"--public-key {path}: {why}", EXIT_USAGE) from err
        except ValueError as err:
            raise FleetError(
                f"--public-key {path}: not an Ed25519 public key in PEM", EXIT_USAGE
            ) from err
    config = ctx.config
    if config.public_key is not None:
        return keyring(read_public_key(config))
    if config.signing_key is not None:
        return keyring(read_signing_key(config).public_key())
    raise FleetError(
        f"no admin key to verify with: give --public-key FILE or set [admin] public_key in "
        f"{config.source}",
        EXIT_USAGE,
    )


def run_verify(ctx: Context) -> int:
    """Check the PDF's hash and the signature; exit 5 when it does not verify."""
    pdf_path: Path = ctx.args.pdf
    sig_path: Path = ctx.args.signature or pdf_path.with_name(pdf_path.name + ".sig")
    contents = []
    for path, what in ((pdf_path, "the report"), (sig_path, "the signature (--signature F)")):
        try:
            contents.append(path.read_bytes())
        except OSError as err:
            why = "no such file" if isinstance(err, FileNotFoundError) else "cannot be read"
            raise FleetError(f"{path}: {why} ({what})", EXIT_USAGE) from err
    keys = _keys(ctx)
    statement = verify_report(contents[0], contents[1], keys, str(sig_path))
    annex = {}  # the annex files found beside the PDF are checked too
    for name in statement.annex:
        path = pdf_path.with_name(name)
        if name == Path(name).name and path.is_file():
            annex[name] = path.read_bytes()
    verify_report(contents[0], contents[1], keys, str(sig_path), annex)
    missing = sorted(set(statement.annex) - set(annex))
    ctx.emit(
        {
            "verified": True,
            "pdf": str(pdf_path),
            "sha256": statement.sha256,
            "institution": statement.institution,
            "semester": statement.semester,
            "made_at": statement.made_at,
            "made_by": statement.made_by,
            "kid": statement.kid,
            "annex_verified": sorted(annex),
            "annex_missing": missing,
        },
        f"{pdf_path}: verified: {statement.institution} {statement.semester}, made by "
        f"{statement.made_by}, key {statement.kid}, SHA-256 {statement.sha256}; annex "
        f"{', '.join(sorted(annex)) or 'not found'} verified"
        + (f" ({', '.join(missing)} not beside the PDF: not checked)" if missing else ""),
    )
    return 0
