"""A simulated institution's service: a library's member registry over HTTPS with client certs.

API (protocol.balikan): `POST /v1/members` with the elements the kiosk may hand over → `200
{"request_id", "number"}` (a member number), or `422 {"error": {"code": "REFUSED"}}`.

It keeps only its own numbers. The link from a person to a number lives in memory only, as a
keyed BLAKE2s MAC of the NIK (or of name and birth date) under a key made at start, so the same
person gets the same number while the simulator runs. On disk (`data_dir`) are its register of
issued numbers (number and time, nothing about the person) and its log (request id, kiosk,
number, outcome): never a NIK or a name. Faults on demand: slow, refuse, malformed, error; "down"
is `RunningInstitutionSim.stop_listening()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from aiohttp import web

from protocol.balikan import (
    MEMBERS_PATH,
    REFUSED_STATUS,
    MemberAnswer,
    MemberRequest,
    parse_member_request,
)
from protocol.elements import DataElement
from protocol.messages import MAX_BODY_BYTES, MessageError, decode_body, encode_body

log = logging.getLogger(__name__)
REGISTER = "members.txt"
LOG_FILE = "institution.log"
_IDENTITY = (DataElement.NIK, DataElement.FULL_NAME, DataElement.BIRTH_DATE)


class InstitutionFault(Enum):
    """How the simulated service misbehaves."""

    NONE = "none"
    SLOW = "slow"  # answer after delay_s (longer than the kiosk waits)
    REFUSE = "refuse"  # 422 REFUSED
    MALFORMED = "malformed"  # 200 with a body that is not the API's JSON
    ERROR = "error"  # 503


@dataclass
class InstitutionStats:
    """What the simulator saw: counts only."""

    requests: int = 0
    issued: int = 0  # new member numbers
    answered: int = 0  # numbers given (new or known)
    refused: int = 0
    bad_requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)


class MemberRegistry:
    """The library's member numbers; who has which only as keyed MACs in memory."""

    def __init__(self, data_dir: Path, prefix: str = "PERPUS-SIM") -> None:
        self._key = secrets.token_bytes(32)
        self._numbers: dict[bytes, str] = {}
        self._prefix = prefix
        self._register = data_dir / REGISTER
        data_dir.mkdir(parents=True, exist_ok=True)
        self._register.touch()
        with self._register.open(encoding="utf-8") as f:
            self._next = sum(1 for _ in f) + 1

    def number_for(self, elements: dict[DataElement, str]) -> tuple[str, bool]:
        """The member number of the person these elements describe; True when new."""
        mac = hashlib.blake2s(key=self._key, digest_size=16)
        for element in _IDENTITY:
            mac.update(element.value.encode() + b"=" + elements.get(element, "").encode() + b"\0")
        key = mac.digest()
        known = self._numbers.get(key)
        if known is not None:
            return known, False
        number = f"{self._prefix}-{self._next:06d}"
        self._next += 1
        self._numbers[key] = number
        with self._register.open("a", encoding="utf-8") as f:
            f.write(f"{number} {int(time.time())}\n")
        return number, True


