"""Every outcome, element filtering per PKS, idempotency by request id."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from common.clock import SystemClock, local_day
from gateway.answers import Answer, AnswerCache
from protocol.messages import parse_verification_response
from protocol.outcomes import Outcome
from simulators.dukcapil import RunningDukcapilSim, SimUser
from simulators.dukcapil.population import record_of
from simulators.personas import persona
from tests.clock import FakeClock
from tests.gateway.conftest import (
    ELEMENTS_A,
    ELEMENTS_B,
    USERS,
    Certs,
    MakeClient,
    MakeGateway,
    new_request_id,
)


def _check_texts(body: dict[str, Any], outcome: Outcome) -> None:
    assert body["outcome"] == outcome.value
    assert body["text"] == {"id": outcome.info.text_id, "en": outcome.info.text_en}
    parse_verification_response(body)


@pytest.mark.parametrize(
    ("key", "outcome"),
    [
        ("ayu", Outcome.FOUND),
        ("darmo", Outcome.FOUND_DECEASED),
        ("gandari", Outcome.FOUND_DUPLICATE),
        ("hendrikus", Outcome.FOUND_INACTIVE),
        ("intan", Outcome.NOT_FOUND),
        ("joko", Outcome.INVALID_NIK_FORMAT),
    ],
)
async def test_record_outcomes(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, key: str, outcome: Outcome
) -> None:
    gw = await make_gateway()
    status, body = await make_client(gw, certs.devices["KIOSK-B1"]).verify(persona(key).nik)
    assert status == 200
    _check_texts(body, outcome)
    assert ("elements" in body) == outcome.info.data_returned


async def test_login_failed(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    def wrong_password(data: dict[str, Any]) -> None:
        data["institutions"]["dinsos-b"]["upstream_password_file"] = "secrets/wrong.password"

    gw = await make_gateway(mutate=wrong_password)
    status, body = await make_client(gw, certs.devices["KIOSK-B1"]).verify(persona("ayu").nik)
    assert status == 200
    _check_texts(body, Outcome.LOGIN_FAILED)
    assert sim.stats.queries == 0


@pytest.fixture(autouse=True)
def _wrong_password_file(tmp_path: Any) -> None:
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "wrong.password").write_text("not-the-password\n")


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        ({"active": False}, Outcome.INSTITUTION_INACTIVE),
        ({"user_active": False}, Outcome.USER_INACTIVE),
    ],
)
async def test_policy_parameter_checks(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    sim: RunningDukcapilSim,
    change: dict[str, Any],
    outcome: Outcome,
) -> None:
    def apply(data: dict[str, Any]) -> None:
        data["institutions"]["dinsos-b"].update(change)

    gw = await make_gateway(mutate=apply)
    status, body = await make_client(gw, certs.devices["KIOSK-B1"]).verify(persona("ayu").nik)
    assert status == 200
    _check_texts(body, outcome)
    assert sim.stats.queries == 0


@pytest.mark.parametrize(
    ("user", "outcome"),
    [
        ({"institution_active": False}, Outcome.INSTITUTION_INACTIVE),
        ({"active": False}, Outcome.USER_INACTIVE),
        ({"daily_quota": 0}, Outcome.QUOTA_EXHAUSTED),
    ],
)
async def test_upstream_parameter_checks(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    sim: RunningDukcapilSim,
    user: dict[str, Any],
    outcome: Outcome,
) -> None:
    user_id, password = USERS["perpus-a"]
    sim.sim.users[user_id] = SimUser(user_id, password, "perpus-a", **user)
    gw = await make_gateway()
    status, body = await make_client(gw, certs.devices["KIOSK-A1"]).verify(persona("ayu").nik)
    assert status == 200
    _check_texts(body, outcome)
    # A parameter check means no look-up happened: the gateway's quota unit is given back.
    assert await gw.store.quota_used("perpus-a", _today(gw)) == 0


def _today(gw: Any) -> str:
    return local_day(SystemClock().time(), 7)


async def test_elements_are_filtered_per_pks(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    ayu = persona("ayu")
    full = record_of(ayu)
    for device, permitted in (("KIOSK-A1", ELEMENTS_A), ("KIOSK-B1", ELEMENTS_B)):
        status, body = await make_client(gw, certs.devices[device]).verify(ayu.nik)
        assert status == 200
        assert body["elements"] == {name: full[name] for name in permitted}
    # Elements no PKS lists never pass, even though the upstream sends them.
    assert "agama" in full
    for found in ("darmo", "gandari", "hendrikus"):
        _, body = await make_client(gw, certs.devices["KIOSK-A1"]).verify(persona(found).nik)
        assert set(body["elements"]) == set(ELEMENTS_A)


async def test_same_request_id_same_answer_counted_once(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    rid = new_request_id()
    first = await kiosk.verify(persona("ayu").nik, rid)
    again = await kiosk.verify(persona("ayu").nik, rid)
    assert first == again
    both = await asyncio.gather(*(kiosk.verify(persona("darmo").nik, "ab" * 16) for _ in range(5)))
    assert all(b == both[0] for b in both)
    assert sim.stats.queries == 2
    assert await gw.store.quota_used("perpus-a", _today(gw)) == 2
    await gw.usage.flush()
    rows = await gw.store.usage("perpus-a", "0000-01-01", "9999-12-31")
    assert sum(r.count for r in rows) == 2


async def test_request_id_reused_for_another_nik_is_a_conflict(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    rid = new_request_id()
    assert (await kiosk.verify(persona("ayu").nik, rid))[0] == 200
    status, body = await kiosk.verify(persona("bagas").nik, rid)
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        409,
        "CONFLICT",
        "request_id",
    )
    assert persona("bagas").nik not in str(body)


async def test_request_ids_are_per_device(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    gw = await make_gateway()
    rid = new_request_id()
    one = await make_client(gw, certs.devices["KIOSK-A1"]).verify(persona("ayu").nik, rid)
    two = await make_client(gw, certs.devices["KIOSK-A2"]).verify(persona("bagas").nik, rid)
    assert one[1]["elements"]["nik"] == persona("ayu").nik
    assert two[1]["elements"]["nik"] == persona("bagas").nik


async def test_reader_and_sam_pinning(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    assert (await kiosk.verify(persona("ayu").nik))[0] == 200
    kiosk.reader = ("RDR-OTHER", "SAM-A1")
    status, body = await kiosk.verify(persona("ayu").nik)
    assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")


def test_kept_answers_cost_the_garbage_collector_nothing_once_seen() -> None:
    cache = AnswerCache(ttl_s=10, clock=FakeClock(0.0))
    for i in range(3):
        key = ("dev", f"r{i}")
        cache.start(key, cache.fingerprint("x"))
        cache.finish(key, Answer(200, b"{}", "FOUND"))
    gc.collect()
    assert not any(gc.is_tracked(kept) for kept in cache._kept.values())
    seen = cache.get(("dev", "r1"))
    assert seen is not None and seen.answer == Answer(200, b"{}", "FOUND")


async def test_answer_cache_expires_and_is_bounded() -> None:
    cache = AnswerCache(ttl_s=10, clock=(clock := FakeClock(0.0)), max_entries=3)
    for i in range(5):
        key = ("dev", f"r{i}")
        cache.start(key, cache.fingerprint("x"))
        cache.finish(key, Answer(200, b"{}", "FOUND"))
    cache.start(("dev", "r5"), b"")
    assert len(cache) <= 4
    assert cache.get(("dev", "r0")) is None
    clock.advance(11)
    cache.start(("dev", "r6"), b"")
    assert cache.get(("dev", "r4")) is None
