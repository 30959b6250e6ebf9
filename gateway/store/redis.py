"""Redis store for several gateway replicas: quota takes are one Lua script (atomic on the
server), usage counts are hash increments, policies a hash, revoked devices a set.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import StoreError
from gateway.store.base import UsageKey, UsageRow

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


class RedisStore:
    """The shared store of gateway replicas."""

    shared = True

    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: aioredis.Redis | None = None
        self._take: Any = None
        self._give_back: Any = None

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
        self._take = self._redis.register_script(_TAKE)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        await self.ping()

    async def close(self) -> None:
        """Disconnect."""
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None

    async def ping(self) -> None:
        """Raise StoreError unless Redis answers."""
        await self._call(cast(Awaitable[Any], self._r().ping()))

    async def take_quota(self, institution: str, day: str, limit: int) -> bool:
        """Atomic check-and-increment on the server."""
        self._r()
        result = await self._call(
            self._take(keys=[f"{_P}quota:{institution}:{day}"], args=[limit, _QUOTA_TTL_S])
        )
        return int(result) == 1

    async def give_back_quota(self, institution: str, day: str) -> None:
        """Undo one take."""
        self._r()
        await self._call(self._give_back(keys=[f"{_P}quota:{institution}:{day}"], args=[]))

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
        """Devices revoked through the admin API."""
        members = await self._call(cast(Awaitable[set[str]], self._r().smembers(f"{_P}revoked")))
        return frozenset(members)

    async def set_device_revoked(self, device_id: str, revoked: bool) -> None:
        """Revoke or reinstate a device."""
        r = self._r()
        if revoked:
            await self._call(r.sadd(f"{_P}revoked", device_id))
        else:
            await self._call(r.srem(f"{_P}revoked", device_id))

    async def claim_request(self, key: str, ttl_s: float) -> bool:
        """SET NX with an expiry: the first replica to see a request id counts it."""
        ok = await self._call(
            self._r().set(f"{_P}request:{key}", "1", nx=True, px=max(1, int(ttl_s * 1000)))
        )
        return bool(ok)
