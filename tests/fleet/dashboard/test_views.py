"""The pages' pure parts: query parsing and links, pagination, certificate tones, the chart."""

from __future__ import annotations

import pytest

from fleet.dashboard import kiosk, views
from fleet.store.base import DeviceEntry, DeviceState, FleetRow, UsageDay


def _rows(n: int) -> list[FleetRow]:
    return [
        FleetRow(
            f"KIOSK-SIM-{i:05d}",
            DeviceEntry(f"KIOSK-SIM-{i:05d}", "perpus-bdg", "3273"),
            "online",
            1_796_472_000,
            None,
            None,
        )
        for i in range(n)
    ]


def test_links_keep_the_filter_and_drop_defaults() -> None:
    q = views.parse_fleet_query({"institution": "perpus-bdg", "region": "32", "state": "active"})
    assert q.link() == "/?institution=perpus-bdg&region=32&state=active"
    assert q.link(page=2) == "/?institution=perpus-bdg&region=32&state=active&page=2"
    assert q.link(state=None) == "/?institution=perpus-bdg&region=32"
    assert views.FleetQuery().link() == "/"


def test_pages_of_200_and_a_page_past_the_end_shows_the_last() -> None:
    rows = _rows(450)
    second = views.fleet_page(rows, views.FleetQuery(page=2), 1_796_472_000)
    assert (second.page, second.pages, second.first, len(second.lines)) == (2, 3, 201, 200)
    assert second.previous == "/" and second.next == "/?page=3"
    past = views.fleet_page(rows, views.FleetQuery(page=9), 1_796_472_000)
    assert (past.page, past.first, len(past.lines), past.next) == (3, 401, 50, None)
    empty = views.fleet_page([], views.FleetQuery(), 1_796_472_000)
    assert (empty.pages, empty.first, empty.lines) == (1, 0, [])


def test_state_filter_counts_every_state() -> None:
    rows = _rows(3)
    rows[0] = FleetRow(
        rows[0].device,
        DeviceEntry(rows[0].device, "perpus-bdg", "3273", state=DeviceState.TAMPERED),
        "lost",
        None,
        None,
        None,
    )
    page = views.fleet_page(rows, views.FleetQuery(state=DeviceState.TAMPERED), 0)
    assert [line.device for line in page.lines] == [rows[0].device]
    assert {c.value: c.count for c in page.states}["active"] == 2
    assert page.matching == 1 and page.total == 3


@pytest.mark.parametrize(
    ("days", "tone"), [(None, "muted"), (-1, "bad"), (0, "warn"), (30, "warn"), (31, "ok")]
)
def test_certificate_tones(days: int | None, tone: str) -> None:
    assert views.cert_tone(days) == tone


def test_certificate_days_from_the_registry_when_the_kiosk_never_said() -> None:
    assert views.cert_days(None, 1_000 + 10 * 86400, 1_000) == 10
    assert views.cert_days(None, 1_000 - 1, 1_000) == -1
    assert views.cert_days(5, 1_000 + 10 * 86400, 1_000) == 5


def test_numbers_are_grouped_alike_in_both_languages() -> None:
    assert views.number(10_000) == "10\u202f000"
    assert views.number(999) == "999"


def test_the_usage_chart() -> None:
    days = [
        UsageDay("K", "2026-12-01", 3, {"FOUND": 30, "NOT_FOUND": 4, "TIMEOUT": 2}),
        UsageDay("K", "2026-12-05", 9, {"FOUND": 7}),
    ]
    chart = kiosk.usage_chart(days, "2026-11-06", "2026-12-05")
    assert len(chart.bars) == 30 and chart.total == 43
    assert chart.peak is not None and chart.peak.day == "2026-12-01"
    assert chart.peak.groups == {"found": 30, "answered": 4, "kiosk": 2}
    assert [v for _, v in chart.ticks] == [0, 25, 50]
    assert chart.bars[-1].label == "05/12" and chart.bars[0].label == "06/11"
    top = min(s.y for s in chart.peak.segments)
    assert top >= chart.ticks[-1][0]  # inside the plot
    assert kiosk.usage_chart([], "2026-11-06", "2026-12-05").total == 0
    assert [v for _, v in kiosk.usage_chart(days[1:], "2026-12-05", "2026-12-05").ticks] == [
        0,
        5,
        10,
    ]
    four = [UsageDay("K", "2026-12-05", 1, {"FOUND": 4})]
    assert [v for _, v in kiosk.usage_chart(four, "2026-12-05", "2026-12-05").ticks] == [0, 5]


def test_the_usage_window_is_the_kiosks_local_days() -> None:
    at = 1_796_487_000  # 2026-12-05 16:10 UTC: already the 6th in Papua (UTC+9), not in Java
    java = DeviceEntry("K", "perpus-bdg", "3273")
    papua = DeviceEntry("K", "perpus-jpr", "9171")
    assert kiosk.usage_window(java, at) == ("2026-11-06", "2026-12-05")
    assert kiosk.usage_window(papua, at) == ("2026-11-07", "2026-12-06")
