"""What `kiosk-fleet` does at the broker and the gateway: sign and publish desired states (one
kiosk or many at once, on one broker connection), send a signed command, read the fleet's
retained state. The signing key is read only by the calls that sign.

Versions: the next version is above both the retained `desired` (if its signature verifies
with our key) and the kiosk's `reported`, and at least the current Unix time, so it increases
even for an admin machine that never saw the earlier documents.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import secrets
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.config import FleetConfig, TlsFiles
from fleet.errors import EXIT_TIMEOUT, EXIT_USAGE, FleetError
from fleet.gateway import GatewayAdmin
from fleet.mqtt import FleetMqtt, Received
from fleet.reports import (
    certificate_cn,
    desired_version,
    offline_message,
    read_public_key,
    read_signing_key,
    reported_for,
    reported_or_empty,
)
from protocol.mqtt import (
    AckMessage,
    Channel,
    PayloadError,
    ReportedMessage,
    ack_topic,
    command_topic,
    fleet_filter,
    is_device_id,
    parse_ack,
    parse_reported,
    topic,
)
from protocol.signed import (
    Command,
    CommandName,
    DesiredState,
    KioskState,
    Sanction,
    SignedDocumentError,
    keyring,
    sign_document,
)

_FEW = 8  # up to this many kiosks: subscribe to their own topics, else to the fleet's


class Outcome(Enum):
    """What became of an action on one kiosk (as the audit trail records it)."""

    DONE = "done"  # the kiosk reported the new version
    TIMEOUT = "timeout"  # no report in time: offline, the retained document waits for it
    REFUSED = "refused"  # the kiosk refused the document
    FAILED = "failed"  # the broker or the gateway failed


@dataclass(frozen=True, slots=True)
class StatePlan:
    """One kiosk's next desired state; `revoke`: revoke (True) or reinstate (False) the device
    at the gateway too, None to leave the gateway alone."""

    device: str
    deactivate: bool
    reason: str
    sanctions: tuple[Sanction, ...] = ()
    revoke: bool | None = None


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """What became of one kiosk's desired state."""

    device: str
    version: int
    deactivated: bool
    outcome: Outcome
    document_sha256: str | None
    gateway: str  # revoked, reinstated, skipped, failed
    detail: str  # one line for the admin
    elapsed_s: float
    reported: ReportedMessage | None = None

    def to_json(self) -> dict[str, Any]:
        """The --json form."""
        return {
            "device": self.device,
            "version": self.version,
            "deactivated": self.deactivated,
            "outcome": self.outcome.value,
            "document_sha256": self.document_sha256,
            "gateway": self.gateway,
            "detail": self.detail,
            "elapsed_s": round(self.elapsed_s, 3),
        }


Progress = Callable[[int, int], None]