class InstitutionSim:
    """State and handler of the simulated service."""

    def __init__(self, data_dir: Path, prefix: str = "PERPUS-SIM") -> None:
        self.registry = MemberRegistry(data_dir, prefix)
        self.stats = InstitutionStats()
        self.changed = asyncio.Event()
        self._fault = InstitutionFault.NONE
        self._delay_s = 30.0
        self._release = asyncio.Event()

    def set_fault(self, fault: InstitutionFault | str, delay_s: float = 30.0) -> None:
        """Misbehave from now on (NONE: behave); requests held by SLOW are released."""
        self._fault = InstitutionFault(fault)
        self._delay_s = delay_s
        self._release.set()
        self._release = asyncio.Event()

    def release(self) -> None:
        """Release requests held by a slow fault (on shutdown)."""
        self._release.set()

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(MEMBERS_PATH, self._members)
        return app

    async def _members(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        kiosk = _peer_cn(request)
        try:
            answer = await self._answer(request, kiosk)
        finally:
            self.changed.set()
        return answer

    async def _answer(self, request: web.Request, kiosk: str) -> web.StreamResponse:
        raw = bytearray(await request.read())
        try:
            member = parse_member_request(decode_body(raw))
        except MessageError as err:
            self.stats.bad_requests += 1
            log.warning("bad request from kiosk=%s: %s", kiosk, err)
            return _error(400, "BAD_REQUEST", f"{err.field}: {err.reason}")
        finally:
            raw[:] = bytes(len(raw))
        fault = self._fault
        if fault is not InstitutionFault.NONE:
            self.stats.faults[fault.value] += 1
            log.info("fault=%s request_id=%s kiosk=%s", fault.value, member.request_id, kiosk)
        if fault is InstitutionFault.SLOW:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self._delay_s)
        elif fault is InstitutionFault.ERROR:
            return _error(503, "UNAVAILABLE", "the registry is down")
        elif fault is InstitutionFault.MALFORMED:
            return web.Response(body=b'{"number": 12, "req', content_type="application/json")
        elif fault is InstitutionFault.REFUSE:
            self.stats.refused += 1
            log.info("refused request_id=%s kiosk=%s", member.request_id, kiosk)
            return _error(REFUSED_STATUS, "REFUSED", "keanggotaan tidak dapat dibuat")
        return self._issue(member, kiosk)

    def _issue(self, member: MemberRequest, kiosk: str) -> web.Response:
        number, new = self.registry.number_for(member.elements)
        self.stats.answered += 1
        self.stats.issued += int(new)
        log.info(
            "member number %s request_id=%s kiosk=%s new=%s",
            number,
            member.request_id,
            kiosk,
            new,
        )
        body = encode_body(MemberAnswer(member.request_id, number).to_json())
        return web.Response(body=body, content_type="application/json")


def _error(status: int, code: str, message: str) -> web.Response:
    body = encode_body({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


def _peer_cn(request: web.Request) -> str:
    """The kiosk's device id (its certificate's CN), for the log."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    cert: Any = ssl_object.getpeercert() if ssl_object is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return "-"


def file_logging(data_dir: Path) -> logging.Handler:
    """Send this simulator's log lines to `data_dir`/institution.log (returns the handler)."""
    handler = logging.FileHandler(data_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # its own file, like a service of its own
    return handler


class RunningInstitutionSim:
    """The simulator listening with TLS on a port; `stop_listening()`/`listen()` take it
    down and bring it back on the same port; `close()` ends it."""

    def __init__(
        self, sim: InstitutionSim, ctx: ssl.SSLContext, host: str, handler: logging.Handler
    ) -> None:
        self.sim = sim
        self._ctx = ctx
        self.host = host
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._handler = handler

    @property
    def url(self) -> str:
        """The members endpoint, e.g. https://127.0.0.1:43211/v1/members."""
        return f"https://{self.host}:{self.port}{MEMBERS_PATH}"

    @property
    def stats(self) -> InstitutionStats:
        """Counts of what the simulator saw."""
        return self.sim.stats

    def set_fault(self, fault: InstitutionFault | str, delay_s: float = 30.0) -> None:
        """Misbehave from now on (InstitutionFault.NONE: behave)."""
        self.sim.set_fault(fault, delay_s)

    async def listen(self) -> None:
        """Listen (again, on the same port after `stop_listening`)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.sim.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self._ctx)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop_listening(self) -> None:
        """The service is down: connections are refused until `listen()`."""
        self.sim.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        """Stop listening and close the log file."""
        await self.stop_listening()
        log.removeHandler(self._handler)
        self._handler.close()


async def start_institution_sim(
    data_dir: Path,
    ctx: ssl.SSLContext,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    prefix: str = "PERPUS-SIM",
) -> RunningInstitutionSim:
    """Start the simulator in this event loop (port 0: a free port); `ctx` is its server context,
    requiring the kiosks' client certificates (common.tls.server_context)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handler = file_logging(data_dir)
    running = RunningInstitutionSim(InstitutionSim(data_dir, prefix), ctx, host, handler)
    running.port = port
    try:
        await running.listen()
    except BaseException:
        await running.close()
        raise
    return running
