"""Handover records (BAST) on the fleet service's EST listener: countersigned, stored, chained.

    GET  /provision/v1/devices/{device}/records   the kiosk's records, oldest first
    POST /provision/v1/devices/{device}/records   a record signed by the kiosk and the technician

The caller presents a client certificate of the device CA (the kiosk itself) or of the admin CA
(a technician or an admin). A posted record must verify (protocol.handover.verify), name a
registered kiosk with its serial and institution, a technician whose certificate is valid and
not revoked, the kiosk's current certificate (a handover), and continue the kiosk's chain: seq
= the number of records stored, prev = the last one's hash (409 saying what is expected
otherwise). The same record posted again answers the stored one (the tool may resend after a
cut). The fleet service then countersigns with the device CA's key and stores it.

A decommission record also revokes the kiosk's certificates (reason `decommission`), clears its
bindings in the registry and sets its state: `decommissioned`, or `active` (unbound, no live
certificate) when the reason starts with `return-to-service` so that a fresh provisioning with a
new enrolment token brings it back (after a tamper).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from common.roles import Role, role_of_name
from fleet.ca.errors import EnrolError
from fleet.ca.est import StoreCall, _peer, guarded
from fleet.ca.issuer import Issuer, hex_serial
from fleet.provisioning import escrow
from fleet.store.base import DeviceState, FleetStore, StoreError
from fleet.store.handoverstore import HandoverQueries, StoredRecord
from protocol import handover as codec

_log = logging.getLogger(__name__)
ROUTE = "/provision/v1/devices/{device}/records"
RETURN_TO_SERVICE = "return-to-service"
MAX_BODY = codec.MAX_RECORD_BYTES


def handover_store(store: FleetStore) -> HandoverQueries:
    """The store's handover part (StoreError for a store without one)."""
    if not isinstance(store, HandoverQueries):
        raise StoreError(f"the {type(store).__name__} store keeps no handover records")
    return store


def chain_of(store: FleetStore, device: str) -> list[dict[str, Any]]:
    """A kiosk's stored records, oldest first, as JSON objects."""
    return [json.loads(r.record) for r in handover_store(store).handover_records(device)]


