"""The EST client (RFC 7030) of the kiosk: simpleenroll with an enrolment token, simplereenroll.

Requests are base64 DER PKCS#10 (`application/pkcs10`); answers are base64 degenerate PKCS#7
(`application/pkcs7-mime; smime-type=certs-only`) holding the new certificate. `simpleenroll`
authenticates with HTTP Basic (the kiosk's serial and the technician's single-use enrolment
token); `simplereenroll` with the kiosk's current certificate and token key (TLS client auth).
Every failure is an IdentityError saying what happened and what to do; the token never
appears in a message or a log.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from edge_agent.errors import IdentityError

_log = logging.getLogger(__name__)

ENROLL = "/simpleenroll"
REENROLL = "/simplereenroll"
MAX_ANSWER = 64 * 1024


class EstClient:
    """EST at `base_url` (https://host:port/.well-known/est)."""

    def __init__(self, base_url: str, *, timeout: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    async def simpleenroll(
        self,
        csr: x509.CertificateSigningRequest,
        serial: str,
        token: str,
        ssl_context: ssl.SSLContext,
    ) -> x509.Certificate:
        """A first certificate, authorised by the enrolment token (HTTP Basic serial:token)."""
        basic = base64.b64encode(f"{serial}:{token}".encode()).decode("ascii")
        return await self._post(ENROLL, csr, ssl_context, f"Basic {basic}")

    async def simplereenroll(
        self, csr: x509.CertificateSigningRequest, ssl_context: ssl.SSLContext
    ) -> x509.Certificate:
        """A renewed certificate for a new key, authorised by the current certificate (TLS)."""
        return await self._post(REENROLL, csr, ssl_context, None)

    async def _post(
        self,
        path: str,
        csr: x509.CertificateSigningRequest,
        ctx: ssl.SSLContext,
        authorization: str | None,
    ) -> x509.Certificate:
        url = self.base_url + path
        body = base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))
        headers = {"Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"}
        if authorization is not None:
            headers["Authorization"] = authorization
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=ctx),
                    timeout=timeout,
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as http,
                http.post(url, data=body, headers=headers) as resp,
            ):
                status = resp.status
                raw = await resp.content.read(MAX_ANSWER + 1)
        except aiohttp.ClientSSLError as err:
            raise IdentityError(
                f"EST {path}: TLS with the enrolment service at {self.base_url} failed "
                f"({_short(err)}); check [identity] est_ca_file and the kiosk's certificate",
                retry=True,
            ) from err
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise IdentityError(
                f"EST {path}: the enrolment service at {self.base_url} is unreachable "
                f"({type(err).__name__}); the kiosk tries again",
                retry=True,
            ) from err
        if status != 200:
            raise IdentityError(
                f"EST {path}: the enrolment service refused ({status}): {_first_line(raw)}",
                retry=status >= 500,
            )
        return _certificate(raw, path)


def _certificate(raw: bytes, path: str) -> x509.Certificate:
    """The first certificate of a base64 certs-only PKCS#7; IdentityError when it is not one."""
    try:
        if len(raw) > MAX_ANSWER:
            raise ValueError("answer too large")
        der = base64.b64decode(b"".join(raw.split()), validate=True)
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except (binascii.Error, ValueError) as err:
        raise IdentityError(
            f"EST {path}: the answer is not a base64 certs-only PKCS#7", retry=True
        ) from err
    if not certs:
        raise IdentityError(f"EST {path}: the answer holds no certificate", retry=True)
    return certs[0]


def _first_line(raw: bytes) -> str:
    text = raw[:300].decode("utf-8", "replace").strip().splitlines()
    return text[0] if text else "no reason given"


def _short(err: Exception) -> str:
    reason = getattr(err, "reason", None) or getattr(err, "strerror", None)
    return str(reason) if reason else type(err).__name__