class Fleet:
    """The admin's tool, from a FleetConfig."""

    def __init__(self, config: FleetConfig, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self._wall = wall
        self._key: Ed25519PrivateKey | None = None
        try:
            self.name = config.name or certificate_cn(config.broker.tls.cert_file)
        except FleetError as err:
            raise FleetError(f"{err} (cert_file in [broker] of {config.source})") from err

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The admin's signing key, read on first use (FleetError saying what is wrong)."""
        if self._key is None:
            self._key = read_signing_key(self.config)
        return self._key

    @property
    def keys(self) -> dict[str, Any] | None:
        """Our public key by key id, to verify retained documents: from the signing key, else
        from [admin] public_key (a read-only admin); None without either."""
        if self.config.signing_key is not None:
            with contextlib.suppress(FleetError):  # status goes on without the signing key
                return keyring(self.signing_key.public_key())
        if self.config.public_key is None:
            return None
        return keyring(read_public_key(self.config))

    def connect(self) -> FleetMqtt:
        """A connected broker client (close it, or use it in a `with`)."""
        b = self.config.broker
        tls = self._tls(b.tls, "broker")
        client = FleetMqtt(b.host, b.port, tls, self.name, timeout=self.config.connect_timeout)
        client.connect()
        return client

    def gateway(self) -> GatewayAdmin | None:
        """The gateway's admin API client, or None when fleet.toml has no [gateway]."""
        g = self.config.gateway
        if g is None:
            return None
        return GatewayAdmin(g.url, self._tls(g.tls, "gateway"), timeout=self.config.connect_timeout)

    def _tls(self, files: TlsFiles, section: str) -> ssl.SSLContext:
        try:
            return files.context()
        except FleetError as err:
            where = f"ca_file, cert_file, key_file of [{section}] in {self.config.source}"
            raise FleetError(f"{err} ({where})") from err

    # --- desired state ----------------------------------------------------------------------

    def set_state_many(
        self,
        devices: Sequence[str],
        *,
        deactivate: bool,
        reason: str,
        sanctions: tuple[Sanction, ...] = (),
        timeout: float | None = None,
        use_gateway: bool = False,
        progress: Progress | None = None,
    ) -> list[DeviceResult]:
        """The same state for many kiosks: one signed document each, published together on one
        connection, then every report awaited at once; a result per device, in order."""
        revoke = deactivate if use_gateway else None
        plans = [StatePlan(d, deactivate, reason, sanctions, revoke) for d in devices]
        return self.publish_states(plans, timeout=timeout, progress=progress)

    def publish_states(
        self,
        plans: Sequence[StatePlan],
        *,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> list[DeviceResult]:
        """Sign and publish each plan's document (retained), revoke/reinstate at the gateway
        where asked, and wait up to `timeout` for all the kiosks' reports."""
        for plan in plans:
            _check_device(plan.device)
        if len({p.device for p in plans}) != len(plans):
            raise FleetError("a kiosk is named twice", EXIT_USAGE)
        key = self.signing_key
        keys = keyring(key.public_key())
        t0 = time.perf_counter()
        timeout = self.config.reported_timeout if timeout is None else timeout
        channels = (Channel.DESIRED, Channel.REPORTED, Channel.STATE)
        if len(plans) <= _FEW:
            filters = [topic(p.device, c) for p in plans for c in channels]
        else:
            filters = [fleet_filter(c) for c in channels]
        with self.connect() as mq:
            retained = {m.topic: m.payload for m in mq.snapshot(filters)}
            # only the reports from now on: not our own documents nor presence (a flood of
            # thousands would overrun the broker's queue for this client)
            mq.unsubscribe([f for f in filters if not f.endswith(Channel.REPORTED.value)])
            now = int(self._wall())
            docs: list[tuple[DesiredState, bytes]] = []
            for plan in plans:
                known = max(
                    desired_version(retained.get(topic(plan.device, Channel.DESIRED)), keys),
                    reported_or_empty(retained.get(topic(plan.device, Channel.REPORTED))).version,
                )
                body = DesiredState(
                    device=plan.device,
                    version=max(known + 1, now),
                    state=KioskState.DEACTIVATED if plan.deactivate else KioskState.ACTIVE,
                    reason=plan.reason,
                    sanctions=tuple(sorted(set(plan.sanctions), key=lambda s: s.value)),
                    issued_at=now,
                    issuer=self.name,
                )
                try:
                    docs.append((body, sign_document(body, key)))
                except SignedDocumentError as err:
                    raise FleetError(f"cannot sign: {err}", EXIT_USAGE) from err
            sent = mq.publish_many(
                [(topic(b.device, Channel.DESIRED), raw, True) for b, raw in docs]
            )
            gateway = self._gateway_step(plans)
            matchers = {
                topic(b.device, Channel.REPORTED): reported_for(
                    topic(b.device, Channel.REPORTED), b.version, now
                )
                for (b, _), error in zip(docs, sent, strict=True)
                if error is None
            }
            found = mq.wait_each(matchers, timeout, progress)
        elapsed = time.perf_counter() - t0
        results = []
        for (body, raw), error, (gw, gw_error) in zip(docs, sent, gateway, strict=True):
            sha = hashlib.sha256(raw).hexdigest()
            answer = found.get(topic(body.device, Channel.REPORTED))
            took = answer.at - t0 if answer is not None else elapsed
            result = _result(body, sha, error, answer, gw, gw_error, took)
            if result.outcome is Outcome.TIMEOUT:
                state = retained.get(topic(body.device, Channel.STATE))
                detail = offline_message(body.device, body.version, state, timeout)
                result = dataclasses.replace(result, detail=detail)
            results.append(result)
        return results

    def _gateway_step(self, plans: Sequence[StatePlan]) -> list[tuple[str, str | None]]:
        """Revoke/reinstate at the gateway where the plans ask: (status, error) per plan."""
        out: list[tuple[str, str | None]] = [("skipped", None)] * len(plans)
        asked = [i for i, p in enumerate(plans) if p.revoke is not None]
        if not asked:
            return out
        client = self.gateway()
        if client is None:
            return out
        with client:
            for i in asked:
                plan = plans[i]
                try:
                    client.set_revoked(plan.device, bool(plan.revoke))
                    out[i] = ("revoked" if plan.revoke else "reinstated", None)
                except FleetError as err:
                    out[i] = ("failed", str(err))
        return out

    # --- commands ---------------------------------------------------------------------------

    def command(
        self, device: str, name: CommandName, *, ttl: int = 300, timeout: float | None = None
    ) -> tuple[AckMessage, str]:
        """Send a signed one-off command and wait for its acknowledgement: (ack, the SHA-256
        of the document); FleetError with EXIT_TIMEOUT when none came."""
        _check_device(device)
        key = self.signing_key
        timeout = self.config.reported_timeout if timeout is None else timeout
        nonce = secrets.token_hex(16)
        now = int(self._wall())
        body = Command(device, nonce, name, now, now + ttl, self.name)
        raw = sign_document(body, key)
        sha = hashlib.sha256(raw).hexdigest()
        ack_t = ack_topic(device, nonce)
        with self.connect() as mq:
            mq.subscribe([ack_t, topic(device, Channel.STATE)])
            mq.publish(command_topic(device, nonce), raw)
            answer = mq.wait_for(lambda m: m.topic == ack_t, timeout)
            if answer is None:
                state = next((m.payload for m in mq.messages if m.topic.endswith("/state")), None)
                message = offline_message(device, None, state, timeout, command=True)
                raise FleetError(message, EXIT_TIMEOUT)
        try:
            return parse_ack(answer.payload), sha
        except PayloadError as err:
            raise FleetError(f"{device} sent a malformed acknowledgement: {err}") from err

    # --- status -----------------------------------------------------------------------------

    def snapshot(self) -> list[Received]:
        """Every retained message of the fleet (state, health, reported, desired)."""
        channels = (Channel.STATE, Channel.HEALTH, Channel.REPORTED, Channel.DESIRED)
        with self.connect() as mq:
            return mq.snapshot([fleet_filter(c) for c in channels])


def _check_device(device: str) -> None:
    if not is_device_id(device):
        raise FleetError(f"not a device id: {device!r}", EXIT_USAGE)


def _result(
    body: DesiredState,
    sha: str,
    publish_error: str | None,
    answer: Received | None,
    gateway: str,
    gateway_error: str | None,
    elapsed: float,
) -> DeviceResult:
    def make(outcome: Outcome, detail: str, rep: ReportedMessage | None = None) -> DeviceResult:
        return DeviceResult(
            body.device, body.version, body.deactivated, outcome, sha, gateway, detail, elapsed, rep
        )

    if publish_error is not None:
        return make(Outcome.FAILED, f"{body.device}: {publish_error}")
    if answer is None:
        return make(Outcome.TIMEOUT, f"{body.device}: no report of version {body.version}")
    reported = parse_reported(answer.payload)
    if reported.version < body.version:
        why = reported.rejected.reason if reported.rejected else "unknown"
        return make(Outcome.REFUSED, f"{body.device} refused version {body.version}: {why}")
    if gateway_error is not None:
        return make(
            Outcome.FAILED, f"{body.device} applied version {body.version}, but {gateway_error}"
        )
    state = "deactivated" if reported.deactivated else "active"
    return make(Outcome.DONE, f"{body.device}: {state} (version {body.version})", reported)
