"""The sealed replay (gateway.replay): what it keeps, whom it answers, what it refuses."""

from __future__ import annotations

import asyncio
import gc
import secrets

import pytest
from cryptography.exceptions import InvalidTag

from gateway.answers import Answer, error_answer
from gateway.errors import StoreError
from gateway.replay import MACS_BYTES, MemoryTable, SealedReplay, Ticket, open_sealed, seal
from tests.clock import FakeClock

NIK = "3313064507900004"
OTHER_NIK = "3313064507900012"
BODY = b'{"request_id":"ab","outcome":"FOUND","elements":{"nama_lengkap":"CANARY NAME"}}'
FOUND = Answer(200, BODY, "FOUND")


def _replay(clock: FakeClock | None = None, max_entries: int = 100) -> SealedReplay:
    table = MemoryTable(clock or FakeClock(0.0), max_entries)
    return SealedReplay(table, secrets.token_bytes(32), window_s=60.0, hold_s=10.0)


async def _answered(replay: SealedReplay, rid: str, key: bytes, nik: str = NIK) -> Answer:
    ticket = await replay.admit("KIOSK-1", "v", rid, nik, key)
    assert isinstance(ticket, Ticket)
    await replay.finish(ticket, FOUND)
    return FOUND


def test_a_sealed_answer_opens_with_its_key_only() -> None:
    key = secrets.token_bytes(32)
    sealed = seal(key, "KIOSK-1:v:ab", FOUND)
    assert b"CANARY" not in sealed and b"FOUND" not in sealed
    assert open_sealed(key, "KIOSK-1:v:ab", sealed) == FOUND
    with pytest.raises(InvalidTag):
        open_sealed(secrets.token_bytes(32), "KIOSK-1:v:ab", sealed)
    with pytest.raises(InvalidTag):  # bound to its device and request id
        open_sealed(key, "KIOSK-2:v:ab", sealed)


async def test_a_retry_with_the_key_gets_the_answer_another_key_or_nik_a_conflict() -> None:
    replay = _replay()
    key = secrets.token_bytes(32)
    await _answered(replay, "ab" * 16, key)
    assert await replay.admit("KIOSK-1", "v", "ab" * 16, NIK, key) == FOUND
    for nik, other_key in ((NIK, secrets.token_bytes(32)), (OTHER_NIK, key)):
        refused = await replay.admit("KIOSK-1", "v", "ab" * 16, nik, other_key)
        assert isinstance(refused, Answer) and (refused.status, refused.outcome) == (
            409,
            "CONFLICT",
        )
    # Per device and per route: the same id elsewhere is a new request.
    assert isinstance(await replay.admit("KIOSK-2", "v", "ab" * 16, OTHER_NIK, key), Ticket)
    assert isinstance(await replay.admit("KIOSK-1", "r", "ab" * 16, OTHER_NIK, key), Ticket)


async def test_what_is_kept_holds_no_nik_and_no_answer_in_the_clear() -> None:
    replay = _replay()
    key = secrets.token_bytes(32)
    await _answered(replay, "ab" * 16, key)
    table = replay._table
    assert isinstance(table, MemoryTable)
    (record,) = (kept for _, kept in table._kept.values())
    assert len(record) > MACS_BYTES
    assert NIK.encode() not in record and b"CANARY" not in record and key not in record


async def test_refusals_are_not_kept_a_retry_is_decided_again() -> None:
    replay = _replay()
    key = secrets.token_bytes(32)
    ticket = await replay.admit("KIOSK-1", "v", "cd" * 16, NIK, key)
    assert isinstance(ticket, Ticket)
    await replay.finish(ticket, error_answer(503, "SERVICE_UNAVAILABLE", "upstream down"))
    assert isinstance(await replay.admit("KIOSK-1", "v", "cd" * 16, NIK, key), Ticket)


async def test_a_duplicate_in_flight_waits_for_the_first_and_opens_its_answer() -> None:
    replay = _replay()
    key = secrets.token_bytes(32)
    ticket = await replay.admit("KIOSK-1", "v", "ef" * 16, NIK, key)
    assert isinstance(ticket, Ticket)
    waiting = [
        asyncio.create_task(replay.admit("KIOSK-1", "v", "ef" * 16, NIK, key)) for _ in range(3)
    ]
    other = await replay.admit("KIOSK-1", "v", "ef" * 16, OTHER_NIK, key)
    assert isinstance(other, Answer) and other.status == 409  # no waiting for a conflict
    done, _ = await asyncio.wait(waiting, timeout=0.1)  # none may finish before the first
    assert not done
    await replay.finish(ticket, FOUND)
    async with asyncio.timeout(5):
        assert await asyncio.gather(*waiting) == [FOUND] * 3
    assert len(replay) == 0


async def test_kept_answers_expire_after_the_window_and_are_bounded_in_count() -> None:
    clock = FakeClock(0.0)
    replay = _replay(clock, max_entries=3)
    keys = [secrets.token_bytes(32) for _ in range(5)]
    for i, key in enumerate(keys):
        await _answered(replay, f"{i:032x}", key)
    table = replay._table
    assert isinstance(table, MemoryTable) and len(table) <= 3
    # The oldest were dropped: their ids are new requests again.
    assert isinstance(await replay.admit("KIOSK-1", "v", f"{0:032x}", NIK, keys[0]), Ticket)
    assert await replay.admit("KIOSK-1", "v", f"{4:032x}", NIK, keys[4]) == FOUND
    clock.advance(61)
    assert isinstance(await replay.admit("KIOSK-1", "v", f"{4:032x}", NIK, keys[4]), Ticket)


async def test_kept_records_cost_the_garbage_collector_nothing_once_seen() -> None:
    replay = _replay()
    for i in range(3):
        await _answered(replay, f"{i:032x}", secrets.token_bytes(32))
    gc.collect()
    table = replay._table
    assert isinstance(table, MemoryTable)
    assert not any(gc.is_tracked(kept) for kept in table._kept.values())


class _DownTable(MemoryTable):
    async def claim(self, name: str, macs: bytes, hold_s: float) -> bytes | None:
        raise StoreError("redis: ConnectionError")


async def test_a_table_that_does_not_answer_fails_closed() -> None:
    replay = SealedReplay(_DownTable(FakeClock(0.0), 10), b"s" * 32, 60.0, 10.0)
    answer = await replay.admit("KIOSK-1", "v", "ab" * 16, NIK, secrets.token_bytes(32))
    assert isinstance(answer, Answer)
    assert (answer.status, answer.outcome) == (503, "SERVICE_UNAVAILABLE")
