"""Remote deactivation, sanctions and commands: signed admin documents checked, persisted, applied.

`RemoteControl` decides. A desired state is accepted only if its signature verifies with a pinned
admin key, it names this kiosk, it is not issued in the future, and its version is above the last
one applied; the same document again (same version, same body) is a harmless duplicate. A command
is accepted only once (its nonce) and before it expires. Every refusal is a security event in
the `edge_agent.security` log. An accepted document is written to disk (atomic, fsync) before
anything acts on it, so a kiosk killed at any point never applies a replay after its restart.
Commands are therefore at most once: one accepted and then lost in a crash is not run again.

`Enforcer` (edge_agent.uplink.enforcer) makes the kiosk follow the state. `RemoteChannel` is the
MQTT side: it receives `desired` and `cmd/<id>`, publishes `reported` and `cmd/<id>/ack`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.errors import StorageFailure
from edge_agent.uplink.enforcer import Enforcer
from edge_agent.uplink.mqtt.client import Message
from edge_agent.uplink.mqtt.errors import MqttError
from edge_agent.uplink.statefile import SECURITY, RemoteState, StateFile
from edge_agent.uplink.storage import StorageWatch, describe
from protocol.mqtt import (
    AckMessage,
    AckStatus,
    Channel,
    RejectedDocument,
    ReportedMessage,
    TopicError,
    ack_topic,
    command_filter,
    encode,
    parse_topic,
    topic,
)
from protocol.signed import (
    Command,
    CommandName,
    DesiredState,
    Rejection,
    SignedDocumentError,
    verify_document,
)

_log = logging.getLogger(__name__)

CLOCK_SKEW = 300  # seconds a document's issue time may be ahead of the kiosk's clock
MAX_COMMAND_LIFETIME = 86400  # a command valid for longer than this is refused


class VerdictKind(Enum):
    """What became of a document."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on one document, and the state after it."""

    kind: VerdictKind
    state: RemoteState
    rejection: Rejection | None = None
    desired: DesiredState | None = None
    command: Command | None = None


