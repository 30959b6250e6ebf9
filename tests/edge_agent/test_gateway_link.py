"""The gateway link over real TLS on loopback, against a throwaway CA."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import GatewayConfig
from edge_agent.session.gateway_link import GatewayLink
from protocol.elements import DataElement
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationResponse
from protocol.outcomes import Outcome
from simulators.personas import PERSONAS
from tests.edge_agent.certs import Pki, make_pki
from tests.edge_agent.fake_gateway import FakeGateway, start_gateway

NIK = PERSONAS["ayu"].nik
MATCH = MatchEvidence("right_index", 87, 1)
READER = ReaderIdentity("RDR-0001", "SAM-0001")
RID = "0123456789abcdef0123456789abcdef"
KEY = bytes(range(32))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _config(pki: Pki, port: int, *, timeout: float = 5.0, ca: Path | None = None) -> GatewayConfig:
    return GatewayConfig(
        url=f"https://127.0.0.1:{port}",
        ca_file=ca or pki.ca.path,
        cert_file=pki.client.cert,
        key_file=pki.client.key,
        connect_timeout=2.0,
        request_timeout=timeout,
        keepalive=30.0,
    )


@pytest.fixture
async def gateway(pki: Pki) -> AsyncIterator[FakeGateway]:
    fake, runner = await start_gateway(pki.server_context())
    yield fake
    fake.release.set()
    await runner.cleanup()


async def _link(config: GatewayConfig, device_id: str) -> GatewayLink:
    link = GatewayLink(config, device_id)
    await link.start()
    return link


async def _verify_once(pki: Pki, gateway: FakeGateway) -> tuple[VerificationResponse, GatewayLink]:
    """One verification through a fresh link to the fake gateway (closed afterwards)."""
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        return await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY)), link
    finally:
        await link.close()


async def test_found_answer_with_elements_and_client_certificate(
    pki: Pki, gateway: FakeGateway
) -> None:
    gateway.answer("FOUND", {"nama_lengkap": PERSONAS["ayu"].full_name, "rt": "003"})
    answer, _ = await _verify_once(pki, gateway)
    assert answer.outcome is Outcome.FOUND
    assert answer.request_id == RID
    assert answer.elements[DataElement.FULL_NAME] == PERSONAS["ayu"].full_name
    seen = gateway.seen[0]
    assert seen.client_cn == pki.device_id
    assert seen.request_id_header == RID
    assert seen.body == {
        "request_id": RID,
        "nik": NIK,
        "match": {"finger": "right_index", "score": 87, "tries": 1},
        "reader": {"reader_id": "RDR-0001", "sam_id": "SAM-0001"},
        "replay_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    }


async def test_keep_alive_reuses_one_connection(pki: Pki, gateway: FakeGateway) -> None:
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        for _ in range(3):
            answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
            assert answer.outcome is Outcome.FOUND
    finally:
        await link.close()
    assert len({s.peer_port for s in gateway.seen}) == 1
    assert link.tls.handshakes == 1


async def test_new_connection_resumes_the_tls_session(pki: Pki, gateway: FakeGateway) -> None:
    gateway.then("close")  # the server closes the first connection after answering
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        for _ in range(2):
            answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
            assert answer.outcome is Outcome.FOUND
    finally:
        await link.close()
    first, second = gateway.seen
    assert first.peer_port != second.peer_port
    assert not first.resumed
    assert second.resumed
    assert link.tls.handshakes == 2
    assert link.tls.resumptions == 1


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_the_tls_session_is_read_once_per_connection(
    pki: Pki, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read of SSLObject.session leaks about 6 KiB in CPython 3.11: read it once."""
    reads: list[int] = []
    original: Any = vars(ssl.SSLObject)["session"]

    def counting(obj: ssl.SSLObject) -> Any:
        reads.append(1)
        return original.fget(obj)

    monkeypatch.setattr(ssl.SSLObject, "session", property(counting, original.fset))
    gateway.then("close")  # the second request needs a new (resumed) connection
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        for _ in range(6):
            answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
            assert answer.outcome is Outcome.FOUND
    finally:
        await link.close()
    assert link.tls.handshakes == 2
    assert link.tls.resumptions == 1
    assert len(reads) == 2


async def test_memory_stays_flat_over_many_verifications(pki: Pki, gateway: FakeGateway) -> None:
    """2,000 answers on one keep-alive connection: RSS grows by less than 1 MiB (was ~11)."""
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        for i in range(2300):
            if i == 300:
                before = _rss_kib()
            await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
            gateway.seen.clear()
    finally:
        await link.close()
    assert _rss_kib() - before < 1024


async def test_one_retry_with_the_same_request_id_after_a_dropped_connection(
    pki: Pki, gateway: FakeGateway
) -> None:
    gateway.then("drop")
    gateway.answer("NOT_FOUND")
    answer, link = await _verify_once(pki, gateway)
    assert answer.outcome is Outcome.NOT_FOUND
    assert [s.body["request_id"] for s in gateway.seen] == [RID, RID]
    assert gateway.seen[0].body["replay_key"] == gateway.seen[1].body["replay_key"]
    assert link.stats.retries == 1


