"""RemoteControl: which signed documents a kiosk accepts, persisted before it acts, across
restarts and crashes (a new RemoteControl on the same folder is a restart)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.uplink.enforcer import Enforcer
from edge_agent.uplink.remote_control import RemoteControl, VerdictKind
from edge_agent.uplink.statefile import RemoteState, StateFile, atomic_write
from protocol.signed import (
    Command,
    CommandName,
    DesiredState,
    KioskState,
    Rejection,
    Sanction,
    sign_document,
)
from tests.remote.keys import ADMIN, KEYS, OTHER

DEVICE = "KIOSK-A1"
T0 = 1_767_225_600


class Wall:
    """A wall clock moved by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def desired(
    version: int,
    state: KioskState = KioskState.DEACTIVATED,
    *,
    device: str = DEVICE,
    issued_at: int = T0,
    reason: str = "misuse",
    key: Ed25519PrivateKey = ADMIN,
) -> bytes:
    sanctions = (Sanction.READER_DEACTIVATED,)
    body = DesiredState(device, version, state, reason, sanctions, issued_at, "adm")
    return sign_document(body, key)


def command(
    nonce: str = "a" * 32,
    *,
    device: str = DEVICE,
    issued_at: int = T0,
    expires_at: int = T0 + 300,
    name: CommandName = CommandName.PING,
) -> bytes:
    return sign_document(Command(device, nonce, name, issued_at, expires_at, "adm"), ADMIN)


def control(folder: Path, wall: Callable[[], float] | None = None) -> RemoteControl:
    return RemoteControl(DEVICE, KEYS, StateFile(folder / "remote-state.json"), wall=wall or Wall())


@pytest.fixture
def security(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="edge_agent.security")
    return caplog


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge_agent.security"]


def test_fresh_kiosk_is_active(tmp_path: Path) -> None:
    c = control(tmp_path)
    assert c.state == RemoteState()
    assert not c.state.refuses_sessions


def test_deactivation_is_on_disk_before_the_verdict(tmp_path: Path) -> None:
    c = control(tmp_path)
    verdict = c.desired(desired(5))
    assert verdict.kind is VerdictKind.APPLIED
    assert verdict.state.deactivated and verdict.state.version == 5
    on_disk = json.loads((tmp_path / "remote-state.json").read_text())
    assert on_disk["deactivated"] is True and on_disk["version"] == 5
    restarted = control(tmp_path)
    assert restarted.state == verdict.state  # survives a restart
    assert restarted.reported().deactivated


def test_reactivation_by_a_later_version(tmp_path: Path) -> None:
    c = control(tmp_path)
    c.desired(desired(5))
    verdict = c.desired(desired(6, KioskState.ACTIVE))
    assert verdict.kind is VerdictKind.APPLIED and not verdict.state.deactivated
    assert c.reported().version == 6


def test_the_same_document_again_is_harmless_and_silent(
    tmp_path: Path, security: pytest.LogCaptureFixture
) -> None:
    c = control(tmp_path)
    raw = desired(5)
    c.desired(raw)
    assert c.desired(raw).kind is VerdictKind.DUPLICATE
    assert events(security) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (desired(6, key=OTHER), Rejection.UNKNOWN_KEY),
        (desired(6, device="KIOSK-B1"), Rejection.WRONG_DEVICE),
        (desired(4), Rejection.STALE_VERSION),  # rollback
        (desired(5, reason="same version, other body"), Rejection.STALE_VERSION),
        (desired(6, KioskState.ACTIVE, issued_at=T0 + 3600), Rejection.NOT_YET_VALID),
        (command(), Rejection.WRONG_KIND),
        (desired(6)[:-20] + b'AAAAAAAAAAAAAAAAAA"}', Rejection.BAD_SIGNATURE),
        (b"not json", Rejection.MALFORMED),
    ],
)
def test_refused_desired_documents(
    tmp_path: Path, security: pytest.LogCaptureFixture, raw: bytes, reason: Rejection
) -> None:
    c = control(tmp_path)
    c.desired(desired(5))
    before = c.state
    verdict = c.desired(raw)
    assert verdict.kind is VerdictKind.REJECTED and verdict.rejection is reason
    assert c.state == before == control(tmp_path).state
    logged = events(security)
    assert len(logged) == 1 and f"reason={reason.value}" in logged[0]
    rejected = c.reported().rejected
    assert rejected is not None and rejected.reason == reason.value


def test_commands_once_and_before_expiry(
    tmp_path: Path, security: pytest.LogCaptureFixture
) -> None:
    wall = Wall()
    c = control(tmp_path, wall)
    assert c.command("a" * 32, command()).kind is VerdictKind.APPLIED
    assert c.command("a" * 32, command()).rejection is Rejection.NONCE_REUSED
    assert control(tmp_path, wall).command("a" * 32, command()).rejection is Rejection.NONCE_REUSED
    assert c.command("b" * 32, command("c" * 32)).rejection is Rejection.TOPIC_MISMATCH
    long_lived = command("d" * 32, expires_at=T0 + 2 * 86400)
    assert c.command("d" * 32, long_lived).rejection is Rejection.EXPIRED
    wall.now = T0 + 300
    assert c.command("e" * 32, command("e" * 32)).rejection is Rejection.EXPIRED
    other = command("f" * 32, device="KIOSK-B1", issued_at=T0 + 200, expires_at=T0 + 600)
    assert c.command("f" * 32, other).rejection is Rejection.WRONG_DEVICE
    assert len(events(security)) == 6


def test_spent_nonces_are_forgotten_after_expiry(tmp_path: Path) -> None:
    wall = Wall()
    c = control(tmp_path, wall)
    c.command("a" * 32, command())
    wall.now = T0 + 3600
    c.command("b" * 32, command("b" * 32, issued_at=T0 + 3500, expires_at=T0 + 3900))
    assert set(c.state.nonces) == {"b" * 32}