class RemoteControl:
    """Checks signed admin documents against the pinned keys and the persisted state."""

    def __init__(
        self,
        device_id: str,
        keys: Mapping[str, Ed25519PublicKey],
        state_file: StateFile,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.device_id = device_id
        self._keys = dict(keys)
        self._file = state_file
        self.wall = wall  # the gateway's clock once known: windows judged on it
        self._state = state_file.load(wall())
        self.last_rejected: RejectedDocument | None = None
        self.storage: StorageWatch | None = None  # where an unsaved restrictive state waits

    @property
    def state(self) -> RemoteState:
        """The state in force (as on disk)."""
        return self._state

    def desired(self, raw: bytes) -> Verdict:
        """Check a desired-state document; persist it before returning APPLIED."""
        now = int(self.wall())
        try:
            doc = verify_document(raw, self._keys)
        except SignedDocumentError as err:
            return self._reject(Channel.DESIRED, err.rejection, now)
        body = doc.body
        if not isinstance(body, DesiredState):
            return self._reject(Channel.DESIRED, Rejection.WRONG_KIND, now, kid=doc.kid)
        if body.device != self.device_id:
            return self._reject(
                Channel.DESIRED, Rejection.WRONG_DEVICE, now, kid=doc.kid, other=body.device
            )
        state = self._state
        # A restrictive document (deactivation, a new sanction) applies whatever the kiosk's
        # clock says: the version order alone refuses replays. A permissive one keeps its window.
        restrictive = body.deactivated or not set(body.sanctions) <= set(state.sanctions)
        if body.issued_at > now + CLOCK_SKEW and not restrictive:
            return self._reject(
                Channel.DESIRED, Rejection.NOT_YET_VALID, now, body.version, doc.kid
            )
        if state.resync:
            # the state file did not verify: any document at least as new as the anchor
            if body.version < state.version:
                return self._reject(
                    Channel.DESIRED, Rejection.STALE_VERSION, now, body.version, doc.kid
                )
        elif body.version == state.version and doc.digest == state.digest:
            if _agrees(state, body):
                return Verdict(VerdictKind.DUPLICATE, state, desired=body)
            SECURITY.warning(
                "security_event kind=state_disagrees version=%d action=reapplied", body.version
            )
        elif body.version <= state.version or (
            body.issued_at < state.not_before and not restrictive
        ):
            return self._reject(
                Channel.DESIRED, Rejection.STALE_VERSION, now, body.version, doc.kid
            )
        new = state.replace(
            version=body.version,
            digest=doc.digest,
            deactivated=body.deactivated,
            reason=body.reason,
            sanctions=body.sanctions,
            issued_at=body.issued_at,
            applied_at=now,
            resync=False,
        )
        self._save_or_hold(new, restrictive=_restricts(state, new))
        _log.warning(
            "desired state v%d applied: %s (issuer %s, key %s)",
            body.version,
            body.state.value,
            body.issuer,
            doc.kid,
        )
        return Verdict(VerdictKind.APPLIED, new, desired=body)

    def command(self, command_id: str, raw: bytes) -> Verdict:
        """Check a command; its nonce is persisted before returning APPLIED (at most once)."""
        now = int(self.wall())
        try:
            doc = verify_document(raw, self._keys)
        except SignedDocumentError as err:
            return self._reject(Channel.CMD, err.rejection, now)
        body = doc.body
        if not isinstance(body, Command):
            return self._reject(Channel.CMD, Rejection.WRONG_KIND, now, kid=doc.kid)
        if body.device != self.device_id:
            return self._reject(
                Channel.CMD, Rejection.WRONG_DEVICE, now, kid=doc.kid, other=body.device
            )
        if body.nonce != command_id:
            return self._reject(Channel.CMD, Rejection.TOPIC_MISMATCH, now, kid=doc.kid)
        if body.issued_at > now + CLOCK_SKEW or body.issued_at < self._state.not_before:
            return self._reject(Channel.CMD, Rejection.NOT_YET_VALID, now, kid=doc.kid)
        if now >= body.expires_at or body.expires_at - body.issued_at > MAX_COMMAND_LIFETIME:
            return self._reject(Channel.CMD, Rejection.EXPIRED, now, kid=doc.kid)
        if body.nonce in self._state.nonces:
            return self._reject(Channel.CMD, Rejection.NONCE_REUSED, now, kid=doc.kid)
        nonces = {n: exp for n, exp in self._state.nonces.items() if exp > now - CLOCK_SKEW}
        if len(nonces) >= 4000:  # a flood of valid commands: keep the newest expiries
            for old in sorted(nonces, key=nonces.__getitem__)[: len(nonces) - 3999]:
                del nonces[old]
        nonces[body.nonce] = body.expires_at
        new = self._state.replace(nonces=nonces)
        self._save_or_hold(new, restrictive=False)  # the nonce is spent before the command runs
        _log.info("command %s accepted (issuer %s)", body.command.value, body.issuer)
        return Verdict(VerdictKind.APPLIED, new, command=body)

    def record_tamper(self, cause: str) -> RemoteState:
        """Latch the tamper state on disk (fsync) and return it; already latched: unchanged."""
        if self._state.tampered:
            return self._state
        now = int(self.wall())
        new = self._state.replace(tampered=True, tamper_cause=cause, tampered_at=now)
        self._save_or_hold(new, restrictive=True)
        SECURITY.warning(
            "security_event kind=tamper cause=%s device=%s action=deactivated",
            cause,
            self.device_id,
        )
        return new

    def _save_or_hold(self, new: RemoteState, *, restrictive: bool) -> None:
        """Persist `new` (fsync) and put it in force. If the folder cannot be written: a
        restrictive state is in force at once, in memory, and saved as soon as the folder can
        be written (`storage`); anything else raises StorageFailure and is not in force."""
        try:
            self._file.save(new)
        except OSError as err:
            failure = StorageFailure(self._file.path, describe(err))
            if not restrictive or self.storage is None:
                if self.storage is not None:
                    self.storage.failed(failure)
                raise failure from err
            self._state = new
            _log.error("restrictive state in force in memory only until it is saved: %s", failure)
            self.storage.failed(failure)
            self.storage.later("remote-state", self._save_current)
            return
        self._state = new

    def _save_current(self) -> None:
        self._file.save(self._state)

    def reported(self) -> ReportedMessage:
        """What the kiosk reports: the applied version, its state, the last refusal."""
        s = self._state
        return ReportedMessage(
            version=s.version,
            deactivated=s.refuses_sessions,
            sanctions=tuple(x.value for x in s.sanctions),
            tampered=s.tampered,
            applied_at=s.applied_at,
            rejected=self.last_rejected,
        )

    def _reject(
        self,
        channel: Channel,
        rejection: Rejection,
        now: int,
        version: int | None = None,
        kid: str | None = None,
        other: str | None = None,
    ) -> Verdict:
        SECURITY.warning(
            "security_event kind=admin_document_rejected channel=%s reason=%s device=%s "
            "version=%s kid=%s named_device=%s",
            channel.value,
            rejection.value,
            self.device_id,
            "-" if version is None else version,
            kid or "-",
            other or "-",
        )
        self.last_rejected = RejectedDocument(rejection.value, now, version)
        return Verdict(VerdictKind.REJECTED, self._state, rejection=rejection)


def _agrees(state: RemoteState, body: DesiredState) -> bool:
    """True if the local state says what the document says."""
    return (
        state.deactivated == body.deactivated
        and set(state.sanctions) == set(body.sanctions)
        and not state.resync
    )


def _restricts(old: RemoteState, new: RemoteState) -> bool:
    """True if `new` refuses sessions, or adds a sanction: in force even before it is saved."""
    return new.refuses_sessions or not set(new.sanctions) <= set(old.sanctions)


Publish = Callable[[str, bytes, int, bool], Awaitable[None]]
CommandAction = Callable[[], Awaitable[AckStatus]]


class RemoteChannel:
    """The MQTT side of remote control: `desired` and `cmd/<id>` in, `reported` and acks out."""

    def __init__(
        self,
        control: RemoteControl,
        enforcer: Enforcer,
        publish: Publish,
        *,
        actions: Mapping[CommandName, CommandAction] | None = None,
        wall: Callable[[], float] = time.time,
        on_change: Callable[[RemoteState], None] | None = None,
    ) -> None:
        self.control = control
        self._enforcer = enforcer
        self._publish = publish
        self._actions = dict(actions or {})
        self._wall = wall
        self._on_change = on_change
        device = control.device_id
        self.desired_topic = topic(device, Channel.DESIRED)
        self.reported_topic = topic(device, Channel.REPORTED)
        self.command_filter = command_filter(device)

    def subscriptions(self) -> list[tuple[str, int]]:
        """What to subscribe to on every connection."""
        return [(self.desired_topic, 1), (self.command_filter, 1)]

    async def publish_reported(self) -> None:
        """Publish the retained `reported` document (QoS 1)."""
        payload = encode(self.control.reported().to_json())
        await self._publish(self.reported_topic, payload, 1, True)

    async def handle(self, message: Message) -> bool:
        """Handle a message on `desired` or `cmd/<id>`; False if it is not for this channel."""
        try:
            ref = parse_topic(message.topic)
        except TopicError:
            return False
        if ref.device != self.control.device_id:
            return False
        if ref.channel is Channel.DESIRED:
            await self._desired(message.payload)
            return True
        if ref.channel is Channel.CMD and ref.command_id is not None:
            await self._command(ref.command_id, message.payload)
            return True
        return False

    async def _desired(self, payload: bytes) -> None:
        if not payload:
            return  # the retained document was cleared: nothing to apply
        refused_before = self.control.state.refuses_sessions
        try:
            verdict = self.control.desired(payload)
        except StorageFailure as err:
            _log.error("desired state not applied, it cannot be saved: %s", err)
            storage = self.control.storage
            if storage is not None:
                storage.later("desired", lambda: self._desired_again(payload))
            return
        if verdict.kind is VerdictKind.APPLIED:
            if refused_before or verdict.state.refuses_sessions:
                # an active kiosk that stays active (a sanction label such as quota_reduced):
                # the page and a citizen's session go on undisturbed
                self._enforcer.apply(verdict.state)
            if self._on_change is not None:
                self._on_change(verdict.state)
        if verdict.kind is not VerdictKind.DUPLICATE:
            await self._try(self.publish_reported())

    def _desired_again(self, payload: bytes) -> None:
        """The folder can be written again: the desired state that waited (on the loop)."""
        asyncio.get_running_loop().create_task(self._desired(payload), name="desired-again")

    async def _command(self, command_id: str, payload: bytes) -> None:
        try:
            verdict = self.control.command(command_id, payload)
        except StorageFailure as err:
            _log.error("command refused, its nonce cannot be saved: %s", err)
            verdict = Verdict(VerdictKind.REJECTED, self.control.state)
        now = int(self._wall())
        if verdict.rejection is None and verdict.kind is VerdictKind.REJECTED:
            ack = AckMessage(command_id, AckStatus.REJECTED, now, "storage_failure")
        elif verdict.kind is not VerdictKind.APPLIED or verdict.command is None:
            reason = verdict.rejection.value if verdict.rejection else ""
            ack = AckMessage(command_id, AckStatus.REJECTED, now, reason)
            await self._try(self.publish_reported())
        else:
            action = self._actions.get(verdict.command.command)
            if action is None:
                ack = AckMessage(command_id, AckStatus.UNSUPPORTED, now, "not_supported")
            else:
                try:
                    status = await action()
                except Exception:
                    _log.exception("command %s failed", verdict.command.command.value)
                    status = AckStatus.FAILED
                ack = AckMessage(command_id, status, int(self._wall()))
        device = self.control.device_id
        payload = encode(ack.to_json())
        await self._try(self._publish(ack_topic(device, command_id), payload, 1, False))

    async def _try(self, publishing: Awaitable[None]) -> None:
        try:
            await publishing
        except MqttError as err:  # the next connection publishes `reported` again
            _log.info("not published now: %s", err)
