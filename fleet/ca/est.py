"""EST (RFC 7030) on the fleet service, and the technicians' enrolment-token route.

    GET  /.well-known/est/cacerts          the device CA (certs-only PKCS#7, base64)
    POST /.well-known/est/simpleenroll     HTTP Basic: username = kiosk serial, password = token
    POST /.well-known/est/simplereenroll   TLS client certificate: the kiosk's current one
    POST /enrol/v1/tokens                  {"serial", "institution"} with a technician's (or an
                                           admin's) certificate: a single-use token, once

HTTPS only. The listener asks for (does not require) a client certificate of the device CA or
the admin CA. Validity dates are checked here rather than by OpenSSL (X509_V_FLAG_NO_CHECK_TIME),
so that an expired kiosk certificate gets a 403 that says so instead of a bare TLS alert;
revocation is checked against the store for the same reason. Refusals are `text/plain`, one
line naming what to do; never a traceback, never a 500 for bad input.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from common.errors import TlsFileError
from common.roles import Role, role_of_name
from common.tls import server_context
from fleet.ca.errors import EnrolError
from fleet.ca.issuer import Issuer, hex_serial
from fleet.ca.settings import EstSettings
from fleet.errors import FleetError
from fleet.store.base import FleetStore, StoreError

_log = logging.getLogger(__name__)
T = TypeVar("T")
StoreCall = Callable[[Callable[[FleetStore], T]], Awaitable[T]]
PREFIX = "/.well-known/est"
TOKENS = "/enrol/v1/tokens"
PKCS7_TYPE = "application/pkcs7-mime; smime-type=certs-only"
MAX_BODY = 32 * 1024
NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: dates are checked here, with a message
TOKEN_ROLES = (Role.TECHNICIAN, Role.ADMIN)


def certs_only(certs: list[x509.Certificate]) -> bytes:
    """A degenerate certs-only PKCS#7 (DER), base64 (RFC 7030 4.1.3) on one line."""
    der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    return base64.b64encode(der)


