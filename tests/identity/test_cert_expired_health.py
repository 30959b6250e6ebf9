"""An expired certificate: the kiosk's health says so (cert_expired, sent on change) and the
fleet raises a CERT_EXPIRED alert from that one report; a valid certificate raises nothing."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from edge_agent.uplink.health import HealthProbes
from fleet.service.rules import HEALTH_KINDS, health_alerts
from fleet.store.base import AlertKind
from kiosk_sim.pki import make_pki
from kiosk_sim.swarm import health_message
from protocol.mqtt import encode, parse_health


async def test_the_health_snapshot_flags_an_expired_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    expired = pki.issue_device("KIOSK-E1", "perpus-a", not_before=past, not_after=past)
    valid = pki.issue_device("KIOSK-E2", "perpus-a")
    now = time.time()
    assert (await HealthProbes(cert_file=expired.cert).snapshot(now)).cert_expired is True
    assert (await HealthProbes(cert_file=valid.cert).snapshot(now)).cert_expired is False
    assert (await HealthProbes().snapshot(now)).cert_expired is None


def test_the_flag_round_trips_changes_the_condition_and_is_optional() -> None:
    flagged = health_message(3, 10, cert_days_left=-1, cert_expired=True)
    assert parse_health(encode(flagged.to_json())) == flagged
    fine = health_message(3, 10, cert_expired=False)
    assert not flagged.same_condition(fine)  # the kiosk reports the change at once
    plain = health_message(3, 10)
    assert "cert_expired" not in plain.to_json() and parse_health(encode(plain.to_json())) == plain


def test_an_expired_certificate_is_an_alert_from_one_report() -> None:
    assert AlertKind.CERT_EXPIRED in HEALTH_KINDS
    assert health_alerts("K-1", health_message(1, 10, cert_expired=False)) == []
    (alert,) = health_alerts("K-1", health_message(1, 10, cert_days_left=-1, cert_expired=True))
    assert alert.kind is AlertKind.CERT_EXPIRED and alert.key == "cert_expired:K-1"
    assert alert.detail.startswith("sertifikat kios kedaluwarsa") and "expired" in alert.detail
