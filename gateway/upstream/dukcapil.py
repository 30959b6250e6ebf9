"""The `dukcapil-http` adapter: log in with the institution's user ID, query NIKs with a bearer
token over pooled keep-alive connections, log in again when the token is refused.
"""

from __future__ import annotations

import asyncio
import json
from typing import cast

from gateway.errors import UpstreamError
from gateway.resume import Done, run_then
from gateway.upstream.answers import (
    TokenRefused,
    parse_login_answer,
    parse_return_answer,
    parse_verify_answer,
)
from gateway.upstream.base import ReturnAnswer, UpstreamAccount, UpstreamAnswer
from gateway.upstream.pool import HttpPool
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome


class DukcapilHttpUpstream:
    """Speaks the Dukcapil HTTP API (as the simulator implements it) through an HttpPool."""

    def __init__(self, pool: HttpPool) -> None:
        self._pool = pool
        self._login_head = pool.head("POST", "/api/v1/login")
        self._nik_head = pool.head("POST", "/api/v1/nik")
        self._return_head = pool.head("POST", "/api/v1/return")
        self._auth: dict[str, bytes] = {}
        self._logins: dict[str, asyncio.Future[bytes | Outcome]] = {}

    def start_verify(self, account: UpstreamAccount, nik: str, done: Done) -> None:
        """Look one NIK up; `done` gets an UpstreamAnswer or an UpstreamError.

        While the institution's token is valid this takes no task (see HttpPool.start).
        """
        body = _nik_body(nik)
        auth = self._auth.get(account.user_id)
        if auth is None:
            run_then(self.verify(account, nik), done)
            return

        def answered(result: object) -> None:
            if isinstance(result, BaseException):
                done(result)
                return
            try:
                answer = parse_verify_answer(*cast(tuple[int, bytes], result))
            except UpstreamError as err:
                done(err)
                return
            if isinstance(answer, TokenRefused):
                self._forget(account, auth)
                run_then(self.verify(account, nik, tries=1), done)
                return
            done(answer)

        self._pool.start(self._nik_head, auth, body, answered)

    async def verify(self, account: UpstreamAccount, nik: str, tries: int = 2) -> UpstreamAnswer:
        """Look one NIK up, logging in first when there is no valid token."""
        body = _nik_body(nik)
        for _ in range(tries):
            auth = self._auth.get(account.user_id) or await self._authorization(account)
            if isinstance(auth, Outcome):
                return UpstreamAnswer(auth)
            status, raw = await self._pool.request(self._nik_head, auth, body)
            answer = parse_verify_answer(status, raw)
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
            status, raw = await self._pool.request(self._return_head, auth, body)
            answer = parse_return_answer(status, raw)
            if not isinstance(answer, TokenRefused):
                return answer
            self._forget(account, auth)
        raise UpstreamError("login", "the upstream refused a fresh token")

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    def _forget(self, account: UpstreamAccount, auth: bytes) -> None:
        if self._auth.get(account.user_id) == auth:
            del self._auth[account.user_id]

    async def _authorization(self, account: UpstreamAccount) -> bytes | Outcome:
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
        future: asyncio.Future[bytes | Outcome] = asyncio.get_running_loop().create_future()
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

    async def _login(self, account: UpstreamAccount) -> bytes | Outcome:
        body = json.dumps({"user_id": account.user_id, "password": account.password}).encode()
        status, raw = await self._pool.request(self._login_head, b"", body)
        answer = parse_login_answer(status, raw)
        if isinstance(answer, Outcome):
            return answer
        auth = b"Authorization: Bearer %s\r\n" % answer.encode()
        self._auth[account.user_id] = auth
        return auth


def _nik_body(nik: str) -> bytes:
    if not has_nik_shape(nik):
        raise ValueError("a NIK is 16 ASCII digits")
    return b'{"nik":"%s"}' % nik.encode()
