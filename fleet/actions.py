"""What `kiosk-fleet` does: sign and publish a desired state (and tell the gateway), send a
signed command, read the fleet's retained state.

Versions: the next version is above both the retained `desired` (if its signature verifies
with our key) and the kiosk's `reported`, and at least the current Unix time, so it increases
even for an admin machine that never saw the earlier documents.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from fleet.config import FleetConfig
from fleet.errors import EXIT_REJECTED, EXIT_TIMEOUT, EXIT_USAGE, FleetError
from fleet.gateway import GatewayAdmin
from fleet.mqtt import FleetMqtt, Received
from protocol.mqtt import (
    AckMessage,
    Channel,
    PayloadError,
    Presence,
    ReportedMessage,
    StateMessage,
    TopicError,
    ack_topic,
    command_topic,
    fleet_filter,
    is_device_id,
    parse_ack,
    parse_reported,
    parse_state,
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
    load_private_key,
    sign_document,
    verify_document,
)


@dataclass(frozen=True, slots=True)
class StateChange:
    """The result of deactivate/reactivate."""

    device: str
    version: int
    deactivated: bool
    gateway: str  # revoked, reinstated, skipped
    reported: ReportedMessage
    elapsed_s: float  # from the start of the call to the kiosk's report


def certificate_cn(path: Path) -> str:
    """The CN of a PEM certificate (the admin's name at the broker)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    except (OSError, ValueError, IndexError) as err:
        raise FleetError(f"{path}: not a PEM certificate with a CN") from err
    return value if isinstance(value, str) else value.decode()


class Fleet:
    """The admin's tool, from a FleetConfig."""

    def __init__(self, config: FleetConfig, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self._wall = wall
        try:
            self._key = load_private_key(config.signing_key.read_bytes())
        except (OSError, ValueError) as err:
            message = f"{config.signing_key}: not an Ed25519 private key"
            raise FleetError(message, EXIT_USAGE) from err
        self.keys = keyring(self._key.public_key())
        self.name = config.name or certificate_cn(config.broker.tls.cert_file)

    def connect(self) -> FleetMqtt:
        """A connected broker client (close it, or use it in a `with`)."""
        b = self.config.broker
        client = FleetMqtt(
            b.host, b.port, b.tls.context(), self.name, timeout=self.config.connect_timeout
        )
        client.connect()
        return client

    # --- desired state ----------------------------------------------------------------------

    def set_state(
        self,
        device: str,
        *,
        deactivate: bool,
        reason: str,
        sanctions: tuple[Sanction, ...] = (),
        timeout: float | None = None,
        use_gateway: bool = True,
    ) -> StateChange:
        """Sign, publish (retained), tell the gateway, wait for the kiosk's `reported`."""
        _check_device(device)
        t0 = time.perf_counter()
        timeout = self.config.reported_timeout if timeout is None else timeout
        desired_t = topic(device, Channel.DESIRED)
        reported_t = topic(device, Channel.REPORTED)
        state_t = topic(device, Channel.STATE)
        with self.connect() as mq:
            retained = {m.topic: m.payload for m in mq.snapshot([desired_t, reported_t, state_t])}
            known = max(
                self._desired_version(retained.get(desired_t)),
                _reported(retained.get(reported_t)).version if reported_t in retained else 0,
            )
            now = int(self._wall())
            version = max(known + 1, now)
            body = DesiredState(
                device=device,
                version=version,
                state=KioskState.DEACTIVATED if deactivate else KioskState.ACTIVE,
                reason=reason,
                sanctions=sanctions,
                issued_at=now,
                issuer=self.name,
            )
            try:
                raw = sign_document(body, self._key)
            except SignedDocumentError as err:
                raise FleetError(f"cannot sign: {err}", EXIT_USAGE) from err
            mq.publish(desired_t, raw, retain=True)
            gateway_error: FleetError | None = None
            gateway = "skipped"
            if use_gateway and self.config.gateway is not None:
                try:
                    self._gateway().set_revoked(device, deactivate)
                    gateway = "revoked" if deactivate else "reinstated"
                except FleetError as err:
                    gateway_error = err
            answer = mq.wait_for(_reported_for(reported_t, version, now), timeout)
            if answer is None:
                raise FleetError(
                    _offline_message(device, version, retained.get(state_t), timeout), EXIT_TIMEOUT
                )
            reported = parse_reported(answer.payload)
            if reported.version < version:
                why = reported.rejected.reason if reported.rejected else "unknown"
                raise FleetError(f"{device} refused version {version}: {why}", EXIT_REJECTED)
            if gateway_error is not None:
                raise FleetError(f"{device} applied version {version}, but {gateway_error}")
        return StateChange(
            device, version, reported.deactivated, gateway, reported, time.perf_counter() - t0
        )

    def _desired_version(self, raw: bytes | None) -> int:
        if not raw:
            return 0
        try:
            doc = verify_document(raw, self.keys)
        except SignedDocumentError:
            return 0  # signed by another admin key: the reported version still counts
        return doc.body.version if isinstance(doc.body, DesiredState) else 0

    def _gateway(self) -> GatewayAdmin:
        g = self.config.gateway
        assert g is not None
        return GatewayAdmin(g.url, g.tls.context(), timeout=self.config.connect_timeout)

    # --- commands ---------------------------------------------------------------------------

    def command(
        self, device: str, name: CommandName, *, ttl: int = 300, timeout: float | None = None
    ) -> AckMessage:
        """Send a signed one-off command and wait for its acknowledgement."""
        _check_device(device)
        timeout = self.config.reported_timeout if timeout is None else timeout
        nonce = secrets.token_hex(16)
        now = int(self._wall())
        body = Command(device, nonce, name, now, now + ttl, self.name)
        raw = sign_document(body, self._key)
        ack_t = ack_topic(device, nonce)
        with self.connect() as mq:
            mq.subscribe([ack_t, topic(device, Channel.STATE)])
            mq.publish(command_topic(device, nonce), raw)
            answer = mq.wait_for(lambda m: m.topic == ack_t, timeout)
            if answer is None:
                state = next((m.payload for m in mq.messages if m.topic.endswith("/state")), None)
                message = _offline_message(device, None, state, timeout, command=True)
                raise FleetError(message, EXIT_TIMEOUT)
        try:
            return parse_ack(answer.payload)
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


def _reported(raw: bytes | None) -> ReportedMessage:
    try:
        return parse_reported(raw or b"")
    except PayloadError:
        return ReportedMessage(0, False, (), False, 0)


def _reported_for(reported_t: str, version: int, issued_at: int) -> Callable[[Received], bool]:
    """Matches the kiosk's report of `version`, or a live refusal of our document."""

    def match(msg: Received) -> bool:
        if msg.topic != reported_t:
            return False
        try:
            rep = parse_reported(msg.payload)
        except PayloadError:
            return False
        if rep.version >= version:
            return True
        rej = rep.rejected
        return (
            not msg.retain
            and rej is not None
            and rej.at >= issued_at - 300
            and rej.version in (None, version)
        )

    return match


def _offline_message(
    device: str, version: int | None, state_raw: bytes | None, timeout: float, command: bool = False
) -> str:
    what = "the command expires unanswered" if command else "the retained document waits for it"
    state: StateMessage | None = None
    if state_raw:
        try:
            state = parse_state(state_raw)
        except (PayloadError, TopicError):
            state = None
    since = ""
    if state is not None and state.status is not Presence.ONLINE:
        since = time.strftime(" since %Y-%m-%d %H:%M:%S UTC", time.gmtime(state.ts))
        where = f"{device} is {state.status.value}{since}"
    elif state is None:
        where = f"{device} has never connected"
    else:
        where = f"{device} is online but did not answer"
    subject = f"version {version}" if version is not None else "the command"
    return f"{where}: no report of {subject} within {timeout:g} s; {what}"
