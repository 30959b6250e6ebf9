"""A small synthetic fleet for the dashboard tests, written through the store's interface.

Twelve registered kiosks of four institutions in real regions, one kiosk heard on the broker but
not registered; health history, 30 days of usage, audit lines, alerts (one whose webhook
delivery fails) and sanctions. Every kiosk, state and alert a test looks for is named here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.store.base import (
    Alert,
    AlertKind,
    AuditEntry,
    DeviceEntry,
    DeviceState,
    FleetStore,
    Ingest,
    SanctionInForce,
    Scope,
)
from protocol.mqtt import (
    DeviceStatus,
    HealthMessage,
    Presence,
    ReportedMessage,
    StateMessage,
    UsageMessage,
)
from protocol.outcomes import Outcome
from protocol.signed import Sanction

NOW = 1_796_472_000  # 2026-12-05 12:00:00 UTC
DAY = 86400
ADMIN = "admin-jabar-01"
FAILED_DELIVERY = "webhook answered 503 Service Unavailable"


@dataclass(frozen=True, slots=True)
class Kiosk:
    """One synthetic kiosk and what it does."""

    device: str
    institution: str
    region: str
    state: DeviceState = DeviceState.ACTIVE
    presence: Presence | None = Presence.ONLINE
    reader: DeviceStatus = DeviceStatus.OK
    tamper: bool = False
    cert_days: int = 300
    registered: bool = True


KIOSKS = (
    Kiosk("KIOSK-SIM-0001", "perpus-bdg", "3273"),
    Kiosk("KIOSK-SIM-0002", "perpus-bdg", "3273"),
    Kiosk("KIOSK-SIM-0003", "perpus-bdg", "3204", reader=DeviceStatus.FAULT),
    Kiosk("KIOSK-SIM-0004", "dukcapil-smg", "3374", DeviceState.DEACTIVATED, Presence.OFFLINE),
    Kiosk(
        "KIOSK-SIM-0005", "dukcapil-smg", "3374", DeviceState.TAMPERED, Presence.LOST, tamper=True
    ),
    Kiosk("KIOSK-SIM-0006", "dukcapil-smg", "3322", DeviceState.DECOMMISSIONED, Presence.OFFLINE),
    Kiosk("KIOSK-SIM-0007", "rsud-dps", "5171", cert_days=12),
    Kiosk("KIOSK-SIM-0008", "rsud-dps", "5171", presence=None),
    Kiosk("KIOSK-SIM-0009", "rsud-dps", "5103", presence=Presence.LOST),
    Kiosk("KIOSK-SIM-0010", "kampus-mks", "7371"),
    Kiosk("KIOSK-SIM-0011", "kampus-mks", "7371"),
    Kiosk("KIOSK-SIM-0012", "kampus-mks", "7306"),
    Kiosk("KIOSK-SIM-0099", "", "", registered=False),
)
DAILY = {
    Outcome.FOUND: 40,
    Outcome.NOT_FOUND: 3,
    Outcome.FINGER_MISMATCH: 5,
    Outcome.CARD_UNREADABLE: 2,
    Outcome.CANCELLED: 1,
}


def health(k: Kiosk, seq: int, ts: int) -> HealthMessage:
    """A health report of kiosk `k`."""
    return HealthMessage(
        seq=seq,
        ts=ts,
        reader=k.reader,
        sam=DeviceStatus.OK,
        sensor=DeviceStatus.OK,
        tamper=k.tamper,
        deactivated=k.state is DeviceState.DEACTIVATED,
        gateway_reachable=k.presence is Presence.ONLINE,
        gateway_rtt_ms=18.4 if k.presence is Presence.ONLINE else None,
        cert_days_left=k.cert_days,
        cpu_temp_c=51.5,
        mem_used_pct=38.0,
        disk_free_pct=71.0,
        uptime_s=86_000 + seq * 60,
        agent="0.1.0",
    )


def _messages(k: Kiosk, index: int) -> list[Ingest]:
    if k.presence is None:
        return []
    last = NOW - 120 - index * 60 - (3 * 3600 if k.presence is not Presence.ONLINE else 0)
    out = [Ingest(k.device, health(k, seq, last - (10 - seq) * 300), last) for seq in range(1, 11)]
    out.append(Ingest(k.device, StateMessage(k.presence, f"{index + 1:08x}", last, "0.1.0"), last))
    out.append(
        Ingest(
            k.device,
            ReportedMessage(
                version=NOW - 2 * DAY,
                deactivated=k.state is DeviceState.DEACTIVATED,
                sanctions=("reader_deactivated",) if k.device == "KIOSK-SIM-0002" else (),
                tampered=k.tamper,
                applied_at=NOW - 2 * DAY + 3,
            ),
            NOW - 2 * DAY + 3,
        )
    )
    if k.device == "KIOSK-SIM-0001":
        for back in range(30):
            if back % 7 == 3:
                continue  # a day the library was closed
            day = _day(NOW - back * DAY)
            counts = {o: n + (back * 7 + len(o.value)) % 9 for o, n in DAILY.items()}
            out.append(Ingest(k.device, UsageMessage(back + 1, day, 7, counts), NOW - back * DAY))
    return out


def _day(ts: int) -> str:
    import time

    return time.strftime("%Y-%m-%d", time.gmtime(ts + 7 * 3600))


def fill(store: FleetStore) -> None:
    """Write the synthetic fleet into `store`."""
    for i, k in enumerate(KIOSKS):
        if k.registered:
            store.put_device(
                DeviceEntry(
                    device=k.device,
                    institution=k.institution,
                    region=k.region,
                    serial=f"PB-K1-{2400 + i:06d}",
                    bindings={
                        "reader": f"ACR39U-{7100 + i}",
                        "sam": f"SAM-KTPEL-{5200 + i}",
                        "sensor": f"FPS-R307-{3300 + i}",
                        "mcu": f"RP2040-{9900 + i}",
                    },
                    cert_serial=f"{0x5A17 + i:x}",
                    cert_expires=NOW + k.cert_days * DAY,
                    state=k.state,
                    registered_at=NOW - 90 * DAY,
                )
            )
        store.ingest(_messages(k, i))
    _audit(store)
    _alerts(store)
    _sanctions(store)


def _audit(store: FleetStore) -> None:
    for at, action, target, outcome, doc in (
        (NOW - 40 * DAY, "register", "KIOSK-SIM-0001", "done", None),
        (NOW - 5 * DAY, "deactivate", "KIOSK-SIM-0001", "done", "a1" * 32),
        (NOW - 4 * DAY, "reactivate", "KIOSK-SIM-0001", "done", "b2" * 32),
        (NOW - 3 * DAY, "command", "KIOSK-SIM-0001", "timeout", "c3" * 32),
        (NOW - 3 * DAY, "deactivate", "KIOSK-SIM-0004", "done", "d4" * 32),
        (NOW - 2 * DAY, "sanction_set", "KIOSK-SIM-0002", "done", "e5" * 32),
    ):
        store.append_audit(AuditEntry(at, ADMIN, action, target, outcome, doc, {"reason": "uji"}))


def _alerts(store: FleetStore) -> None:
    for kind, target, detail, raised in (
        (AlertKind.TAMPER, "KIOSK-SIM-0005", "casing opened", NOW - 3 * 3600),
        (AlertKind.LOST, "KIOSK-SIM-0009", "not heard for 180 minutes", NOW - 2 * 3600),
        (AlertKind.CERT_EXPIRING, "KIOSK-SIM-0007", "certificate expires in 12 days", NOW - DAY),
        (AlertKind.DEVICE_FAULT, "KIOSK-SIM-0001", "reader fault", NOW - 6 * DAY),
        (AlertKind.QUOTA_NEARLY_USED, "institution:dukcapil-smg", "92% of 1000", NOW - 3600),
    ):
        store.raise_alert(Alert(f"{kind.value}:{target}", kind, target, detail, raised))
        store.record_delivery(f"{kind.value}:{target}", raised, None)
    store.record_delivery("lost:KIOSK-SIM-0009", NOW - 2 * 3600, FAILED_DELIVERY)
    store.record_delivery("lost:KIOSK-SIM-0009", NOW - 2 * 3600, FAILED_DELIVERY)
    store.clear_alert("device_fault:KIOSK-SIM-0001", NOW - 5 * DAY)


def _sanctions(store: FleetStore) -> None:
    for scope, target, sanction, since, value in (
        (Scope.INSTITUTION, "dukcapil-smg", Sanction.QUOTA_REDUCED, NOW - 10 * DAY, 50),
        (Scope.INSTITUTION, "perpus-bdg", Sanction.USER_DEACTIVATED, NOW - 3 * DAY, None),
        (Scope.DEVICE, "KIOSK-SIM-0002", Sanction.READER_DEACTIVATED, NOW - 2 * DAY, None),
    ):
        store.put_sanction(
            SanctionInForce(scope, target, sanction, since, ADMIN, "pelanggaran PKS pasal 7", value)
        )
