"""The kiosk's identity against the fleet's real EST listener, its key in SoftHSM."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography import x509

from common.token import Token
from edge_agent.errors import IdentityError
from edge_agent.identity.device import DeviceIdentity, token_config
from edge_agent.identity.gate import IdentityGate
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationResponse
from protocol.outcomes import Outcome
from tests.clock import FakeClock
from tests.identity.conftest import KIOSK, Est, MakeConfig


async def _enrolled(est: Est, identity_config: MakeConfig, **over: object) -> DeviceIdentity:
    config = identity_config(**over)
    assert config.enrolment_token_file is not None
    config.enrolment_token_file.write_text(await est.token() + "\n")
    identity = DeviceIdentity(config, KIOSK)
    await identity.start()
    return identity


async def test_first_start_makes_the_key_in_the_token_and_enrols(
    est: Est, identity_config: MakeConfig
) -> None:
    identity = await _enrolled(est, identity_config)
    try:
        cert = x509.load_pem_x509_certificate(identity.cert_file.read_bytes())
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == KIOSK
        assert identity.key_file.read_bytes().startswith(b"-----BEGIN PKCS#11 PROVIDER URI-----")
        with Token.open(token_config(identity.config)) as token:
            assert token.key_labels() == [identity.key_label]
            assert token.find_key(str(identity.key_label)).public_key() == cert.public_key()
        # nothing in the identity folder is a private key
        for path in identity.config.dir.iterdir():
            assert b"PRIVATE KEY" not in path.read_bytes(), path
    finally:
        identity.close()


async def test_a_restart_keeps_the_key_and_drops_leftovers(
    est: Est, identity_config: MakeConfig
) -> None:
    first = await _enrolled(est, identity_config)
    label = first.key_label
    first.close()
    with Token.open(token_config(first.config)) as token:
        token.generate_key("left-by-a-crash")
    again = DeviceIdentity(first.config, KIOSK)
    await again.start()
    try:
        assert again.key_label == label
        with Token.open(token_config(first.config)) as token:
            assert token.key_labels() == [label]
    finally:
        again.close()


async def test_renewal_swaps_contexts_before_the_old_key_goes(
    est: Est, identity_config: MakeConfig
) -> None:
    identity = await _enrolled(est, identity_config)
    old_label, old_cert = identity.key_label, identity.cert
    seen: list[list[str]] = []

    async def listener() -> None:
        with Token.open(token_config(identity.config)) as token:
            seen.append(token.key_labels())  # both keys while the contexts are rebuilt
        ctx = identity.client_context(est.pki.server_ca.cert)
        assert ctx is not None

    identity.listeners.append(listener)
    try:
        await identity.renew("test")
        assert identity.key_label != old_label and identity.cert != old_cert
        assert seen == [sorted([str(old_label), str(identity.key_label)])]
        with Token.open(token_config(identity.config)) as token:
            assert token.key_labels() == [identity.key_label]
        assert identity.renewals == 1
    finally:
        identity.close()


async def test_without_a_certificate_or_token_it_says_what_to_do(
    identity_config: MakeConfig,
) -> None:
    identity = DeviceIdentity(identity_config(), KIOSK)
    with pytest.raises(IdentityError, match="no certificate yet and no enrolment token"):
        await identity.start()
    identity.close()


async def test_a_used_token_is_refused_and_no_key_stays(
    est: Est, identity_config: MakeConfig
) -> None:
    first = await _enrolled(est, identity_config)
    first.close()
    config = identity_config(dir=first.config.dir.parent / "other")
    assert config.enrolment_token_file is not None  # the same, already used token
    identity = DeviceIdentity(config, KIOSK)
    with Token.open(token_config(config)) as token:
        token.destroy_all()
    with pytest.raises(IdentityError, match=r"refused \(40[13]\)"):
        await identity.start()
    with Token.open(token_config(config)) as token:
        assert token.key_labels() == []  # the key made for the refused request is gone
    identity.close()


async def test_an_unreachable_fleet_is_named_and_retried(
    est: Est, identity_config: MakeConfig
) -> None:
    config = identity_config(est_url="https://127.0.0.1:9/.well-known/est")
    assert config.enrolment_token_file is not None
    config.enrolment_token_file.write_text("some-token\n")
    identity = DeviceIdentity(config, KIOSK)
    with pytest.raises(IdentityError, match="unreachable") as caught:
        await identity.start()
    assert caught.value.retry
    assert "some-token" not in str(caught.value)
    identity.close()


async def _an_hour_on(clock: FakeClock) -> None:
    """Move the clock an hour on, and return once the woken loop sleeps again."""
    slept = clock.sleeper()
    clock.advance(3600.0)
    await clock.wait_until(lambda: clock.sleeper() not in (None, slept))


async def test_renewal_runs_at_two_thirds_of_life(est: Est, identity_config: MakeConfig) -> None:
    identity = await _enrolled(est, identity_config)
    assert identity.cert is not None
    clock = FakeClock(wall=identity.cert.not_valid_before_utc.timestamp())
    identity._clock = clock
    life = identity.cert.not_valid_after_utc.timestamp() - clock.time()
    renewed = asyncio.Event()

    async def on_renewal() -> None:
        renewed.set()

    identity.listeners.append(on_renewal)
    task = asyncio.create_task(identity.run())
    try:
        await clock.wait_sleeping(min(life * 2 / 3, 3600.0))
        assert identity.renewals == 0
        due = identity.renew_due()
        while not renewed.is_set():  # an hour at a time: each wakes the loop, which sleeps anew
            assert clock.time() < due, "not renewed when due"
            await _an_hour_on(clock)
        assert clock.time() >= due and identity.renewals == 1
    finally:
        task.cancel()
        identity.close()


async def test_a_rotation_wakes_the_renewal_loop(est: Est, identity_config: MakeConfig) -> None:
    # after rotate_certificate the loop waits for the new certificate's two thirds, not the
    # old one's (the demo's short-lived certificate renews at its own 2/3)
    identity = await _enrolled(est, identity_config)
    clock = FakeClock(wall=time.time())
    identity._clock = clock
    task = asyncio.create_task(identity.run())
    try:
        await clock.wait_sleeping(3600.0)
        first = clock.sleeper()
        await identity.renew("rotate_certificate")
        await clock.wait_until(lambda: clock.sleeper() not in (None, first))
        assert first is not None and first.cancelled() and clock.sleeping() == [3600.0]
    finally:
        task.cancel()
        identity.close()


async def test_an_expired_certificate_refuses_sessions(
    est: Est, identity_config: MakeConfig
) -> None:
    identity = await _enrolled(est, identity_config)
    assert identity.cert is not None
    asked: list[str] = []

    class Gateway:
        async def verify(self, request_id: str, *args: object) -> VerificationResponse:
            asked.append(request_id)
            return VerificationResponse(request_id, Outcome.FOUND)

    wall = [identity.cert.not_valid_after_utc.timestamp() - 1]
    gate = IdentityGate(Gateway(), identity, lambda: wall[0])  # type: ignore[arg-type]
    args = (bytearray(b"x"), MatchEvidence("right_index", 80, 1), ReaderIdentity("R", "S"))
    assert (await gate.verify("a" * 32, *args, bytearray(32))).outcome is Outcome.FOUND
    wall[0] += 2
    answer = await gate.verify("b" * 32, *args, bytearray(32))
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE and asked == ["a" * 32]
    identity.close()


def test_paths(tmp_path: Path, identity_config: MakeConfig) -> None:
    config = identity_config()
    assert config.cert_file.parent == config.key_file.parent == config.dir
