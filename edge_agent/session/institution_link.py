"""The link to the institution's own service (data balikan): HTTPS with the kiosk's certificate.

One aiohttp ClientSession for the agent's life, one attempt per session (the citizen is waiting;
the institution's number is asked again only by the next session). Whatever goes wrong (no
connection, TLS refused, no answer in time, another status, a malformed body, a refusal) is an
`InstitutionFailure` whose `kind` and detail carry no personal data.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping

import aiohttp

from common.buffers import wipe
from common.errors import TlsFileError
from common.tls import configure_client
from edge_agent.config import BalikanConfig, GatewayConfig
from edge_agent.errors import AgentError, ConfigError
from protocol.balikan import (
    REFUSED_STATUS,
    MemberRequest,
    parse_member_answer,
    refusal_code,
)
from protocol.elements import DataElement
from protocol.messages import MessageError, decode_body, encode_body

_log = logging.getLogger(__name__)
USER_AGENT = "kiosk-agent/0.1"


class InstitutionFailure(AgentError):
    """The institution's service gave no number. `kind`: down, timeout, tls, status, malformed,
    refused; the message says more, without personal data."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def institution_tls(config: BalikanConfig, gateway: GatewayConfig) -> ssl.SSLContext:
    """The client context for the institution's service (ConfigError if its files do not load)."""
    cert = config.cert_file or gateway.cert_file
    key = config.key_file or gateway.key_file
    try:
        return configure_client(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), config.ca_file, cert, key)
    except TlsFileError as err:
        which = "balikan.ca_file" if err.role == "ca" else "balikan.cert_file"
        raise ConfigError(which, str(err)) from err


class InstitutionLink:
    """The agent's one client of the institution's service. `start()`, then `close()`."""

    def __init__(
        self,
        config: BalikanConfig,
        device_id: str,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._cfg = config
        self._device_id = device_id
        self._ctx = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Create the HTTP client (no connection is opened until the first request)."""
        if self._session is not None:
            return
        timeout = aiohttp.ClientTimeout(
            total=self._cfg.timeout,
            connect=self._cfg.connect_timeout,
            sock_connect=self._cfg.connect_timeout,
        )
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._ctx, limit=2, enable_cleanup_closed=True),
            timeout=timeout,
            headers={"User-Agent": f"{USER_AGENT} ({self._device_id})"},
            raise_for_status=False,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Close every connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def member_number(
        self, request_id: str, elements: Mapping[DataElement, bytearray]
    ) -> bytearray:
        """The institution's number for the person whose `elements` these are (a bytearray the
        caller wipes), or InstitutionFailure."""
        if self._session is None:
            raise InstitutionFailure("down", "link not started")
        request = MemberRequest(request_id, {e: v.decode("utf-8") for e, v in elements.items()})
        body = bytearray(encode_body(request.to_json()))
        del request
        headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
        try:
            async with self._session.post(self._cfg.url, data=body, headers=headers) as resp:
                status = resp.status
                raw = await resp.read()
        except aiohttp.ClientSSLError as err:
            raise InstitutionFailure("tls", type(err).__name__) from err
        except TimeoutError as err:
            late = f"no answer within {self._cfg.timeout:g} s"
            raise InstitutionFailure("timeout", late) from err
        except aiohttp.ClientConnectionError as err:
            raise InstitutionFailure("down", type(err).__name__) from err
        except aiohttp.ClientError as err:
            broken = f"HTTP client error {type(err).__name__}"
            raise InstitutionFailure("malformed", broken) from err
        finally:
            wipe(body)
        return _number(status, raw, request_id)


def _number(status: int, raw: bytes, request_id: str) -> bytearray:
    try:
        if status == REFUSED_STATUS:
            raise InstitutionFailure("refused", refusal_code(decode_body(raw)))
        if status != 200:
            raise InstitutionFailure("status", f"HTTP {status}")
        answer = parse_member_answer(decode_body(raw))
    except MessageError as err:
        raise InstitutionFailure("malformed", f"{err.field}: {err.reason}") from err
    if answer.request_id != request_id:
        raise InstitutionFailure("malformed", "answer for another request id")
    return bytearray(answer.number.encode("ascii"))