class HandoverApi:
    """The handover routes over the Issuer (its CA key countersigns) and the store."""

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
        self._published = published

    def add_routes(self, app: web.Application) -> None:
        """Register the routes."""
        busy = "the fleet service cannot store records now"
        for method, path, handler in (
            ("GET", ROUTE, self.records),
            ("POST", ROUTE, self.append),
            ("GET", ROUTE + "/{seq}/pdf", self.pdf),
            ("PUT", escrow.KEY_ROUTE, self.mcu_key),
            ("POST", escrow.CLEAR_ROUTE, self.mcu_clear),
        ):
            app.router.add_route(method, path, guarded(handler, "handover", busy))

    def _caller(self, request: web.Request, device: str) -> None:
        """Refuse a caller without a certificate of ours (a kiosk only for itself)."""
        cert = _peer(request)
        ca = self._issuer.ca.cert
        if cert is not None and cert.issuer == ca.subject and _cn(cert) == device:
            return
        if (
            cert is not None
            and self._admin_ca is not None
            and cert.issuer == self._admin_ca.subject
        ):
            return
        raise EnrolError(
            403, "no_certificate", "handover records need the kiosk's or a technician's certificate"
        )

    async def records(self, request: web.Request) -> web.Response:
        """GET: the kiosk's chain."""
        device = request.match_info["device"]
        self._caller(request, device)
        chain = await self._call(lambda store: chain_of(store, device))
        return web.json_response({"device": device, "records": chain})

    async def pdf(self, request: web.Request) -> web.Response:
        """GET: one record's printable page (Indonesian)."""
        from fleet.provisioning.document import render_pdf

        device = request.match_info["device"]
        self._caller(request, device)
        chain = await self._call(lambda store: chain_of(store, device))
        seq = request.match_info["seq"]
        if not seq.isdigit() or int(seq) >= len(chain):
            raise EnrolError(404, "no_record", f"{device} has no record {seq}")
        record = chain[int(seq)]
        body = await asyncio.to_thread(render_pdf, record)
        return web.Response(body=body, content_type="application/pdf")

    async def mcu_key(self, request: web.Request) -> web.Response:
        """PUT: escrow the kiosk's MCU clear key (before the tool sets it in the MCU)."""
        device = request.match_info["device"]
        self._caller(request, device)
        key = escrow.parse_key(await escrow.json_body(request))
        at = int(self._issuer.wall())
        await self._call(lambda store: escrow.escrow(store, device, key, at))
        _log.info("MCU key of %s escrowed", device)
        return web.json_response({"device": device, "escrowed": True}, status=201)

    async def mcu_clear(self, request: web.Request) -> web.Response:
        """POST: one authorised tamper clear (a technician's or an admin's certificate)."""
        device = request.match_info["device"]
        who = self._person(request)
        counter, seq = escrow.parse_clear(await escrow.json_body(request))
        payload = await self._call(lambda store: escrow.clear_for(store, device, counter, seq))
        _log.warning("tamper clear of %s (latch %d) authorised for %s", device, seq, who)
        return web.json_response({"device": device, "payload": payload.hex()})

    def _person(self, request: web.Request) -> str:
        """The CN of a technician's or admin's certificate (EnrolError 403 otherwise)."""
        cert = _peer(request)
        if cert is None or self._admin_ca is None or cert.issuer != self._admin_ca.subject:
            raise EnrolError(403, "not_person", "a tamper clear needs a technician or an admin")
        if role_of_name(cert.subject, admin_ca=True) not in (Role.TECHNICIAN, Role.ADMIN):
            raise EnrolError(403, "not_person", "a tamper clear needs a technician or an admin")
        return _cn(cert)

    async def append(self, request: web.Request) -> web.Response:
        """POST: verify, countersign, store (and for a decommission: revoke and unbind)."""
        device = request.match_info["device"]
        self._caller(request, device)
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise EnrolError(413, "too_large", "the record is too large")
        raw = await request.read()
        admin_ca = self._admin_ca
        if admin_ca is None:
            raise EnrolError(503, "no_admin_ca", "the fleet service holds no admin CA certificate")
        try:
            record = codec.decode(raw)
            body = codec.verify(record, device_ca=self._issuer.ca.cert, admin_ca=admin_ca)
        except codec.HandoverRecordError as err:
            raise EnrolError(400, "bad_record", f"the handover record is refused: {err}") from None
        if body.device != device:
            raise EnrolError(400, "other_device", "the record names another kiosk than the URL")
        stored, superseded = await self._call(lambda store: self._store(store, record, body))
        if superseded and self._published is not None:
            await self._published()
        return web.json_response(stored, status=201)

    def _store(
        self, store: FleetStore, record: dict[str, Any], body: codec.HandoverBody
    ) -> tuple[dict[str, Any], bool]:
        """Checks against the registry and the chain, then countersign and store (worker)."""
        entry = store.device(body.device)
        if entry is None:
            raise EnrolError(404, "unknown_device", f"{body.device} is not registered")
        if entry.serial != body.serial:
            raise EnrolError(
                409,
                "wrong_serial",
                f"{body.device} is registered with another serial than {body.serial}: check the"
                " serial on the kiosk's label",
            )
        if entry.institution != body.institution:
            raise EnrolError(409, "other_institution", f"{body.device} is of another institution")
        self._check_certificates(store, record, body)
        chain = handover_store(store).handover_records(body.device)
        if body.seq < len(chain):
            old = json.loads(chain[body.seq].record)
            if {k: old[k] for k in record} == record:
                return old, False  # sent again after a cut: the stored one
        prev = chain[-1].hash if chain else codec.GENESIS
        if body.seq != len(chain) or body.prev != prev:
            raise EnrolError(
                409,
                "chain",
                f"the record must continue the chain of {body.device}: seq {len(chain)},"
                f" prev {prev}",
            )
        signed = self._issuer.ca._signed(  # the CA's token errors translated as for certificates
            lambda: codec.countersign(record, self._issuer.ca.key, int(self._issuer.wall()))
        )
        row = StoredRecord(
            body.device,
            body.seq,
            body.kind,
            body.at,
            codec.record_hash(signed),
            codec.encode(signed).decode("ascii"),
        )
        if not handover_store(store).append_handover(row):
            raise EnrolError(409, "chain", "another record was stored meanwhile: try again")
        revoked = False
        if body.kind == "decommission":
            revoked = bool(self._issuer.revoke_device(store, body.device, "decommission"))
            back = body.reason.startswith(RETURN_TO_SERVICE)
            state = DeviceState.ACTIVE if back else DeviceState.DECOMMISSIONED
            store.put_device(dataclasses.replace(entry, bindings={}, state=state))
        _log.info("handover record %d (%s) of %s stored", body.seq, body.kind, body.device)
        return signed, revoked

    def _check_certificates(
        self, store: FleetStore, record: dict[str, Any], body: codec.HandoverBody
    ) -> None:
        now = int(self._issuer.wall())
        tech = x509.load_pem_x509_certificate(record["technician_cert"].encode("ascii"))
        if role_of_name(tech.subject, admin_ca=True) not in (Role.TECHNICIAN, Role.ADMIN):
            raise EnrolError(403, "not_technician", "the record's second signer is no technician")
        known = {c.serial: c for c in store.certificates(name=body.technician)}
        t = known.get(hex_serial(tech))
        if t is not None and t.revoked_at is not None:
            raise EnrolError(403, "revoked", f"the certificate of {body.technician} is revoked")
        if not tech.not_valid_before_utc.timestamp() <= now < tech.not_valid_after_utc.timestamp():
            raise EnrolError(403, "expired", "the technician's certificate is not valid now")
        if body.kind != "handover":
            return
        kiosk = x509.load_pem_x509_certificate(record["kiosk_cert"].encode("ascii"))
        mine = {c.serial: c for c in store.certificates(kind=Role.KIOSK.value, name=body.device)}
        k = mine.get(hex_serial(kiosk))
        if k is None or k.revoked_at is not None or k.not_after <= now:
            raise EnrolError(
                403,
                "kiosk_certificate",
                f"the record's kiosk certificate is not a live certificate of {body.device}:"
                " enrol the kiosk first",
            )


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else ""
