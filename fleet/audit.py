"""The audit trail's hash chain (pure, no I/O): each line's hash covers the previous line's hash,
its own seq and its entry in canonical JSON, so an edited, removed or reordered line breaks it.

    hash(n) = SHA-256(canonical {"entry": entry(n), "prev": hash(n-1), "seq": n}), hash(0) = GENESIS

A truncated tail leaves a valid chain: an admin notes down the head (the last hash) and passes
it to `verify_chain` later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from fleet.store.base import AuditEntry, AuditLine
from protocol.strictjson import canonical_dumps

GENESIS = "0" * 64


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """The entry as a JSON object (what the hash covers)."""
    return {
        "at": entry.at,
        "admin": entry.admin,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "document_sha256": entry.document_sha256,
        "detail": dict(entry.detail),
    }


def canonical_entry(entry: AuditEntry) -> bytes:
    """The entry's canonical JSON (sorted keys, no whitespace, ASCII)."""
    return canonical_dumps(entry_json(entry))


def chain_hash(prev_hash: str, seq: int, entry: AuditEntry) -> str:
    """The hash (hex) of line `seq` holding `entry` after a line whose hash is `prev_hash`."""
    obj = {"entry": entry_json(entry), "prev": prev_hash, "seq": seq}
    return hashlib.sha256(canonical_dumps(obj)).hexdigest()


def next_line(head: AuditLine | None, entry: AuditEntry) -> AuditLine:
    """The line that appends `entry` after `head` (None: the chain is empty)."""
    seq, prev = (1, GENESIS) if head is None else (head.seq + 1, head.hash)
    return AuditLine(seq, entry, prev, chain_hash(prev, seq, entry))


def head(lines: Sequence[AuditLine]) -> str:
    """The chain's head: the last line's hash (GENESIS for an empty chain)."""
    return lines[-1].hash if lines else GENESIS


def verify_chain(lines: Sequence[AuditLine], expected_head: str | None = None) -> list[str]:
    """What is wrong with a whole chain, in order, each problem naming the seq; [] if intact.
    With `expected_head` (a head noted down earlier), a chain that lost its tail is reported."""
    problems: list[str] = []
    prev_seq, prev_hash = 0, GENESIS
    for line in lines:
        if line.seq <= prev_seq:
            problems.append(f"seq {line.seq}: out of order (comes after seq {prev_seq})")
        elif line.seq > prev_seq + 1:
            missing = (
                f"seq {prev_seq + 1}"
                if line.seq == prev_seq + 2
                else f"seq {prev_seq + 1} to {line.seq - 1}"
            )
            problems.append(f"seq {line.seq}: {missing} missing (removed lines)")
        if line.prev_hash != prev_hash:
            problems.append(
                f"seq {line.seq}: prev_hash does not match the line before it"
                f" (seq {prev_seq}): a line was removed, inserted or moved"
            )
        if chain_hash(line.prev_hash, line.seq, line.entry) != line.hash:
            problems.append(f"seq {line.seq}: hash does not match the line (edited)")
        prev_seq, prev_hash = max(prev_seq, line.seq), line.hash
    known = {line.hash for line in lines} | {GENESIS}
    if expected_head is not None and expected_head not in known:
        problems.append(
            f"head {expected_head[:16]}... noted earlier is not in the chain"
            f" (last seq {prev_seq}): lines were removed from the end"
        )
    return problems