class Killed(BaseException):
    """The process dies here."""


def test_killed_after_persisting_a_version_before_acting(tmp_path: Path) -> None:
    """The version is on disk before the verdict: a kill right after leaves it in force, and
    the next start refuses the replay of the older document."""
    c = control(tmp_path)
    older = desired(5, KioskState.ACTIVE)
    c.desired(older)
    c.desired(desired(6))  # accepted and persisted; the "process" dies before acting
    restarted = control(tmp_path)
    assert restarted.state.deactivated and restarted.state.version == 6
    assert restarted.desired(older).rejection is Rejection.STALE_VERSION
    assert restarted.state.deactivated


def test_killed_after_accepting_a_command_before_running_it(tmp_path: Path) -> None:
    c = control(tmp_path)
    assert c.command("a" * 32, command()).kind is VerdictKind.APPLIED
    restarted = control(tmp_path)  # killed before the command ran: it never runs
    assert restarted.command("a" * 32, command()).rejection is Rejection.NONCE_REUSED


def test_killed_while_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between writing the temporary file and renaming it: the old state is in force,
    nothing acted on the new one, and replays are refused as before."""
    c = control(tmp_path)
    c.desired(desired(5))

    def die_before_rename(src: object, dst: object) -> None:
        raise Killed

    monkeypatch.setattr(os, "replace", die_before_rename)
    with pytest.raises(Killed):
        c.desired(desired(6, KioskState.ACTIVE))
    monkeypatch.undo()
    assert list(tmp_path.glob(".remote-state.json.*.tmp"))  # the half-done write is there
    restarted = control(tmp_path)
    assert not list(tmp_path.glob(".remote-state.json.*.tmp"))  # and dropped at start
    assert restarted.state.version == 5 and restarted.state.deactivated
    assert restarted.desired(desired(4)).rejection is Rejection.STALE_VERSION
    assert restarted.desired(desired(6, KioskState.ACTIVE)).kind is VerdictKind.APPLIED


def test_an_unreadable_state_file_fails_closed(
    tmp_path: Path, security: pytest.LogCaptureFixture
) -> None:
    wall = Wall(T0 + 100)
    path = tmp_path / "remote-state.json"
    atomic_write(path, b'{"v": 1, "version": "seven"}')
    c = control(tmp_path, wall)
    assert c.state.deactivated and c.state.reason == "state_unreadable"
    assert any("state_file_rejected" in e and str(path) in e for e in events(security))
    assert list(tmp_path.glob("remote-state.json.unreadable-*"))
    # deactivated until a signed document arrives (tests/remote/test_state_binding.py: at
    # least as new as the anchored version)
    fresh = desired(9, KioskState.ACTIVE, issued_at=T0 + 100)
    assert c.desired(fresh).kind is VerdictKind.APPLIED and not c.state.refuses_sessions


def test_tamper_latch_survives_and_is_not_undone_by_reactivation(tmp_path: Path) -> None:
    c = control(tmp_path)
    c.record_tamper("enclosure")
    c.desired(desired(3, KioskState.ACTIVE))
    restarted = control(tmp_path)
    assert restarted.state.tampered and restarted.state.refuses_sessions
    assert restarted.reported().tampered and restarted.reported().deactivated


class FakeSession:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def deactivate(self) -> None:
        self.calls.append("deactivate")

    def reactivate(self) -> None:
        self.calls.append("reactivate")


class FakeIndicators:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def show(self, pattern: str) -> None:
        self.shown.append(pattern)


def test_enforcer() -> None:
    session, leds = FakeSession(), FakeIndicators()
    enforcer = Enforcer(session, leds)
    enforcer.apply(RemoteState(deactivated=True))
    enforcer.apply(RemoteState())
    enforcer.apply(RemoteState(tampered=True))
    assert session.calls == ["deactivate", "reactivate", "deactivate"]
    assert leds.shown == ["tamper"]


@pytest.mark.parametrize("offset", [-86400, -600, 600, 86400])
def test_a_deactivation_applies_whatever_the_kiosk_clock_says(tmp_path: Path, offset: int) -> None:
    """The kiosk's clock a day or ten minutes off either way: deactivated all the same."""
    c = control(tmp_path, Wall(T0 + offset))
    verdict = c.desired(desired(5, issued_at=T0))
    assert verdict.kind is VerdictKind.APPLIED and c.state.deactivated
    assert c.desired(desired(4, issued_at=T0)).rejection is Rejection.STALE_VERSION  # replay
    # a reactivation keeps its validity window: not from a day in the kiosk's future
    if offset <= -86400:
        late = desired(6, KioskState.ACTIVE, issued_at=T0)
        assert c.desired(late).rejection is Rejection.NOT_YET_VALID
        assert c.state.deactivated


def test_a_reactivation_is_judged_on_the_gateways_clock_once_known(tmp_path: Path) -> None:
    """A kiosk a day behind: its reactivation waits for nothing once the agent judges the
    window on the gateway's clock (the wiring sets `wall` to GatewayLink.gateway_time)."""
    kiosk = Wall(T0 - 86400 - 600)
    c = control(tmp_path, kiosk)
    assert c.desired(desired(5, issued_at=T0)).kind is VerdictKind.APPLIED
    reactivation = desired(6, KioskState.ACTIVE, issued_at=T0 + 10)
    assert c.desired(reactivation).rejection is Rejection.NOT_YET_VALID  # on its own clock
    c.wall = lambda: kiosk() + 86400 + 600  # the offset measured against the gateway
    assert c.desired(reactivation).kind is VerdictKind.APPLIED and not c.state.deactivated
