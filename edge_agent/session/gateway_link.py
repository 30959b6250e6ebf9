"""The link to the Platform Bersama gateway: HTTPS with the device's client certificate.

One aiohttp ClientSession for the agent's life: keep-alive connections, TLS sessions resumed
when a connection has to be opened again, a connect and a total timeout per attempt, and one
retry with the same request id and replay key after a connection error (the gateway answers a
request id once and keeps the answer for the retry sealed under the session's replay key). An
unreachable or misbehaving gateway is the SERVICE_UNAVAILABLE outcome, with the reason logged
without personal data.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from common.buffers import wipe
from common.errors import TlsFileError
from common.tls import ResumingContext, configure_client
from edge_agent.config import GatewayConfig
from edge_agent.errors import ConfigError
from protocol.messages import (
    REPLAY_KEY_BYTES,
    MatchEvidence,
    MessageError,
    ReaderIdentity,
    VerificationRequest,
    VerificationResponse,
    decode_body,
    encode_body,
    parse_verification_response,
)
from protocol.nik import has_nik_shape
from protocol.outcomes import Outcome

_log = logging.getLogger(__name__)

VERIFY_PATH = "/v1/verifications"
USER_AGENT = "kiosk-agent/0.1"
_ATTEMPTS = 2  # the first, and one retry after a connection error
_ERROR_CODE = re.compile(r"^[A-Z][A-Z_]{0,39}$")  # letters only: never a number that could be data


@dataclass(slots=True)
class LinkStats:
    """Counters of the link, for tests, the bench and health reports."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    unavailable: int = 0


class _Unavailable(Exception):
    """The gateway could not give a usable answer; the message says why (no personal data)."""


def tls_context(config: GatewayConfig) -> ResumingContext:
    """The device's client context for the gateway (ConfigError if its files do not load)."""
    try:
        return configure_client(
            ResumingContext(), config.ca_file, config.cert_file, config.key_file
        )
    except TlsFileError as err:
        key = "gateway.ca_file" if err.role == "ca" else "gateway.cert_file"
        raise ConfigError(key, str(err)) from err


