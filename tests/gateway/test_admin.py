"""Admin API: sanctions, policies, device states (persisted on both stores), usage counts."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import Policy, PolicyError, parse_policy
from protocol.elements import DataElement
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway

AYU = persona("ayu").nik
POLICY = "/admin/v1/institutions/perpus-a/policy"


async def test_each_sanction(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    admin = make_client(gw, certs.admin)
    a1 = make_client(gw, certs.devices["KIOSK-A1"])
    a2 = make_client(gw, certs.devices["KIOSK-A2"])
    b1 = make_client(gw, certs.devices["KIOSK-B1"])

    async def patch(sanctions: dict[str, Any]) -> None:
        status, _ = await admin.request("PATCH", POLICY, {"sanctions": sanctions})
        assert status == 200

    # User ID deactivated: the institution's look-ups answer USER_INACTIVE.
    await patch({"user_deactivated": True})
    assert (await a1.verify(AYU))[1]["outcome"] == "USER_INACTIVE"
    await patch({"user_deactivated": False})
    # Card reader deactivated: that device is refused, its sibling is not.
    await patch({"deactivated_devices": ["KIOSK-A2"]})
    status, body = await a2.verify(AYU)
    assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")
    assert (await a1.verify(AYU))[1]["outcome"] == "FOUND"
    await patch({"deactivated_devices": []})
    # Network cut: every device of the institution refused, on every endpoint.
    await patch({"network_cut": True})
    for kiosk in (a1, a2):
        assert (await kiosk.verify(AYU))[0] == 403
        ret = kiosk.data_balikan(AYU, "ANGGOTA-1", "cd" * 16)
        assert (await kiosk.request("POST", "/v1/returns", ret))[0] == 403
    # ...and no other institution.
    assert (await b1.verify(AYU))[1]["outcome"] == "FOUND"
    await patch({"network_cut": False})
    assert (await a2.verify(AYU))[1]["outcome"] == "FOUND"
    # Reader approval revoked: every device of the institution refused, no other institution.
    await patch({"approval_revoked": True})
    for kiosk in (a1, a2):
        status, body = await kiosk.verify(AYU)
        assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")
    assert (await b1.verify(AYU))[1]["outcome"] == "FOUND"
    await patch({"approval_revoked": False})
    assert (await a1.verify(AYU))[1]["outcome"] == "FOUND"


async def test_policies_and_revocations_survive_a_restart(
    store_kind: str, make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway(store=store_kind)
    admin = make_client(gw, certs.admin)
    status, body = await admin.request(
        "PUT",
        POLICY,
        {
            "elements": ["nik", "nama_lengkap"],
            "poc_approved": True,
            "active": True,
            "user_active": True,
            "sanctions": {"quota": 5, "deactivated_devices": ["KIOSK-A2"]},
        },
    )
    assert status == 200
    assert body["policy"]["elements"] == ["nama_lengkap", "nik"]
    await admin.request("POST", "/admin/v1/devices/KIOSK-B1/revoke")
    await gw.close()

    again = await make_gateway(store=store_kind)
    admin = make_client(again, certs.admin)
    _, body = await admin.request("GET", POLICY)
    assert body["policy"]["sanctions"] == {
        "quota": 5,
        "user_deactivated": False,
        "network_cut": False,
        "approval_revoked": False,
        "deactivated_devices": ["KIOSK-A2"],
    }
    _, answer = await make_client(again, certs.devices["KIOSK-A1"]).verify(AYU)
    assert set(answer["elements"]) == {"nik", "nama_lengkap"}
    assert (await make_client(again, certs.devices["KIOSK-B1"]).verify(AYU))[0] == 403
    assert (await admin.request("GET", "/admin/v1/devices"))[1] == {"revoked": ["KIOSK-B1"]}


async def test_a_read_only_admin_reads_and_changes_nothing(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    def read_only(data: dict[str, Any]) -> None:
        data["tls"]["read_only_admins"] = ["admin-1"]

    gw = await make_gateway(mutate=read_only)
    viewer = make_client(gw, certs.admin)
    status, body = await viewer.request("GET", POLICY)
    assert status == 200 and body["policy"]["sanctions"]["network_cut"] is False
    assert (await viewer.request("GET", "/admin/v1/devices"))[0] == 200
    for method, path, payload in (
        ("PATCH", POLICY, {"sanctions": {"network_cut": True}}),
        ("PUT", POLICY, {"elements": ["nik"]}),
        ("POST", "/admin/v1/devices/KIOSK-A1/revoke", None),
    ):
        status, body = await viewer.request(method, path, payload)
        assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    assert not gw.registry.policies["perpus-a"].sanctions.network_cut
    assert "KIOSK-A1" not in gw.registry.revoked


async def test_bad_policy_documents_name_the_key(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    admin = make_client(gw, certs.admin)
    cases = [
        ({"elements": ["nik", "agama"]}, "policy.elements"),
        ({"sanctions": {"quota": -1}}, "policy.sanctions.quota"),
        ({"sanctions": {"quota": True}}, "policy.sanctions.quota"),
        ({"poc_approved": "yes"}, "policy.poc_approved"),
        ({"colour": "red"}, "policy.colour"),
    ]
    for doc, key in cases:
        status, body = await admin.request("PATCH", POLICY, doc)
        assert (status, body["error"]["field"]) == (400, key), doc
    status, body = await admin.request("PUT", POLICY, {"poc_approved": True})
    assert (status, body["error"]["field"]) == (400, "policy.elements")
    status, body = await admin.request("GET", "/admin/v1/institutions/nobody/policy")
    assert status == 404
    status, body = await admin.request("POST", "/admin/v1/devices/bad%20id/revoke")
    assert status == 400


async def test_usage_counts_per_outcome(
    store_kind: str, make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway(store=store_kind)
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    for key in ("ayu", "ayu", "darmo", "intan", "joko"):
        await kiosk.verify(persona(key).nik)
    admin = make_client(gw, certs.admin)
    status, body = await admin.request("GET", "/admin/v1/usage?institution=dinsos-b")
    assert status == 200
    counts = {row["outcome"]: row["count"] for row in body["usage"]}
    assert counts == {"FOUND": 2, "FOUND_DECEASED": 1, "NOT_FOUND": 1, "INVALID_NIK_FORMAT": 1}
    assert {row["institution"] for row in body["usage"]} == {"dinsos-b"}
    status, body = await admin.request("GET", "/admin/v1/usage?from=1999-01-01&to=1999-12-31")
    assert (status, body) == (200, {"usage": []})
    status, body = await admin.request("GET", "/admin/v1/usage?from=yesterday")
    assert (status, body["error"]["field"]) == (400, "from")


async def test_institutions_listing(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    _, body = await make_client(gw, certs.admin).request("GET", "/admin/v1/institutions")
    assert set(body["institutions"]) == {"perpus-a", "dinsos-b", "dukcapil-c"}
    assert body["institutions"]["dinsos-b"]["province"] == "73"
    assert body["institutions"]["perpus-a"]["policy"]["poc_approved"] is False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**8) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
policy_like = st.fixed_dictionaries(
    {},
    optional={
        "elements": st.lists(st.sampled_from(["nik", "rt", "agama", 3]), max_size=3) | json_values,
        "poc_approved": json_values,
        "active": st.booleans() | json_values,
        "sanctions": st.fixed_dictionaries(
            {},
            optional={
                "quota": json_values,
                "network_cut": json_values,
                "approval_revoked": json_values,
                "deactivated_devices": st.lists(st.text(max_size=70), max_size=3) | json_values,
            },
        )
        | json_values,
    },
)


@pytest.mark.fuzz
@given(st.one_of(json_values, policy_like), st.booleans())
def test_fuzz_policy_documents_raise_only_policy_errors(doc: Any, patch: bool) -> None:
    base = Policy(elements=frozenset({DataElement.NIK})) if patch else None
    with contextlib.suppress(PolicyError):
        parse_policy(doc, "policy", base)
