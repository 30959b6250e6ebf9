"""Sealed replay of answers by request id: the gateway keeps what it cannot read.

Each device request carries a fresh random 256-bit replay key. The first time a request id is
seen, its name (device, route, request id) is held in a table with two keyed MACs: one of the
replay key, one of the request's NIK (itself keyed with the replay key as well, so that nothing
kept can test a guessed NIK without the device's key). Once decided, the answer is encrypted
under the replay key (AES-256-GCM, the name as associated data) and kept beside the MACs for the
replay window; the plaintext is dropped once written. A retry with the same key and NIK gets
the same answer, counted once; a retry with another key or another NIK is refused (409).

The table is in this process (one gateway) or in Redis (replicas): a request id is then bound
across every replica, and any replica can replay a sealed answer. A duplicate that arrives
while the first is still being decided waits for it, then opens the sealed answer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.clock import Clock
from gateway.answers import Answer, error_answer
from gateway.errors import ConfigError, StoreError
from gateway.logs import SECURITY
from gateway.store.base import ReplayTable
from protocol.messages import REPLAY_KEY_BYTES
from protocol.outcomes import Outcome

log = logging.getLogger(__name__)
MAC_BYTES = 32
MACS_BYTES = 2 * MAC_BYTES
_NONCE_BYTES = 12
_POLL_S = (0.02, 0.05, 0.1, 0.2)  # waiting for another replica to seal its answer


@dataclass(slots=True)
class Ticket:
    """A request this process decides: it must end with `finish` (or `abandon`)."""

    name: str
    macs: bytes
    key: bytes = field(repr=False)


@dataclass(slots=True)
class _Flight:
    """A request being decided here; duplicates wait on `done` (made when one has to wait)."""

    macs: bytes
    done: asyncio.Future[bytes | Answer] | None = None


class SealedReplay:
    """Admits device requests once per request id and replays their sealed answers."""

    def __init__(self, table: ReplayTable, secret: bytes, window_s: float, hold_s: float) -> None:
        self._table = table
        self._secret = secret
        self._window = window_s
        self._hold = hold_s
        self._flights: dict[str, _Flight] = {}
        self.changed = asyncio.Event()  # set whenever a flight starts or lands
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(
        self, device: str, route: str, request_id: str, nik: str, key: bytes
    ) -> Ticket | Answer:
        """A Ticket when this request is new (decide it), else the answer to give (replay, 409)."""
        name = f"{device}:{route}:{request_id}"
        macs = self.macs(name, nik, key)
        flight = self._flights.get(name)
        if flight is not None:
            if not hmac.compare_digest(flight.macs, macs):
                return _conflict(name, flight.macs, macs)
            if flight.done is None:
                flight.done = asyncio.get_running_loop().create_future()
            return self._open(name, key, await asyncio.shield(flight.done))
        flight = self._flights[name] = _Flight(macs)
        self.changed.set()
        try:
            result = await self._claim(name, macs)
        except BaseException:
            self._land(name, error_answer(503, Outcome.SERVICE_UNAVAILABLE.value, "stopping"))
            raise
        if result is None:
            return Ticket(name, macs, key)
        self._land(name, result)
        return self._open(name, key, result)

    async def finish(self, ticket: Ticket, answer: Answer) -> None:
        """Keep the answer sealed for the window (decided answers only); release waiters."""
        if not answer.cacheable:
            self._land(ticket.name, answer)
            await self._release(ticket)
            return
        sealed = seal(ticket.key, ticket.name, answer)
        self._land(ticket.name, sealed)
        try:
            await self._table.seal(ticket.name, ticket.macs, sealed, self._window)
        except StoreError as err:
            log.warning("could not keep a sealed answer name=%s: %s", ticket.name, err)

    def abandon(self, ticket: Ticket) -> None:
        """The request failed unexpectedly: waiters get a 503, the claim is released."""
        self._land(ticket.name, error_answer(500, "INTERNAL", "internal error"))
        task = asyncio.get_running_loop().create_task(self._release(ticket))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Wait for pending releases."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)

    def macs(self, name: str, nik: str, key: bytes) -> bytes:
        """The key's MAC and the request's MAC (name, key and NIK), under the gateway's secret."""
        head = name.encode() + b"\x00" + key
        key_mac = hmac.digest(self._secret, b"replay-key\x00" + head, "sha256")
        nik_mac = hmac.digest(self._secret, b"request\x00" + head + nik.encode(), "sha256")
        return key_mac + nik_mac

    def __len__(self) -> int:
        return len(self._flights)

    async def _claim(self, name: str, macs: bytes) -> bytes | Answer | None:
        """None when the name is ours; a record's sealed answer, or the refusal, otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._hold
        polls = iter(_POLL_S)
        try:
            while True:
                held = await self._table.claim(name, macs, self._hold)
                if held is None:
                    return None
                if not hmac.compare_digest(held[:MACS_BYTES], macs):
                    return _conflict(name, held[:MACS_BYTES], macs)
                while len(held) == MACS_BYTES and loop.time() < deadline:
                    await asyncio.sleep(next(polls, _POLL_S[-1]))  # another replica decides it
                    held = await self._table.peek(name) or b""
                    if held and not hmac.compare_digest(held[:MACS_BYTES], macs):
                        return _conflict(name, held[:MACS_BYTES], macs)
                if len(held) > MACS_BYTES:
                    return held[MACS_BYTES:]
                if held:
                    return error_answer(
                        503, Outcome.SERVICE_UNAVAILABLE.value, "still being answered"
                    )
        except StoreError as err:
            log.error("replay table failure: %s", err)
            return error_answer(503, Outcome.SERVICE_UNAVAILABLE.value, "the store did not answer")

    async def _release(self, ticket: Ticket) -> None:
        try:
            await self._table.release(ticket.name, ticket.macs)
        except StoreError as err:
            log.warning("could not release a request name=%s: %s", ticket.name, err)

    def _land(self, name: str, result: bytes | Answer) -> None:
        """The flight of `name` is over: its waiters get `result` (sealed, or a plain refusal)."""
        flight = self._flights.pop(name, None)
        self.changed.set()
        if flight is not None and flight.done is not None and not flight.done.done():
            flight.done.set_result(result)

    @staticmethod
    def _open(name: str, key: bytes, result: bytes | Answer) -> Answer:
        if isinstance(result, Answer):
            return result
        try:
            return open_sealed(key, name, result)
        except InvalidTag:  # the MACs matched, so the key is the one it was sealed with
            log.error("a sealed answer did not open name=%s", name)
            return error_answer(500, "INTERNAL", "internal error")


def seal(key: bytes, name: str, answer: Answer) -> bytes:
    """The answer encrypted under the device's replay key, the name as associated data."""
    outcome = answer.outcome.encode()
    plain = answer.status.to_bytes(2, "big") + bytes([len(outcome)]) + outcome + answer.body
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, name.encode())