class GatewayLink:
    """The agent's one client of the gateway. `start()` inside the loop, `close()` at the end."""

    def __init__(
        self,
        config: GatewayConfig,
        device_id: str,
        *,
        ssl_context: ResumingContext | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._cfg = config
        self._url = config.url + VERIFY_PATH
        self._device_id = device_id
        self._ctx = ssl_context or tls_context(config)
        self._session: aiohttp.ClientSession | None = None
        self._busy: dict[aiohttp.ClientSession, int] = {}  # requests under way, per client
        self._done = asyncio.Event()
        self.stats = LinkStats()
        self._wall = wall
        # gateway's clock minus the kiosk's (seconds, from its answers' Date), None until known
        self.clock_offset: float | None = None

    def clock_from_date(self, date: str | None) -> None:
        """Measure the kiosk clock's offset from an answer's Date header (1 s resolution)."""
        if not date:
            return
        try:
            gateway_time = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        offset = gateway_time - self._wall()
        # Date is truncated to the second: within a second the clocks agree
        self.clock_offset = 0.0 if -1.0 <= offset <= 1.0 else round(offset)

    def gateway_time(self) -> float:
        """Now as the gateway's clock says (the kiosk's own until an answer came)."""
        return self._wall() + (self.clock_offset or 0.0)

    @property
    def tls(self) -> ResumingContext:
        """The TLS context (handshake and resumption counts)."""
        return self._ctx

    async def start(self) -> None:
        """Create the HTTP client (no connection is opened until the first request)."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            ssl=self._ctx,
            limit=4,
            keepalive_timeout=self._cfg.keepalive,
            enable_cleanup_closed=True,
        )
        timeout = aiohttp.ClientTimeout(
            total=self._cfg.request_timeout,
            connect=self._cfg.connect_timeout,
            sock_connect=self._cfg.connect_timeout,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers={"User-Agent": f"{USER_AGENT} ({self._device_id})"},
            raise_for_status=False,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def use_tls(self, ssl_context: ResumingContext) -> None:
        """New requests go out with `ssl_context` (a renewed identity); requests under way end
        on their old connections first, then those close (within one request's time)."""
        old = self._session
        self._ctx = ssl_context
        self._session = None
        await self.start()
        if old is None:
            return
        try:
            async with asyncio.timeout(self._cfg.request_timeout * _ATTEMPTS + 1.0):
                while self._busy.get(old, 0) > 0:
                    self._done.clear()
                    await self._done.wait()
        except TimeoutError:
            _log.warning("a request outlived the switch of TLS identity; closing it")
        self._busy.pop(old, None)
        await old.close()

    async def close(self) -> None:
        """Close every connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def verify(
        self,
        request_id: str,
        nik: bytearray,
        match: MatchEvidence,
        reader: ReaderIdentity,
        replay_key: bytearray,
    ) -> VerificationResponse:
        """POST one verification; never raises for network trouble (SERVICE_UNAVAILABLE)."""
        self.stats.requests += 1
        if not has_nik_shape(nik) or len(replay_key) != REPLAY_KEY_BYTES:
            self.stats.unavailable += 1
            _log.error("refusing to send request_id=%s: malformed NIK or replay key", request_id)
            return VerificationResponse(request_id, Outcome.SERVICE_UNAVAILABLE)
        body = _request_body(request_id, nik, match, reader, replay_key)
        try:
            return await self._post(request_id, body)
        except _Unavailable as err:
            self.stats.unavailable += 1
            _log.warning("gateway unavailable request_id=%s: %s", request_id, err)
            return VerificationResponse(request_id, Outcome.SERVICE_UNAVAILABLE)
        finally:
            wipe(body)

    async def post_body(self, path: str, request_id: str, body: bytearray) -> tuple[int, bytes]:
        """One POST of a JSON `body` on the link's connections (data balikan): status and body.

        aiohttp's errors and timeouts are raised as they are; the caller retries.
        """
        if self._session is None:
            raise aiohttp.ClientConnectionError("the gateway link is not started")
        headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
        async with self._session.post(self._cfg.url + path, data=body, headers=headers) as resp:
            return resp.status, await resp.read()

    async def _post(self, request_id: str, body: bytearray) -> VerificationResponse:
        session, ctx = self._session, self._ctx  # a switch of identity leaves these to end
        if session is None:
            raise _Unavailable("link not started")
        self._busy[session] = self._busy.get(session, 0) + 1
        try:
            return await self._post_on(session, ctx, request_id, body)
        finally:
            self._busy[session] -= 1
            self._done.set()

    async def _post_on(
        self,
        session: aiohttp.ClientSession,
        ctx: ResumingContext,
        request_id: str,
        body: bytearray,
    ) -> VerificationResponse:
        headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
        for attempt in range(1, _ATTEMPTS + 1):
            self.stats.attempts += 1
            try:
                async with session.post(self._url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
                    self.clock_from_date(resp.headers.get("Date"))
                ctx.remember()
                break
            except aiohttp.ClientSSLError as err:
                ctx.forget()
                raise _Unavailable(f"TLS failure: {type(err).__name__}") from err
            except (TimeoutError, aiohttp.ClientConnectionError) as err:
                reason = f"{type(err).__name__} on attempt {attempt}"
                if attempt == _ATTEMPTS:
                    raise _Unavailable(reason) from err
                self.stats.retries += 1
                _log.info(
                    "gateway connection error, retrying request_id=%s: %s", request_id, reason
                )
            except aiohttp.ClientError as err:
                raise _Unavailable(f"HTTP client error: {type(err).__name__}") from err
        return _parse_answer(status, raw, request_id)


def _request_body(
    request_id: str,
    nik: bytearray,
    match: MatchEvidence,
    reader: ReaderIdentity,
    replay_key: bytearray,
) -> bytearray:
    """The JSON body in a bytearray the caller wipes; NIK and key are text only while it is built.

    The retry sends these same bytes: the same request id and replay key.
    """
    request = VerificationRequest(request_id, nik.decode("ascii"), match, reader, bytes(replay_key))
    return bytearray(encode_body(request.to_json()))


def _parse_answer(status: int, raw: bytes, request_id: str) -> VerificationResponse:
    if status == 403 and _error_code(raw) == Outcome.DEVICE_DEACTIVATED.value:
        # the gateway refuses this kiosk (revoked, reader deactivated, network cut)
        _log.warning("gateway refuses this device request_id=%s", request_id)
        return VerificationResponse(request_id, Outcome.DEVICE_DEACTIVATED)
    if status != 200:
        raise _Unavailable(f"HTTP {status} ({_error_code(raw)})")
    try:
        answer = parse_verification_response(decode_body(raw))
    except MessageError as err:
        raise _Unavailable(f"malformed answer: {err.field}: {err.reason}") from err
    if answer.request_id != request_id:
        raise _Unavailable("answer for another request id")
    return answer


def _error_code(raw: bytes) -> str:
    """The `error.code` of an error body, if it has one (never the message)."""
    try:
        err = decode_body(raw).get("error")
    except MessageError:
        return "no error body"
    code = err.get("code") if isinstance(err, dict) else None
    if isinstance(code, str) and _ERROR_CODE.match(code):
        return code
    return "no error code"
