"""The simulated Dukcapil upstream as an aiohttp app.

API (JSON; every Juknis answer is HTTP 200 with {"code", "message", "data"?}):
- POST /api/v1/login {"user_id", "password"} → {"code": "OK", "token", "expires_in"} or a
  parameter-check answer (LOGIN_FAILED, USER_INACTIVE, INSTITUTION_INACTIVE).
- POST /api/v1/nik {"nik", ...} with `Authorization: Bearer <token>` → the outcome of the NIK,
  with the full record when found. Other fields of the body are ignored. 401 when the token is
  missing or expired.
- POST /api/v1/return {"nik", "return_number"} (Bearer) → {"code": "ACCEPTED"} or
  {"code": "REJECTED"} when the user never looked that NIK up.
Control (simulation only): POST /_control/fault, GET /_control/stats, POST /_control/user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from common.clock import local_day
from protocol.nik import is_valid_nik
from protocol.outcomes import Outcome
from simulators.dukcapil.faults import Fault, FaultKind
from simulators.dukcapil.population import Population, SimUser

log = logging.getLogger(__name__)
_MAX_BODY = 16 * 1024


@dataclass
class SimStats:
    """What the simulator saw: counts only."""

    logins: int = 0
    queries: int = 0
    returns: int = 0
    faults: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)


@dataclass
class _Session:
    user_id: str
    expires: float


class DukcapilSim:
    """State and handlers of the simulated upstream."""

    def __init__(
        self,
        population: Population,
        users: Iterable[SimUser],
        *,
        clock: Callable[[], float] = time.time,
        token_ttl_s: float = 3600.0,
    ) -> None:
        self.population = population
        self.users = {u.user_id: u for u in users}
        self.stats = SimStats()
        self._clock = clock
        self._token_ttl = token_ttl_s
        self._sessions: dict[str, _Session] = {}
        self._used: Counter[tuple[str, str]] = Counter()
        self._looked_up: dict[str, set[str]] = {}
        self.returns: dict[tuple[str, str], str] = {}
        self._fault = Fault()
        self._fault_left: int | None = None
        self._release = asyncio.Event()

    def set_fault(self, fault: Fault) -> None:
        """Apply a fault to the next requests (FaultKind.NONE clears it)."""
        self._fault = fault
        self._fault_left = fault.count
        self._release.set()
        self._release = asyncio.Event()

    def clear_fault(self) -> None:
        """Back to normal; requests held by a slow fault are released at once."""
        self.set_fault(Fault())

    def expire_tokens(self) -> None:
        """Forget every login token (the next query answers 401)."""
        self._sessions.clear()

    def release(self) -> None:
        """Release requests held by a slow fault (on shutdown)."""
        self._release.set()

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post("/api/v1/login", self._login)
        app.router.add_post("/api/v1/nik", self._nik)
        app.router.add_post("/api/v1/return", self._return)
        app.router.add_post("/_control/fault", self._control_fault)
        app.router.add_get("/_control/stats", self._control_stats)
        app.router.add_post("/_control/user", self._control_user)
        return app

    async def _fault_response(self, request: web.Request) -> web.StreamResponse | None:
        fault = self._fault
        if fault.kind is FaultKind.NONE:
            return None
        if self._fault_left is not None:
            self._fault_left -= 1
            if self._fault_left <= 0:
                self._fault = Fault()
        self.stats.faults += 1
        self.stats.changed.set()
        if fault.kind is FaultKind.SLOW:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), fault.delay_s)
            return None
        if fault.kind is FaultKind.ERROR:
            return web.Response(status=fault.status, text="upstream failure")
        if fault.kind is FaultKind.GARBAGE:
            return web.Response(
                body=b'{"code": "FOUND", "da\x00\xff\xfe', content_type="application/json"
            )
        # DROP: close the connection without answering (what aiohttp then writes goes nowhere).
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=599)

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            obj = json.loads(await request.read())
        except (ValueError, web.HTTPRequestEntityTooLarge):
            return None
        return obj if isinstance(obj, dict) else None

    async def _login(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._fault_response(request)
        if faulty is not None:
            return faulty
        self.stats.logins += 1
        body = await self._body(request)
        if body is None or not all(isinstance(body.get(k), str) for k in ("user_id", "password")):
            return _bad_request()
        user = self.users.get(body["user_id"])
        if user is None or not secrets.compare_digest(
            user.password.encode(), str(body["password"]).encode()
        ):
            return _answer(Outcome.LOGIN_FAILED)
        refused = self._parameter_check(user)
        if refused is not None:
            return _answer(refused)
        token = secrets.token_hex(16)
        self._sessions[token] = _Session(user.user_id, self._clock() + self._token_ttl)
        return web.json_response({"code": "OK", "token": token, "expires_in": int(self._token_ttl)})

    def _parameter_check(self, user: SimUser) -> Outcome | None:
        if not user.institution_active:
            return Outcome.INSTITUTION_INACTIVE
        if not user.active:
            return Outcome.USER_INACTIVE
        return None

    def _session_user(self, request: web.Request) -> SimUser | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        session = self._sessions.get(auth[7:])
        if session is None or session.expires <= self._clock():
            return None
        return self.users.get(session.user_id)

    async def _signed_in(
        self, request: web.Request, fields: tuple[str, ...]
    ) -> tuple[SimUser, dict[str, Any]] | web.StreamResponse:
        """The user of the request's token and its body with string `fields`, or the answer."""
        faulty = await self._fault_response(request)
        if faulty is not None:
            return faulty
        user = self._session_user(request)
        if user is None:
            return web.json_response({"code": "TOKEN_INVALID"}, status=401)
        body = await self._body(request)
        if body is None or not all(isinstance(body.get(k), str) for k in fields):
            return _bad_request()
        return user, body

    async def _nik(self, request: web.Request) -> web.StreamResponse:
        got = await self._signed_in(request, ("nik",))
        if isinstance(got, web.StreamResponse):
            return got
        user, body = got
        self.stats.queries += 1
        self.stats.changed.set()
        outcome, record = self._query(user, body["nik"])
        self.stats.outcomes[outcome.value] += 1
        return _answer(outcome, record)

    def _query(self, user: SimUser, nik: str) -> tuple[Outcome, dict[str, str]]:
        refused = self._parameter_check(user)
        if refused is not None:
            return refused, {}
        if user.daily_quota is not None:
            day = local_day(self._clock(), 7)  # the upstream counts in WIB
            if self._used[user.user_id, day] >= user.daily_quota:
                return Outcome.QUOTA_EXHAUSTED, {}
            self._used[user.user_id, day] += 1
        if not is_valid_nik(nik):
            return Outcome.INVALID_NIK_FORMAT, {}
        self._looked_up.setdefault(user.user_id, set()).add(nik)
        return self.population.lookup(nik)

    async def _return(self, request: web.Request) -> web.StreamResponse:
        got = await self._signed_in(request, ("nik", "return_number"))
        if isinstance(got, web.StreamResponse):
            return got
        user, body = got
        self.stats.returns += 1
        if body["nik"] not in self._looked_up.get(user.user_id, set()):
            return web.json_response(
                {"code": "REJECTED", "message": "NIK belum pernah diakses oleh user ini"}
            )
        self.returns[user.user_id, body["nik"]] = body["return_number"]
        return web.json_response({"code": "ACCEPTED", "message": "Data balikan diterima"})

    async def _control_fault(self, request: web.Request) -> web.StreamResponse:
        try:
            fault = Fault.from_json(json.loads(await request.read()))
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        self.set_fault(fault)
        return web.json_response({"kind": fault.kind.value, "count": fault.count})

    async def _control_stats(self, request: web.Request) -> web.StreamResponse:
        s = self.stats
        return web.json_response(
            {
                "logins": s.logins,
                "queries": s.queries,
                "returns": s.returns,
                "faults": s.faults,
                "outcomes": dict(s.outcomes),
            }
        )

    async def _control_user(self, request: web.Request) -> web.StreamResponse:
        try:
            obj = json.loads(await request.read())
            user = SimUser(**obj)
        except (ValueError, TypeError):
            return web.json_response({"error": "a user object"}, status=400)
        self.users[user.user_id] = user
        return web.json_response({"user_id": user.user_id})


