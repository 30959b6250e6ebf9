"""A process that runs the gateway in-process, sends it verifications of canary personas as a
kiosk would, then walks every live object (gc) for the canaries in plain text.

`python -m tests.gateway.memscan <job.json> [--leak]`, started by test_memory_privacy.py. It
never imports the personas: the canaries arrive masked (XOR) and exist in plain text only in
the request body being built (a bytearray, wiped) and, during the scan, as the needles. Prints
one JSON line: the hits (which canary, in what; never the value), the replay table's size at the
scan, and whether a retry with the same key got the same answer. `--leak` patches the gateway
to keep each answer in the clear, to show that the scan finds such a leak.
"""

from __future__ import annotations

import gc
import hashlib
import json
import secrets
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from gateway.answers import Answer
from gateway.config import load_config
from gateway.replay import SealedReplay, Ticket
from gateway.server import RunningGateway, start_gateway
from protocol.messages import encode_replay_key

LEAKED: list[Any] = []
_CONTAINERS = (tuple, list, dict, set, frozenset)


def _unmask(masked_hex: str, mask: bytes) -> bytearray:
    return bytearray(a ^ b for a, b in zip(bytes.fromhex(masked_hex), mask, strict=False))


def _body(rid: str, nik: bytearray, key: bytes, reader: tuple[str, str]) -> bytearray:
    """A verification body in a bytearray, as the kiosk builds it (the NIK never a str)."""
    body = bytearray(b'{"request_id":"%s","nik":"' % rid.encode())
    body += nik
    body += b'","match":{"finger":"right_index","score":150,"tries":1},'
    body += b'"reader":{"reader_id":"%s","sam_id":"%s"},' % (reader[0].encode(), reader[1].encode())
    body += b'"replay_key":"%s"}' % encode_replay_key(key).encode()
    return body


async def _verify(session: aiohttp.ClientSession, url: str, body: bytearray) -> tuple[str, str]:
    """POST a body (wiped after); the outcome and a digest of the answer, nothing else kept."""
    try:
        async with session.post(
            url + "/v1/verifications", data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            raw = await resp.read()
            assert resp.status == 200, resp.status
    finally:
        body[:] = bytes(len(body))
    outcome = str(json.loads(raw)["outcome"])
    return outcome, hashlib.sha256(raw).hexdigest()


def _walk(obj: object, seen: set[int]) -> Iterator[object]:
    """What a tracked object refers to, through untracked containers (tuples, dicts of atoms)."""
    stack = list(gc.get_referents(obj))
    while stack:
        ref = stack.pop()
        if isinstance(ref, _CONTAINERS) and not gc.is_tracked(ref):
            if id(ref) not in seen:
                seen.add(id(ref))
                stack.extend(gc.get_referents(ref))
            continue
        yield ref


def scan(masked: dict[str, str], mask: bytes) -> list[str]:
    """Which canaries appear in any live str, bytes or bytearray (labels only)."""
    needles = [(label, bytes(_unmask(hexed, mask))) for label, hexed in masked.items()]
    texts = [(label, n.decode()) for label, n in needles]
    own = {id(needles), id(texts)} | {id(x) for pair in needles + texts for x in (pair, pair[1])}
    hits: set[str] = set()
    seen: set[int] = set()
    for obj in gc.get_objects():
        if id(obj) in own:
            continue
        for ref in _walk(obj, seen):
            if id(ref) in own:
                continue
            if isinstance(ref, str):
                hits.update(f"{label} in {type(obj).__name__}" for label, t in texts if t in ref)
            elif isinstance(ref, bytes | bytearray):
                hits.update(f"{label} in {type(obj).__name__}" for label, n in needles if n in ref)
    return sorted(hits)


def _leak() -> None:
    finish = SealedReplay.finish

    async def leaky(self: SealedReplay, ticket: Ticket, answer: Answer) -> None:
        LEAKED.append({"body": answer.body.decode()})  # a plaintext kept: the scan must see it
        await finish(self, ticket, answer)

    SealedReplay.finish = leaky  # type: ignore[method-assign]


async def run(job: dict[str, Any]) -> dict[str, Any]:
    """Verify each canary once, scan, then retry the first with its key."""
    mask = bytes.fromhex(job["mask"])
    gw: RunningGateway = await start_gateway(load_config(Path(job["config"])))
    ctx = ssl.create_default_context(cafile=job["ca"])
    ctx.load_cert_chain(job["cert"], job["key"])
    reader = (job["reader_id"], job["sam_id"])
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            sent: list[tuple[str, bytes, str, str]] = []
            for masked_nik in job["niks"]:
                rid, key = secrets.token_hex(16), secrets.token_bytes(32)
                nik = _unmask(masked_nik, mask)
                body = _body(rid, nik, key, reader)
                nik[:] = bytes(len(nik))
                outcome, digest = await _verify(session, gw.url, body)
                sent.append((rid, key, outcome, digest))
            gc.collect()
            kept = len(gw.replay._table)  # type: ignore[arg-type]
            hits = scan(job["needles"], mask)
            rid, key, outcome, digest = next(s for s in sent if s[2] == "FOUND")
            nik = _unmask(job["niks"][[s[0] for s in sent].index(rid)], mask)
            again = await _verify(session, gw.url, _body(rid, nik, key, reader))
            nik[:] = bytes(len(nik))
    finally:
        await gw.close()
    return {
        "hits": hits,
        "kept": kept,
        "outcomes": [s[2] for s in sent],
        "retry_same": again == (outcome, digest),
    }


def main() -> int:
    """Run one job; print its result as one JSON line."""
    job = json.loads(Path(sys.argv[1]).read_text())
    if "--leak" in sys.argv[2:]:
        _leak()
    result = uvloop.run(run(job))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
