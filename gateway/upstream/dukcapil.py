"""The `dukcapil-http` adapter: log in with the institution's user ID, query NIKs with a bearer
token over the pooled keep-alive client, log in again when the token is refused.
"""

from __future__ import annotations

import asyncio
import json

from gateway.errors import UpstreamError
from gateway.upstream.base import ReturnAnswer, UpstreamAccount, UpstreamAnswer
from gateway.upstream.client import UpstreamClient
from gateway.upstream.dukcapil_parsers import (
    TokenRefused,
    parse_login_answer,
    parse_return_answer,
    parse_verify_answer,
)
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome


class DukcapilHttpUpstream:
    """Speaks the Dukcapil HTTP API (as the simulator implements it) through an UpstreamClient."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client
        self._login_url = client.url("/api/v1/login")
        self._nik_url = client.url("/api/v1/nik")
        self._return_url = client.url("/api/v1/return")
        self._auth: dict[str, str] = {}  # user ID → its Authorization header value
        self._logins: dict[str, asyncio.Future[str | Outcome]] = {}

    async def verify(self, account: UpstreamAccount, nik: str) -> UpstreamAnswer:
        """Look one NIK up, logging in first when there is no valid token."""
        if not has_nik_shape(nik):
            raise ValueError("a NIK is 16 ASCII digits")
        body = b'{"nik":"%s"}' % nik.encode()
        for _ in range(2):
            auth = await self._authorization(account)
            if isinstance(auth, Outcome):
                return UpstreamAnswer(auth)
            answer = parse_verify_answer(*await self._client.post(self._nik_url, body, auth))
            if not isinstance(answer, TokenRefused):
                return answer
            self._forget(account, auth)
        raise UpstreamError("login", "the upstream refused a fresh token")

    async def send_return(
        self, account: UpstreamAccount, nik: str, return_number: str
    ) -> ReturnAnswer | Outcome:
        """Relay data balikan."""
        body = json.dumps({"nik": nik, "return_number": return_number}).encode()
        for _ in range(2):
            auth = await self._authorization(account)
            if isinstance(auth, Outcome):
                return auth
            answer = parse_return_answer(*await self._client.post(self._return_url, body, auth))
            if not isinstance(answer, TokenRefused):
                return answer
            self._forget(account, auth)
        raise UpstreamError("login", "the upstream refused a fresh token")

    async def close(self) -> None:
        """Close the client."""
        await self._client.close()

    def _forget(self, account: UpstreamAccount, auth: str) -> None:
        if self._auth.get(account.user_id) == auth:
            del self._auth[account.user_id]

    async def _authorization(self, account: UpstreamAccount) -> str | Outcome:
        """The account's Authorization value, logging in first (one login at a time per user)."""
        auth = self._auth.get(account.user_id)
        if auth is not None:
            return auth
        pending = self._logins.get(account.user_id)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled():
                    raise UpstreamError("login", "interrupted") from None
                raise
        future: asyncio.Future[str | Outcome] = asyncio.get_running_loop().create_future()
        self._logins[account.user_id] = future
        try:
            result = await self._login(account)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as err:
            future.set_exception(err)
            future.exception()  # mark retrieved: waiters, if any, get it through shield
            raise
        finally:
            del self._logins[account.user_id]
        future.set_result(result)
        return result

    async def _login(self, account: UpstreamAccount) -> str | Outcome:
        body = json.dumps({"user_id": account.user_id, "password": account.password}).encode()
        answer = parse_login_answer(*await self._client.post(self._login_url, body))
        if isinstance(answer, Outcome):
            return answer
        auth = f"Bearer {answer}"
        self._auth[account.user_id] = auth
        return auth