def open_sealed(key: bytes, name: str, sealed: bytes) -> Answer:
    """The answer a sealed record holds (cryptography's InvalidTag if the key is not its key)."""
    if len(key) != REPLAY_KEY_BYTES:
        raise InvalidTag
    plain = AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], name.encode())
    size = plain[2]
    return Answer(int.from_bytes(plain[:2], "big"), plain[3 + size :], plain[3 : 3 + size].decode())


def _conflict(name: str, held: bytes, macs: bytes) -> Answer:
    same_key = hmac.compare_digest(held[:MAC_BYTES], macs[:MAC_BYTES])
    device, _, rest = name.partition(":")
    SECURITY.warning(
        "request_id_reused reason=%s device=%s request=%s",
        "another_request" if same_key else "another_key",
        device,
        rest,
    )
    return error_answer(
        409, "CONFLICT", "this request id was used for another request", "request_id"
    )


class MemoryTable:
    """The replay table of one gateway process: bounded in count, oldest dropped first.

    A record is one untracked tuple (expiry, bytes): the garbage collector stops tracking a tuple
    of immutable values, so kept answers cost full collections nothing.
    """

    def __init__(self, clock: Clock, max_entries: int) -> None:
        self._clock = clock
        self._max = max_entries
        self._kept: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def claim(self, name: str, macs: bytes, hold_s: float) -> bytes | None:
        """Hold `name`, or return its record."""
        now = self._clock.monotonic()
        self._sweep(now)
        kept = self._kept.get(name)
        if kept is not None and kept[0] > now:
            return kept[1]
        self._kept[name] = (now + hold_s, macs)
        self._kept.move_to_end(name)
        return None

    async def peek(self, name: str) -> bytes | None:
        """The record of `name`."""
        kept = self._kept.get(name)
        return kept[1] if kept is not None and kept[0] > self._clock.monotonic() else None

    async def seal(self, name: str, macs: bytes, sealed: bytes, ttl_s: float) -> None:
        """Keep a sealed answer."""
        kept = self._kept.get(name)
        if kept is not None and kept[1] == macs:
            self._kept[name] = (self._clock.monotonic() + ttl_s, macs + sealed)
            self._kept.move_to_end(name)

    async def release(self, name: str, macs: bytes) -> None:
        """Forget a name held and not answered."""
        kept = self._kept.get(name)
        if kept is not None and kept[1] == macs:
            del self._kept[name]

    def _sweep(self, now: float) -> None:
        kept = self._kept
        while kept and (len(kept) >= self._max or next(iter(kept.values()))[0] <= now):
            kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


def read_key_file(path: Path, key: str) -> bytes:
    """A key file of at least 32 random bytes (e.g. `head -c 32 /dev/urandom`), or ConfigError."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(key, "cannot read the key file") from err
    if len(data) < 32:
        raise ConfigError(key, "the key file must hold at least 32 bytes")
    return data


def start_replay(
    table: ReplayTable | None, clock: Clock, secret: bytes | None, window_s: float, *,
    hold_s: float, max_entries: int,
) -> SealedReplay:  # fmt: skip
    """The replay of a gateway: the shared table when there is one, else one in memory."""
    if table is None:
        table = MemoryTable(clock, max_entries)
    return SealedReplay(table, secret or secrets.token_bytes(32), window_s, hold_s)
