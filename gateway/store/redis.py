"""Redis store for several gateway replicas: quota takes are one Lua script (atomic on the
server), usage counts are hash increments, policies a hash, device revocations a hash of
(revoked, time) merged with the replica's own durable copy, and the sealed replay table.

Redis must persist (deploy/redis/gateway-redis.conf: append-only file, fsync every second) so
that the day's quota survives a restart; revocations survive even an emptied Redis, because
every replica also keeps them in its own SQLite file and writes back what Redis lost.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import StoreError
from gateway.store.base import ReplayTable, UsageKey, UsageRow
from gateway.store.sqlite import SqliteStore

T = TypeVar("T")
_P = "kiosk-gateway:"
_QUOTA_TTL_S = 3 * 86400
_CONNECTIONS = 64
_POOL_WAIT_S = 5.0
_TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
_GIVE_BACK = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
_SEAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """The shared store of gateway replicas."""

    shared = True

    def __init__(self, url: str, local: SqliteStore) -> None:
        self._url = url
        self._local = local  # this replica's durable copy of the revocations
        self._redis: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}

    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreError("redis store is not open")
        return self._redis

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            return await aw
        except (RedisError, OSError) as err:
            raise StoreError(f"redis: {type(err).__name__}") from err

    async def open(self) -> None:
        """Connect and check the server answers."""
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url, max_connections=_CONNECTIONS, timeout=_POOL_WAIT_S, decode_responses=True
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        for name, text in (
            ("take", _TAKE),
            ("give_back", _GIVE_BACK),
            ("claim", _CLAIM),
            ("seal", _SEAL),
            ("release", _RELEASE),
        ):
            self._scripts[name] = self._redis.register_script(text)
        await self._local.open()
        await self.ping()

    async def close(self) -> None:
        """Disconnect."""
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None
        await self._local.close()

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        self._r()
        return await self._call(self._scripts[name](keys=keys, args=args))

    async def ping(self) -> None:
        """Raise StoreError unless Redis answers."""
        await self._call(cast(Awaitable[Any], self._r().ping()))

    async def take_quota(self, institution: str, day: str, limit: int) -> bool:
        """Atomic check-and-increment on the server."""
        result = await self._script(
            "take", [f"{_P}quota:{institution}:{day}"], [limit, _QUOTA_TTL_S]
        )
        return int(result) == 1

    async def give_back_quota(self, institution: str, day: str) -> None:
        """Undo one take."""
        await self._script("give_back", [f"{_P}quota:{institution}:{day}"], [])

    async def quota_used(self, institution: str, day: str) -> int:
        """Look-ups counted that day."""
        value = await self._call(self._r().get(f"{_P}quota:{institution}:{day}"))
        return int(value or 0)

    async def add_usage(self, counts: Mapping[UsageKey, int]) -> None:
        """Add answer counts in one pipeline."""
        if not counts:
            return
        pipe = self._r().pipeline(transaction=True)
        for (institution, day, outcome), n in counts.items():
            if n:
                pipe.hincrby(f"{_P}usage:{institution}:{day}", outcome, n)
                pipe.sadd(f"{_P}usage-index", f"{institution}|{day}")
        await self._call(pipe.execute())

    async def usage(self, institution: str | None, first_day: str, last_day: str) -> list[UsageRow]:
        """Answer counts between two days."""
        members = await self._call(
            cast(Awaitable[set[str]], self._r().smembers(f"{_P}usage-index"))
        )
        rows: list[UsageRow] = []
        for member in sorted(members):
            inst, _, day = member.partition("|")
            if institution is not None and inst != institution:
                continue
            if not first_day <= day <= last_day:
                continue
            counts = await self._call(
                cast(Awaitable[dict[str, str]], self._r().hgetall(f"{_P}usage:{inst}:{day}"))
            )
            rows.extend(UsageRow(inst, day, o, int(n)) for o, n in sorted(counts.items()))
        return rows

    async def policies(self) -> dict[str, dict[str, Any]]:
        """Persisted policy documents."""
        docs = await self._call(cast(Awaitable[dict[str, str]], self._r().hgetall(f"{_P}policy")))
        return {inst: json.loads(doc) for inst, doc in docs.items()}

    async def save_policy(self, institution: str, doc: dict[str, Any]) -> None:
        """Persist one policy document."""
        await self._call(
            self._r().hset(f"{_P}policy", institution, json.dumps(doc, sort_keys=True))
        )

    async def revoked_devices(self) -> frozenset[str]:
        """Devices revoked (the latest change of each wins, Redis or this replica's file)."""
        raw = await self._call(
            cast(Awaitable[dict[str, str]], self._r().hgetall(f"{_P}revocations"))
        )
        remote = {device: _state(value) for device, value in raw.items()}
        legacy = await self._call(cast(Awaitable[set[str]], self._r().smembers(f"{_P}revoked")))
        for device in legacy:  # the set of earlier versions: revoked, older than any change
            remote.setdefault(device, (True, 0.0))
        local = await self._local.revocation_states()
        merged = dict(remote)
        for device, state in local.items():
            if device not in merged or _newer(state, merged[device]):
                merged[device] = state
        lost = {d: s for d, s in merged.items() if d not in raw or _state(raw[d]) != s}
        if lost:  # Redis lost them (restarted empty) or never had them: write them back
            await self._call(
                self._r().hset(f"{_P}revocations", mapping={d: _text(s) for d, s in lost.items()})
            )
        for device, state in merged.items():
            if local.get(device) != state:
                await self._local.set_device_revoked(device, state[0], state[1])
        return frozenset(device for device, (revoked, _) in merged.items() if revoked)

    async def set_device_revoked(
        self, device_id: str, revoked: bool, at: float | None = None
    ) -> None:
        """Revoke or reinstate a device: this replica's file first (fsynced), then Redis."""
        state = (revoked, time.time() if at is None else at)
        await self._local.set_device_revoked(device_id, *state)
        await self._call(self._r().hset(f"{_P}revocations", device_id, _text(state)))

    async def bindings(self) -> dict[str, tuple[str, str]]:
        """Hardware pinned through the admin API (a hash: device id to "reader sam")."""
        raw = await self._call(cast(Awaitable[dict[str, str]], self._r().hgetall(f"{_P}bindings")))
        out: dict[str, tuple[str, str]] = {}
        for device, value in raw.items():
            reader, _, sam = value.partition(" ")
            if reader and sam:
                out[device] = (reader, sam)
        return out

    async def set_binding(self, device_id: str, reader_id: str, sam_id: str) -> None:
        """Pin a device (ids hold no space: protocol identifiers)."""
        await self._call(self._r().hset(f"{_P}bindings", device_id, f"{reader_id} {sam_id}"))

    async def remove_binding(self, device_id: str) -> None:
        """Forget a device's pin."""
        await self._call(self._r().hdel(f"{_P}bindings", device_id))

    def replay_table(self) -> ReplayTable:
        """Replicas share the sealed replay table."""
        return self

    async def claim(self, name: str, macs: bytes, hold_s: float) -> bytes | None:
        """Hold a request name unless a record exists (one script: atomic across replicas)."""
        held = await self._script("claim", [f"{_P}replay:{name}"], [_b64(macs), _ms(hold_s)])
        return None if held is None else base64.b64decode(held)

    async def peek(self, name: str) -> bytes | None:
        """The record of a request name."""
        held = await self._call(self._r().get(f"{_P}replay:{name}"))
        return None if held is None else base64.b64decode(held)

    async def seal(self, name: str, macs: bytes, sealed: bytes, ttl_s: float) -> None:
        """Replace this replica's hold by the sealed answer, for the replay window."""
        await self._script(
            "seal", [f"{_P}replay:{name}"], [_b64(macs), _b64(macs + sealed), _ms(ttl_s)]
        )

    async def release(self, name: str, macs: bytes) -> None:
        """Drop this replica's hold."""
        await self._script("release", [f"{_P}replay:{name}"], [_b64(macs)])


_State = tuple[bool, float]


def _state(text: str) -> _State:
    revoked, _, at = text.partition(":")
    try:
        return revoked == "1", float(at)
    except ValueError:
        return True, 0.0  # unreadable: revoked, so that any later change wins


def _text(state: _State) -> str:
    return f"{int(state[0])}:{state[1]!r}"


def _newer(a: _State, b: _State) -> bool:
    """Later wins; at the same time, revoked wins."""
    return (a[1], a[0]) > (b[1], b[0])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
