"""`audit [--target X]` lists the audit trail; `audit verify` checks its hash chain."""

from __future__ import annotations

import argparse
from typing import Any

from fleet.commands.context import Context, add_json, iso
from fleet.errors import FleetError
from fleet.store.base import AuditLine

EXIT_BROKEN = 5  # the audit chain does not verify


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """audit, audit verify."""
    a = sub.add_parser("audit", help="the audit trail of admin actions (and `audit verify`)")
    a.add_argument("--target", help="only the lines of a kiosk id, institution:ID or region:CODE")
    add_json(a)
    a.set_defaults(func=run_list)
    verbs = a.add_subparsers(dest="verb")
    v = verbs.add_parser("verify", help="check the hash chain (exit 5 naming the first bad line)")
    v.add_argument("--head", help="a head hash noted down earlier: a lost tail is detected too")
    add_json(v)
    v.set_defaults(func=run_verify)


def line_json(line: AuditLine) -> dict[str, Any]:
    """An audit line as JSON."""
    e = line.entry
    return {
        "seq": line.seq,
        "at": e.at,
        "admin": e.admin,
        "action": e.action,
        "target": e.target,
        "outcome": e.outcome,
        "document_sha256": e.document_sha256,
        "detail": dict(e.detail),
        "prev_hash": line.prev_hash,
        "hash": line.hash,
    }


def run_list(ctx: Context) -> int:
    """The audit lines, oldest first."""
    lines = ctx.store.audit_lines(ctx.args.target)
    text = [f"{'SEQ':>5}  {'TIME (UTC)':20}  ADMIN  ACTION  TARGET  OUTCOME  DOCUMENT"]
    for line in lines:
        e = line.entry
        sha = e.document_sha256[:16] if e.document_sha256 else "-"
        text.append(
            f"{line.seq:>5}  {iso(e.at):20}  {e.admin}  {e.action}  {e.target}  {e.outcome}  {sha}"
        )
    if not lines:
        text.append("(no audit line)")
    ctx.emit([line_json(x) for x in lines], "\n".join(text))
    return 0


def run_verify(ctx: Context) -> int:
    """Verify the whole chain; print the head hash."""
    from fleet.audit import verify_chain

    lines = ctx.store.audit_lines()
    problems = verify_chain(lines, ctx.args.head)
    head = lines[-1].hash if lines else None
    ctx.emit(
        {"ok": not problems, "lines": len(lines), "head": head, "problems": problems},
        f"audit chain: {len(lines)} lines, head {head or '-'}: "
        + ("intact" if not problems else f"BROKEN: {problems[0]}"),
    )
    if problems:
        raise FleetError(f"the audit chain is broken: {problems[0]}", EXIT_BROKEN)
    return 0
