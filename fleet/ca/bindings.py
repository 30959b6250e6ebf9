"""The kiosk's hardware on the fleet service's EST listener: what the technician's tool registers.

    PUT    /provision/v1/devices/{device_id}/hardware   the inventory read from the devices
                                                        (protocol.inventory.Inventory JSON)
    DELETE /provision/v1/devices/{device_id}/hardware   forget it (decommission)

PUT is allowed to a technician's (or an admin's) certificate, or to the kiosk's own certificate
(CN = device_id) while the registry holds no other hardware for it: a kiosk may register what
it was given, but only a technician may change it ("may not change hands"). A SAM or reader
already bound to another kiosk is refused, and so is a SAM Dukcapil has not activated. The
bindings go to the registry, then the reader and SAM are pinned at the gateway through
GatewayAdmin (in force there at once, no restart); each call writes an audit line. DELETE is
for technicians and admins. Refusals are `text/plain`, one line naming what to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from common.roles import Role, role_of_name
from fleet.ca.errors import EnrolError
from fleet.ca.est import MAX_BODY, StoreCall, _peer
from fleet.ca.issuer import Issuer, hex_serial
from fleet.errors import FleetError
from fleet.gateway import GatewayAdmin
from fleet.store.base import AuditEntry, DeviceEntry, FleetStore, StoreError
from protocol.inventory import Inventory
from protocol.strict import StrictError

if TYPE_CHECKING:
    from fleet.ca.server import DeviceCa
    from fleet.config import FleetConfig

_log = logging.getLogger(__name__)
HARDWARE = "/provision/v1/devices/{device_id}/hardware"
PEOPLE = (Role.TECHNICIAN, Role.ADMIN)
GatewayFactory = Callable[[], GatewayAdmin]


class BindingsApi:
    """The hardware routes over the Issuer (its CA and clock), the store and the gateway."""

    def __init__(
        self,
        issuer: Issuer,
        call: StoreCall[Any],
        *,
        admin_ca: x509.Certificate | None,
        gateway: GatewayFactory | None,
    ) -> None:
        self._issuer = issuer
        self._call = call
        self._admin_ca = admin_ca
        self._gateway = gateway

    def add_routes(self, app: web.Application) -> None:
        """Register the routes."""
        app.router.add_put(HARDWARE, self._guard(self.put_hardware))
        app.router.add_delete(HARDWARE, self._guard(self.delete_hardware))

    def _guard(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                response: web.StreamResponse = await handler(request)
                return response
            except EnrolError as err:
                _log.info("hardware %s refused (%s): %s", request.method, err.code, err)
                return web.Response(status=err.status, text=f"{err}\n")
            except StoreError as err:
                _log.error("hardware %s failed: %s", request.method, err)
                return web.Response(
                    status=503,
                    text="the registry cannot be written now; try again in a minute\n",
                    headers={"Retry-After": "60"},
                )

        return run

    async def put_hardware(self, request: web.Request) -> web.Response:
        """PUT: store the inventory, pin reader and SAM at the gateway, write the audit line."""
        device = request.match_info["device_id"]
        who, role = await self._caller(request, device)
        inv = await _inventory(request)
        if not inv.sam_activated:
            raise EnrolError(
                409,
                "sam_not_activated",
                f"SAM {inv.sam_serial} is not activated by Dukcapil; ask for its activation first",
            )
        bindings = inv.bindings()
        await self._call(lambda store: _store(store, device, bindings, kiosk=role is Role.KIOSK))
        pinned, problem = await self._pin(device, inv.reader_id, inv.sam_id)
        detail: dict[str, str | int | bool | None] = {**bindings, "gateway_pinned": pinned}
        outcome = "done" if pinned else "gateway_failed"
        now = int(self._issuer.now().timestamp())
        entry = AuditEntry(now, who, "bind_hardware", device, outcome, None, detail)
        await self._call(lambda store: store.append_audit(entry))
        _log.info(
            "hardware of %s registered by %s: %s (gateway %s)", device, who, bindings, outcome
        )
        if not pinned:
            return web.Response(
                status=502,
                text=f"stored in the registry, but the gateway did not take the pin: {problem}\n",
            )
        return web.json_response({"device": device, "bindings": bindings, "gateway_pinned": True})

    async def delete_hardware(self, request: web.Request) -> web.Response:
        """DELETE: forget the hardware in the registry and unpin it at the gateway."""
        device = request.match_info["device_id"]
        who, role = await self._caller(request, device)
        if role is Role.KIOSK:
            raise EnrolError(403, "not_technician", "only a technician may unbind a kiosk")
        await self._call(lambda store: _store(store, device, {}, kiosk=False))
        unpinned, problem = await self._unpin(device)
        outcome = "done" if unpinned else "gateway_failed"
        now = int(self._issuer.now().timestamp())
        entry = AuditEntry(now, who, "unbind_hardware", device, outcome)
        await self._call(lambda store: store.append_audit(entry))
        if not unpinned:
            return web.Response(
                status=502,
                text=f"removed from the registry, but the gateway kept the pin: {problem}\n",
            )
        return web.json_response({"device": device, "bindings": {}, "gateway_pinned": False})

    async def _pin(self, device: str, reader_id: str, sam_id: str) -> tuple[bool, str]:
        if self._gateway is None:
            return False, "no [gateway] in fleet.toml"
        factory = self._gateway

        def pin() -> None:
            with factory() as gw:
                gw.bind(device, reader_id, sam_id)

        try:
            await asyncio.to_thread(pin)
        except FleetError as err:
            _log.error("pinning %s at the gateway failed: %s", device, err)
            return False, str(err)
        return True, ""

    async def _unpin(self, device: str) -> tuple[bool, str]:
        if self._gateway is None:
            return False, "no [gateway] in fleet.toml"
        factory = self._gateway

        def unpin() -> None:
            with factory() as gw:
                gw.unbind(device)

        try:
            await asyncio.to_thread(unpin)
        except FleetError as err:
            _log.error("unpinning %s at the gateway failed: %s", device, err)
            return False, str(err)
        return True, ""

    async def _caller(self, request: web.Request, device: str) -> tuple[str, Role]:
        """Who calls: a technician or admin (their name), or this kiosk itself (its id)."""
        cert = _peer(request)
        refused = EnrolError(
            403,
            "not_allowed",
            "registering hardware needs a technician certificate or the kiosk's own certificate",
        )
        if cert is None:
            raise refused
        ca = self._issuer.ca.cert
        admin_ca = self._admin_ca
        if admin_ca is not None and cert.issuer == admin_ca.subject:
            _issued_by(cert, admin_ca, refused)
            role = role_of_name(cert.subject, admin_ca=True)
            if role not in PEOPLE:
                raise refused
        elif cert.issuer == ca.subject:
            _issued_by(cert, ca, refused)
            role = Role.KIOSK
        else:
            raise refused
        name = _common_name(cert)
        if role is Role.KIOSK and name != device:
            raise EnrolError(403, "other_kiosk", "a kiosk may register only its own hardware")
        now = self._issuer.now()
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            raise EnrolError(
                403, "expired", f"the certificate of {name} is expired or not yet valid"
            )
        serial = hex_serial(cert)
        known = await self._call(lambda store: store.certificates(name=name))
        if any(c.serial == serial and c.revoked_at is not None for c in known):
            raise EnrolError(403, "revoked", f"the certificate of {name} is revoked")
        return name, role


def _issued_by(cert: x509.Certificate, ca: x509.Certificate, refused: EnrolError) -> None:
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        raise refused from None


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else ""


async def _inventory(request: web.Request) -> Inventory:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise EnrolError(413, "too_large", "the request body is too large")
    try:
        doc = json.loads(await request.read())
        return Inventory.from_json(doc)
    except web.HTTPRequestEntityTooLarge:
        raise EnrolError(413, "too_large", "the request body is too large") from None
    except StrictError as err:
        raise EnrolError(400, "bad_request", f"the inventory: {err}") from None
    except ValueError:
        raise EnrolError(400, "bad_request", "the body must be a JSON inventory object") from None


def _store(store: FleetStore, device: str, bindings: dict[str, str], *, kiosk: bool) -> None:
    """Put the bindings in the registry entry (EnrolError when the registry refuses them)."""
    entry = store.device(device)
    if entry is None:
        raise EnrolError(404, "not_registered", f"{device} is not in the registry")
    if kiosk and entry.bindings and dict(entry.bindings) != bindings:
        raise EnrolError(
            409,
            "hardware_changed",
            f"{device} is bound to other hardware; a technician must register the change",
        )
    for part in ("reader", "sam"):
        held = bindings.get(part)
        other = _holder(store, part, held, device) if held else None
        if other is not None:
            raise EnrolError(
                409,
                "bound_elsewhere",
                f"the {part} {held} is bound to {other}; unbind it there first",
            )
    store.put_device(replace(entry, bindings=bindings))


def _holder(store: FleetStore, part: str, serial: str, device: str) -> str | None:
    """The other registered kiosk this reader or SAM is bound to, if any."""
    for row in store.fleet():
        entry: DeviceEntry | None = row.entry
        if entry is not None and entry.device != device and entry.bindings.get(part) == serial:
            return entry.device
    return None


def bindings_api(config: FleetConfig, ca: DeviceCa, call: StoreCall[Any]) -> BindingsApi:
    """The hardware routes of the fleet service: its CA, store and [gateway] of fleet.toml."""
    g = config.gateway
    factory: GatewayFactory | None = None
    if g is not None:
        url, ctx = g.url, g.tls.context()
        factory = lambda: GatewayAdmin(url, ctx, timeout=10.0)  # noqa: E731
    return BindingsApi(ca.issuer, call, admin_ca=ca.admin_cert, gateway=factory)
