"""A renewal while a verification is under way: that verification ends undisturbed on its old
connection, the next ones go out with the new key (real gateway, Dukcapil simulator, EST)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from types import SimpleNamespace

import pytest

from common.token import Token
from edge_agent.config import GatewayConfig
from edge_agent.identity.device import token_config
from edge_agent.session.gateway_link import GatewayLink, tls_context
from gateway.config import parse_config
from gateway.server import start_gateway
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationResponse
from protocol.outcomes import Outcome
from simulators.dukcapil import SimUser, start_dukcapil_sim
from simulators.dukcapil.faults import Fault, FaultKind
from simulators.personas import PERSONAS
from tests.gateway.conftest import USERS, base_config
from tests.identity.conftest import KIOSK, Est, MakeConfig, enrolled
from tests.waiting import until

MATCH = MatchEvidence("right_index", 87, 1)
READER = ReaderIdentity("RDR-EST-1", "SAM-EST-1")


async def _verify(link: GatewayLink) -> VerificationResponse:
    nik = bytearray(PERSONAS["ayu"].nik.encode())
    return await link.verify(
        secrets.token_hex(16), nik, MATCH, READER, bytearray(secrets.token_bytes(32))
    )


async def test_a_verification_across_a_renewal_is_not_disturbed(
    est: Est, identity_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_dukcapil_sim(users=[SimUser(u, p, i) for i, (u, p) in USERS.items()])
    folder = tmp_path / "gateway"
    folder.mkdir()
    data = base_config(folder, SimpleNamespace(pki=est.pki), sim.url, "sqlite", None)  # type: ignore[arg-type]
    gw = await start_gateway(parse_config(data, folder))
    identity = await enrolled(est, identity_config)
    config = GatewayConfig(
        url=gw.url,
        ca_file=est.pki.server_ca.cert,
        cert_file=identity.cert_file,
        key_file=identity.key_file,
        request_timeout=15.0,
    )
    link = GatewayLink(config, KIOSK)
    await link.start()

    switched = asyncio.Event()  # use_tls has started its new session (it then awaits the old)
    start = link.start

    async def start_and_tell() -> None:
        await start()
        switched.set()

    monkeypatch.setattr(link, "start", start_and_tell)

    async def new_contexts() -> None:
        await link.use_tls(tls_context(config))

    identity.listeners.append(new_contexts)
    try:
        assert (await _verify(link)).outcome is Outcome.FOUND
        old_label, old_session = identity.key_label, link._session
        sim.sim.set_fault(Fault(FaultKind.SLOW, count=1, delay_s=30.0))
        held = asyncio.create_task(_verify(link))
        # the answer is held upstream
        await until(lambda: sim.sim.stats.faults >= 1, sim.sim.stats.changed)
        renewal = asyncio.create_task(identity.renew("under load"))
        await until(lambda: link._session is not old_session, switched)  # new context in place
        with Token.open(token_config(identity.config)) as token:
            assert old_label in token.key_labels()  # not destroyed while a request is open
        sim.sim.clear_fault()
        assert (await held).outcome is Outcome.FOUND
        await renewal
        with Token.open(token_config(identity.config)) as token:
            assert token.key_labels() == [identity.key_label] != [old_label]
        assert (await _verify(link)).outcome is Outcome.FOUND  # a new handshake, new key
        assert link.stats.unavailable == 0
    finally:
        await link.close()
        identity.close()
        await gw.close()
        await sim.close()
