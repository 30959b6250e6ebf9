"""Answers of the gateway's API and the idempotency cache that replays them by request id.

Cached answers live in memory only, for a short TTL (and at most `max_entries`, oldest dropped
first), keyed by (device, request id) with a keyed BLAKE2s MAC of the request's NIK to refuse a
request id reused for another person.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from common.clock import Clock
from protocol.messages import encode_body, error_body


class Answer(NamedTuple):
    """An HTTP answer: status, JSON body, and the outcome code for the access log."""

    status: int
    body: bytes
    outcome: str
    cacheable: bool = True

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.outcome})"


@dataclass(slots=True)
class CachedRequest:
    """A request id being answered: its NIK fingerprint and, once decided, its answer."""

    fingerprint: bytes
    answer: Answer | None = None
    waiter: asyncio.Future[Answer] | None = None  # made only when a duplicate has to wait


# A decided request id, kept for replay: (expires, fingerprint, status, body, outcome). A plain
# tuple of immutable values, because the garbage collector stops tracking such a tuple once it
# has seen it; a NamedTuple (or an Answer inside) would stay tracked for life, and every full
# collection would walk all the kept answers.
_Kept = tuple[float, bytes, int, bytes, str]


class AnswerCache:
    """Replays the answer of a request id; concurrent duplicates wait for the first.

    Requests being answered sit in a small dict; decided ones in an insertion-ordered dict, which
    with one TTL for all is also their expiry order. A kept answer is one untracked tuple, since
    every verification adds one for the whole TTL.
    """

    def __init__(
        self, ttl_s: float, clock: Clock, key: bytes | None = None, max_entries: int = 100_000
    ) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)
        self._pending: dict[tuple[str, str], CachedRequest] = {}
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()

    def fingerprint(self, text: str) -> bytes:
        """A keyed MAC of a request's personal part (kept instead of the part itself)."""
        return hashlib.blake2s(text.encode(), key=self._key).digest()

    def get(self, key: tuple[str, str]) -> CachedRequest | None:
        """A request seen before (answered, or still being answered)."""
        kept = self._kept.get(key)
        if kept is None:
            return self._pending.get(key)
        _, fingerprint, status, body, outcome = kept
        return CachedRequest(fingerprint, Answer(status, body, outcome))

    async def replay(self, seen: CachedRequest) -> Answer:
        """The answer of a request still being answered when it was seen, once it is made."""
        if seen.answer is not None:
            return seen.answer
        if seen.waiter is None:
            seen.waiter = asyncio.get_running_loop().create_future()
        return await asyncio.shield(seen.waiter)

    def start(self, key: tuple[str, str], fingerprint: bytes) -> None:
        """Register a request being answered now."""
        self._sweep()
        self._pending[key] = CachedRequest(fingerprint)

    def finish(self, key: tuple[str, str], answer: Answer) -> None:
        """Publish the answer; keep it for the TTL if it may be replayed."""
        entry = self._pending.pop(key, None)
        if entry is None:
            return
        entry.answer = answer
        waiter = entry.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)
        if answer.cacheable:
            expires = self._clock.monotonic() + self._ttl
            self._kept[key] = (
                expires,
                entry.fingerprint,
                answer.status,
                answer.body,
                answer.outcome,
            )

    def fail(self, key: tuple[str, str], err: BaseException) -> None:
        """The request failed unexpectedly: waiters get the error, nothing is kept."""
        entry = self._pending.pop(key, None)
        waiter = None if entry is None else entry.waiter
        if waiter is not None and not waiter.done():
            if isinstance(err, asyncio.CancelledError):
                waiter.cancel()
            else:
                waiter.set_exception(err)
                waiter.exception()

    def _sweep(self) -> None:
        kept = self._kept
        if not kept:
            return
        now = self._clock.monotonic()
        while kept and (len(kept) > self._max or next(iter(kept.values()))[0] <= now):
            kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept) + len(self._pending)


def error_answer(status: int, code: str, message: str, field_name: str | None = None) -> Answer:
    """A 4xx/5xx answer with the shared error body; never cached."""
    return Answer(status, encode_body(error_body(code, message, field_name)), code, cacheable=False)