def _answer(outcome: Outcome, record: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": outcome.value, "message": outcome.info.text_id}
    if record:
        body["data"] = record
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), content_type="application/json"
    )


def _bad_request() -> web.Response:
    return web.json_response({"code": "BAD_REQUEST", "message": "malformed request"}, status=400)


class RunningDukcapilSim:
    """A simulator listening on a port; close() stops it."""

    def __init__(self, sim: DukcapilSim, runner: web.AppRunner, host: str, port: int) -> None:
        self.sim = sim
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:43211."""
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> SimStats:
        """Counts of what the simulator saw."""
        return self.sim.stats

    def set_fault(
        self,
        kind: FaultKind | str,
        *,
        count: int | None = None,
        delay_s: float = 2.0,
        status: int = 503,
    ) -> None:
        """Misbehave on the next `count` API requests (all of them when count is None)."""
        self.sim.set_fault(Fault(FaultKind(kind), count, delay_s, status))

    def clear_fault(self) -> None:
        """Behave again."""
        self.sim.clear_fault()

    async def close(self) -> None:
        """Stop listening and drop connections."""
        self.sim.release()
        await self._runner.cleanup()


async def start_dukcapil_sim(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    users: Iterable[SimUser] = (),
    population: Population | None = None,
    clock: Callable[[], float] = time.time,
    token_ttl_s: float = 3600.0,
) -> RunningDukcapilSim:
    """Start the simulator in this event loop (port 0: a free port)."""
    sim = DukcapilSim(
        population or Population.from_personas(), users, clock=clock, token_ttl_s=token_ttl_s
    )
    runner = web.AppRunner(sim.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = int(runner.addresses[0][1])
    return RunningDukcapilSim(sim, runner, host, bound)