async def test_two_dropped_connections_are_service_unavailable(
    pki: Pki, gateway: FakeGateway
) -> None:
    gateway.then("drop")
    gateway.then("drop")
    gateway.answer("FOUND")
    answer, _ = await _verify_once(pki, gateway)
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    assert len(gateway.seen) == 2


@pytest.mark.parametrize("status", [400, 403, 429, 500, 503])
async def test_http_error_is_service_unavailable_without_retry(
    pki: Pki, gateway: FakeGateway, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.then("status", status)
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        with caplog.at_level(logging.DEBUG):
            answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
    finally:
        await link.close()
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    assert len(gateway.seen) == 1
    assert f"HTTP {status} (INTERNAL)" in caplog.text
    assert NIK not in caplog.text


async def test_device_refused_by_the_gateway_is_deactivated(pki: Pki, gateway: FakeGateway) -> None:
    gateway.then("refuse")
    answer, _ = await _verify_once(pki, gateway)
    assert answer.outcome is Outcome.DEVICE_DEACTIVATED
    assert len(gateway.seen) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"request_id": "0123456789abcdef0123456789abcdef", "outcome": "WHAT", "text": {}}',
        b'{"request_id": "ffffffffffffffffffffffffffffffff", "outcome": "FOUND", "text": {}}',
        b'{"request_id": "0123456789abcdef0123456789abcdef", "outcome": "FOUND", "text": {},'
        b' "elements": {"secret_field": "x"}}',
    ],
)
async def test_malformed_answer_is_service_unavailable(
    pki: Pki, gateway: FakeGateway, raw: bytes
) -> None:
    gateway.then("raw", raw)
    answer, _ = await _verify_once(pki, gateway)
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    assert answer.elements == {}


async def test_unreachable_gateway_is_service_unavailable(pki: Pki) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = await _link(_config(pki, port), pki.device_id)
    try:
        answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
    finally:
        await link.close()
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    assert link.stats.attempts == 2


async def test_silent_gateway_times_out_then_retries_once(pki: Pki, gateway: FakeGateway) -> None:
    gateway.then("hang")
    gateway.then("hang")
    link = await _link(_config(pki, gateway.port, timeout=0.3), pki.device_id)
    try:
        answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
    finally:
        await link.close()
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    assert [s.body["request_id"] for s in gateway.seen] == [RID, RID]


async def test_server_of_a_foreign_ca_is_refused_without_retry(pki: Pki) -> None:
    fake, runner = await start_gateway(pki.server_context(foreign=True))
    link = await _link(_config(pki, fake.port), pki.device_id)
    try:
        answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
    finally:
        await link.close()
        await runner.cleanup()
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    assert fake.seen == []
    assert link.stats.attempts == 1


async def test_link_not_started_is_service_unavailable(pki: Pki) -> None:
    link = GatewayLink(_config(pki, 1), pki.device_id)
    answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
    assert answer.outcome is Outcome.SERVICE_UNAVAILABLE


def test_context_refuses_anything_below_tls_1_2(pki: Pki) -> None:
    import ssl

    link = GatewayLink(_config(pki, 1), pki.device_id)
    assert link.tls.minimum_version is ssl.TLSVersion.TLSv1_2
    assert link.tls.verify_mode is ssl.CERT_REQUIRED
    assert link.tls.check_hostname


async def test_a_nik_that_is_not_16_digits_is_never_sent(pki: Pki, gateway: FakeGateway) -> None:
    link = await _link(_config(pki, gateway.port), pki.device_id)
    try:
        for bad in (bytearray(b"123"), bytearray("33040145089200\xe9\xe9".encode()), bytearray()):
            answer = await link.verify(RID, bad, MATCH, READER, bytearray(KEY))
            assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
        for key in (bytearray(), bytearray(31)):  # a replay key is 32 bytes
            answer = await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, key)
            assert answer.outcome is Outcome.SERVICE_UNAVAILABLE
    finally:
        await link.close()
    assert gateway.seen == []


@pytest.mark.parametrize("behind", [86400.0, 600.0, -600.0, -86400.0])
async def test_the_clock_offset_against_the_gateway_comes_from_its_answers(
    pki: Pki, gateway: FakeGateway, behind: float
) -> None:
    """A kiosk clock a day or ten minutes off: measured, and the gateway's time is known."""
    link = GatewayLink(_config(pki, gateway.port), pki.device_id, wall=lambda: time.time() - behind)
    await link.start()
    try:
        assert link.clock_offset is None
        await link.verify(RID, bytearray(NIK.encode()), MATCH, READER, bytearray(KEY))
    finally:
        await link.close()
    assert link.clock_offset is not None and abs(link.clock_offset - behind) <= 2
    assert abs(link.gateway_time() - time.time()) <= 2