def est_context(settings: EstSettings, client_cas: list[x509.Certificate]) -> ssl.SSLContext:
    """The listener's TLS: its certificate, client certificates optional, dates not checked."""
    try:
        ctx = server_context(settings.cert_file, settings.key_file, [])
    except TlsFileError as err:
        raise FleetError(f"[est] cert_file/key_file: {err}") from err
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(
        cadata="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in client_cas)
    )
    ctx.verify_flags = ssl.VerifyFlags(int(ctx.verify_flags) | NO_CHECK_TIME)
    return ctx


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(handler: Handler, name: str, unavailable: str, *, challenge: bool = False) -> Handler:
    """`handler` answering a refusal (EnrolError) with its status and message, and a CA or
    store failure with 503, `unavailable` and Retry-After; `challenge` adds EST's Basic
    challenge to a 401."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except EnrolError as err:
            _log.info("%s %s refused (%s): %s", name, request.path, err.code, err)
            basic = challenge and err.status == 401
            headers = {"WWW-Authenticate": 'Basic realm="est"'} if basic else {}
            return web.Response(status=err.status, text=f"{err}\n", headers=headers)
        except (StoreError, FleetError) as err:  # CaError is a FleetError
            _log.error("%s %s failed: %s", name, request.path, err)
            text = f"{unavailable}; try again in a minute\n"
            return web.Response(status=503, text=text, headers={"Retry-After": "60"})

    return run


class EstApi:
    """The EST handlers over an Issuer, the store (through its worker) and the admin CA."""

    def __init__(
        self,
        issuer: Issuer,
        call: StoreCall[Any],
        *,
        admin_ca: x509.Certificate | None,
        published: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._issuer = issuer
        self._call = call
        self._admin_ca = admin_ca
        self._published = published  # after an enrolment that revoked older certificates
        self.enrolments = 0

    def add_routes(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_get(f"{PREFIX}/cacerts", self.cacerts)
        busy = "the enrolment service cannot issue now"
        for path, handler in (
            (f"{PREFIX}/simpleenroll", self.simpleenroll),
            (f"{PREFIX}/simplereenroll", self.simplereenroll),
            (TOKENS, self.tokens),
        ):
            app.router.add_post(path, guarded(handler, "EST", busy, challenge=True))

    async def cacerts(self, request: web.Request) -> web.Response:
        """GET cacerts: the device CA."""
        return _pkcs7(certs_only([self._issuer.ca.cert]))

    async def simpleenroll(self, request: web.Request) -> web.Response:
        """POST simpleenroll: Basic serial:token and a CSR."""
        serial, token = _basic(request)
        body = await _body(request)
        cert, superseded = await self._call(
            lambda store: self._issuer.enrol(store, serial=serial, token=token, body=body)
        )
        self.enrolments += 1
        if superseded and self._published is not None:
            await self._published()
        return _pkcs7(certs_only([cert]))

    async def simplereenroll(self, request: web.Request) -> web.Response:
        """POST simplereenroll: the current certificate (TLS) and a CSR with a new key."""
        current = _peer(request)
        if current is None or current.issuer != self._issuer.ca.name:
            raise EnrolError(
                401, "no_certificate", "re-enrolment needs the kiosk's current device certificate"
            )
        body = await _body(request)
        cert = await self._call(
            lambda store: self._issuer.reenrol(store, current=current, body=body)
        )
        self.enrolments += 1
        return _pkcs7(certs_only([cert]))

    async def tokens(self, request: web.Request) -> web.Response:
        """POST /enrol/v1/tokens: a technician's request for a single-use enrolment token."""
        who = await self._person(request)
        try:
            doc = json.loads(await _body(request))
            serial, institution = doc["serial"], doc["institution"]
            if not isinstance(serial, str) or not isinstance(institution, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise EnrolError(
                400, "bad_request", 'the body must be JSON {"serial": "...", "institution": "..."}'
            ) from None
        issued = await self._call(
            lambda store: self._issuer.issue_token(
                store, serial=serial, institution=institution, technician=who
            )
        )
        return web.json_response(
            {
                "token": issued.token,
                "serial": issued.serial,
                "device": issued.device,
                "institution": issued.institution,
                "expires_at": issued.expires_at,
            },
            status=201,
            headers={"Cache-Control": "no-store"},
        )

    async def _person(self, request: web.Request) -> str:
        """The name of a technician or admin certificate (admin CA, valid, not revoked)."""
        cert = _peer(request)
        ca = self._admin_ca
        refused = EnrolError(
            403, "not_technician", "enrolment tokens are for technician certificates only"
        )
        if cert is None or ca is None or cert.issuer != ca.subject:
            raise refused
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            raise refused from None
        if role_of_name(cert.subject, admin_ca=True) not in TOKEN_ROLES:
            raise refused
        now = self._issuer.now()
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            raise EnrolError(
                403, "expired", "the technician certificate is expired or not yet valid"
            )
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = str(names[0].value) if len(names) == 1 else ""
        serial = hex_serial(cert)
        known = await self._call(lambda store: store.certificates(name=name))
        if any(c.serial == serial and c.revoked_at is not None for c in known):
            raise EnrolError(403, "revoked", f"the certificate of {name} is revoked")
        return name


def _pkcs7(body: bytes) -> web.Response:
    return web.Response(
        body=body,
        headers={"Content-Type": PKCS7_TYPE, "Content-Transfer-Encoding": "base64"},
    )


async def _body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise EnrolError(413, "too_large", "the request body is too large")
    try:
        return await request.read()  # the application's client_max_size is MAX_BODY
    except web.HTTPRequestEntityTooLarge:
        raise EnrolError(413, "too_large", "the request body is too large") from None


def _basic(request: web.Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise EnrolError(
            401,
            "no_token",
            "enrolment needs HTTP Basic authentication: the kiosk serial and its enrolment token",
        )
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise EnrolError(
            401, "bad_authorization", "the Authorization header is not Basic base64"
        ) from None
    serial, sep, token = text.partition(":")
    if not sep or not serial or not token:
        raise EnrolError(401, "bad_authorization", "Basic credentials must be SERIAL:TOKEN")
    return serial, token


def _peer(request: web.Request) -> x509.Certificate | None:
    obj = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = obj.getpeercert(binary_form=True) if obj is not None else None
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None
