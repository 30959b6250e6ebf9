"""The dashboard over HTTP (aiohttp's test client): each page, the filters, 400, 404, 405, the
security headers, and no NIK-shaped text anywhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from fleet.dashboard import dashboard_app
from fleet.store.base import (
    Alert,
    AlertKind,
    DeviceEntry,
    FleetRow,
    FleetStore,
    SanctionInForce,
    Scope,
    StoreError,
)
from protocol.nik import NIK_IN_TEXT
from protocol.signed import Sanction
from tests.clock import FakeClock
from tests.fleet.dashboard import synthetic

ROW = re.compile(r'<th scope="row"><a href="/kiosk/([A-Z0-9-]+)">')


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(app)) as c:
        yield c


Client = TestClient[web.Request, web.Application]


async def _page(client: Client, path: str, status: int = 200) -> str:
    answer = await client.get(path)
    text = await answer.text()
    assert answer.status == status, text[:400]
    assert answer.content_type == "text/html"
    assert NIK_IN_TEXT.search(text) is None
    return text


def _rows(html: str) -> list[str]:
    return ROW.findall(html)


def _counts(html: str) -> dict[str, int]:
    """The summary cards: state and count."""
    found = re.findall(r'data-state="(\w+)".*?<span class="num">([\d\u202f]+)</span>', html, re.S)
    return {state: int(n.replace("\u202f", "")) for state, n in found}


async def test_the_fleet_table_shows_every_kiosk_with_counts_per_state(client: Client) -> None:
    html = await _page(client, "/")
    assert '<html lang="id">' in html
    assert 'Armada kios <span class="en" lang="en">Fleet</span>' in html
    assert _rows(html) == [k.device for k in synthetic.KIOSKS]
    assert _counts(html) == {
        "all": 13,
        "active": 9,
        "deactivated": 1,
        "tampered": 1,
        "decommissioned": 1,
        "unregistered": 1,
    }
    assert "Rusak" in html  # KIOSK-SIM-0003's reader fault
    assert "2026-12-05 12:00" in html  # last seen, UTC
    assert "2026-12-03 12:00" in html  # the version applied, as a time


@pytest.mark.parametrize(
    ("query", "devices"),
    [
        ("institution=perpus-bdg", ["KIOSK-SIM-0001", "KIOSK-SIM-0002", "KIOSK-SIM-0003"]),
        ("region=33", ["KIOSK-SIM-0004", "KIOSK-SIM-0005", "KIOSK-SIM-0006"]),
        ("region=3273", ["KIOSK-SIM-0001", "KIOSK-SIM-0002"]),
        ("state=tampered", ["KIOSK-SIM-0005"]),
        ("state=unregistered", ["KIOSK-SIM-0099"]),
        ("institution=rsud-dps&region=5171&state=active", ["KIOSK-SIM-0007", "KIOSK-SIM-0008"]),
        ("institution=&region=&state=", [k.device for k in synthetic.KIOSKS]),  # an empty form
        ("institution=nobody", []),
    ],
)
async def test_filters(client: Client, query: str, devices: list[str]) -> None:
    html = await _page(client, "/?" + query)
    assert _rows(html) == devices
    if not devices:
        assert "Tidak ada kios yang cocok." in html


async def test_counts_follow_the_institution_filter_and_link_to_each_state(client: Client) -> None:
    html = await _page(client, "/?institution=dukcapil-smg")
    assert 'href="/?institution=dukcapil-smg&amp;state=tampered"' in html
    assert _counts(html) == {
        "all": 3,
        "active": 0,
        "deactivated": 1,
        "tampered": 1,
        "decommissioned": 1,
    }


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("region=3x", "region"),
        ("region=99", "region"),  # no such province
        ("region=327", "region"),
        ("state=broken", "state"),
        ("institution=a%20b", "institution"),
        ("page=0", "page"),
        ("nik=3273010101900001", "nik"),  # unknown parameter, its value never echoed
        ("state=active&state=tampered", "state"),
    ],
)
async def test_bad_filter_values_answer_400_naming_the_parameter(
    client: Client, query: str, parameter: str
) -> None:
    answer = await client.get("/?" + query)
    html = await answer.text()
    assert answer.status == 400
    assert f"Parameter <code>{parameter}</code>" in html
    assert "3273010101900001" not in html
    assert "Traceback" not in html


async def test_the_kiosk_page(client: Client) -> None:
    html = await _page(client, "/kiosk/KIOSK-SIM-0001")
    for text in (
        "perpus-bdg",
        "3273 · Jawa Barat",
        "ACR39U-7100",  # the reader binding
        "SAM-KTPEL-5200",
        "Riwayat kesehatan",
        "Penyimpanan",  # storage_ok of the latest health report
        "Jam terhadap gateway",  # and clock_offset_s
        "Data Ditemukan",  # an outcome text, Indonesian
        'lang="en">Data found</span>',  # and English
        "Nonaktifkan",  # the audit trail's deactivation
        "Aktifkan kembali",
        "User ID dinonaktifkan",  # its institution's sanction
        'role="img"',
        '<desc id="usage-desc">',
    ):
        assert text in html, text
    assert html.count('<tr><th scope="row">2026-') == 30  # one row per day in the data table
    assert html.count('class="seg-found"') == 26  # the bars of the days with sessions


async def test_the_kiosk_page_shows_its_alerts_and_sanctions(client: Client) -> None:
    html = await _page(client, "/kiosk/KIOSK-SIM-0002")
    assert "Pembaca kartu dinonaktifkan" in html
    html = await _page(client, "/kiosk/KIOSK-SIM-0005")
    assert "casing opened" in html and "Gangguan fisik" in html
    assert "Kuota dikurangi" in html and "50" in html  # dukcapil-smg's reduced quota


async def test_a_kiosk_heard_but_not_registered_has_a_page(client: Client) -> None:
    html = await _page(client, "/kiosk/KIOSK-SIM-0099")
    assert "tidak terdaftar" in html


@pytest.mark.parametrize(
    "path",
    ["/kiosk/KIOSK-SIM-9999", "/kiosk/kiosk-sim-0001", "/kiosk/3273010101900001", "/nothing"],
)
async def test_unknown_pages_answer_404(client: Client, path: str) -> None:
    answer = await client.get(path)
    html = await answer.text()
    assert answer.status == 404
    assert "tidak ditemukan" in html and "not found" in html
    assert "3273010101900001" not in html


async def test_alerts_page_shows_open_cleared_and_failed_deliveries(client: Client) -> None:
    html = await _page(client, "/alerts")
    opened, cleared = html.split('id="cleared"')
    for text in ("Gangguan fisik", "KIOSK-SIM-0005", "Kios hilang kontak", "Kuota hampir habis"):
        assert text in opened, text
    assert synthetic.FAILED_DELIVERY in opened
    assert "2 gagal" in opened
    assert "Perangkat rusak" in cleared and "reader fault" in cleared
    assert 'href="/?institution=dukcapil-smg"' in opened


async def test_sanctions_page(client: Client) -> None:
    html = await _page(client, "/sanctions")
    for text in (
        "Kuota dikurangi",
        "dukcapil-smg",
        "User ID dinonaktifkan",
        "Pembaca kartu dinonaktifkan",
        'href="/kiosk/KIOSK-SIM-0002"',
        synthetic.ADMIN,
        "2026-11-25 12:00:00 UTC",  # since
        "pelanggaran PKS pasal 7",
    ):
        assert text in html, text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
@pytest.mark.parametrize("path", ["/", "/kiosk/KIOSK-SIM-0001", "/alerts", "/nothing"])
async def test_read_only(client: Client, method: str, path: str) -> None:
    answer = await client.request(method, path)
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert "hanya untuk dibaca" in await answer.text()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/kiosk/KIOSK-SIM-0001",
        "/alerts",
        "/sanctions",
        "/static/dashboard.css",
        "/nothing",
        "/?region=x",
    ],
)
async def test_security_headers_on_every_answer(client: Client, path: str) -> None:
    answer = await client.get(path)
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Server-Timing"].startswith("app;dur=")


async def test_head_and_the_style_sheet(client: Client) -> None:
    answer = await client.head("/")
    assert answer.status == 200
    css = await client.get("/static/dashboard.css")
    assert css.content_type == "text/css"
    assert "http" not in await css.text()  # nothing from elsewhere


async def test_a_failing_store_is_a_503_page(
    store: FleetStore, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> list[FleetRow]:
        raise StoreError("sqlite: database is locked")

    monkeypatch.setattr(store, "fleet", broken)
    answer = await client.get("/")
    assert answer.status == 503
    assert "Penyimpanan tidak tersedia" in await answer.text()


async def test_every_page_on_each_backend(fleet_store: FleetStore) -> None:
    """The same pages from SQLite and from a real PostgreSQL server."""
    synthetic.fill(fleet_store)
    app = dashboard_app(fleet_store, clock=FakeClock(wall=float(synthetic.NOW)))
    async with TestClient(TestServer(app)) as c:
        fleet = await _page(c, "/?region=33")
        assert _rows(fleet) == ["KIOSK-SIM-0004", "KIOSK-SIM-0005", "KIOSK-SIM-0006"]
        assert "Kuota dikurangi" in await _page(c, "/kiosk/KIOSK-SIM-0005")
        assert synthetic.FAILED_DELIVERY in await _page(c, "/alerts")
        assert "Pembaca kartu dinonaktifkan" in await _page(c, "/sanctions")
        assert (await c.get("/kiosk/KIOSK-SIM-9999")).status == 404


CANARY = "3273014509900002"  # NIK-shaped (synthetic)


async def test_nik_shaped_text_in_the_store_never_reaches_a_page(
    store: FleetStore, client: Client
) -> None:
    """Free texts (an alert's detail and delivery error, a sanction's reason, an id) are
    printed with any NIK-shaped run cut to its first four digits."""
    store.put_device(DeviceEntry(CANARY, "perpus-bdg", "3273", serial=f"S{CANARY}"))
    store.raise_alert(Alert(f"lost:{CANARY}", AlertKind.LOST, CANARY, f"x {CANARY}", 1))
    store.record_delivery(f"lost:{CANARY}", 1, f"webhook said {CANARY}")
    store.put_sanction(
        SanctionInForce(Scope.DEVICE, CANARY, Sanction.READER_DEACTIVATED, 1, "a", CANARY)
    )
    for path in ("/", f"/kiosk/{CANARY}", "/alerts", "/sanctions", "/?institution=perpus-bdg"):
        html = await _page(client, path)  # asserts no NIK-shaped text
        assert "3273************" in html
