"""[service], [alerts], [webhook], [dashboard] of fleet.toml: defaults, and strict errors that
name the key; deploy/fleet.toml.example parses; the systemd unit is hardened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleet.config import load_config, parse_config
from fleet.errors import ConfigError

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def base(**sections: dict[str, Any]) -> dict[str, Any]:
    """A minimal fleet.toml with `sections` added."""
    data: dict[str, Any] = {
        "admin": {"signing_key": "k.pem"},
        "broker": {"host": "h", "ca_file": "ca", "cert_file": "c", "key_file": "k"},
    }
    data.update(sections)
    return data


def test_defaults_without_the_sections(tmp_path: Path) -> None:
    config = parse_config(base(), tmp_path).service
    assert config.service.group == "fleet"
    assert config.service.client_id.startswith("fleet-service-")
    assert config.service.cert_file is None  # the [broker] certificate
    assert config.alerts.lost_after_min == 15 and config.alerts.quota_ratio == 0.9
    assert config.webhook is None and config.dashboard is None


def test_every_section_read(tmp_path: Path) -> None:
    config = parse_config(
        base(
            service={"group": "g1", "client_id": "svc-2", "batch_size": 100, "batch_ms": 1},
            alerts={"lost_after_min": 5, "cert_days": 7, "scraping_jump": 9},
            webhook={"url": "https://hooks.example/x", "ca_file": "ca.pem", "max_attempts": 3},
            dashboard={"listen": "127.0.0.1:0"},
        ),
        tmp_path,
    ).service
    assert (config.service.group, config.service.client_id) == ("g1", "svc-2")
    assert config.service.batch_size == 100 and config.service.batch_ms == 1.0
    assert config.alerts.cert_days == 7 and config.alerts.scraping_jump == 9
    assert config.webhook is not None and config.webhook.ca_file == tmp_path / "ca.pem"
    assert config.dashboard is not None and (config.dashboard.host, config.dashboard.port) == (
        "127.0.0.1",
        0,
    )


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"service": {"grup": "x"}}, "service.grup"),
        ({"service": {"group": "a/b"}}, "service.group"),
        ({"service": {"batch_size": 0}}, "service.batch_size"),
        ({"service": {"cert_file": "c.pem"}}, "service.key_file"),
        ({"alerts": {"lost_after": 5}}, "alerts.lost_after"),
        ({"alerts": {"quota_ratio": 2}}, "alerts.quota_ratio"),
        ({"webhook": {}}, "webhook.url"),
        ({"webhook": {"url": "http://hooks.example/x"}}, "webhook.url"),
        ({"webhook": {"url": "https://h/x", "retries": 3}}, "webhook.retries"),
        ({"dashboard": {"listen": "0.0.0.0:8890"}}, "dashboard.listen"),
        ({"dashboard": {"listen": "nope"}}, "dashboard.listen"),
        ({"dashboard": {"listen": "10.0.0.1:443", "cert_file": "c"}}, "dashboard.key_file"),
        ({"dashbord": {}}, "dashbord"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, sections: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(base(**sections), tmp_path)
    assert err.value.key == key


def test_a_non_loopback_dashboard_with_admin_mtls(tmp_path: Path) -> None:
    files = {"cert_file": "d.pem", "key_file": "d.key", "client_ca_file": "admin-ca.pem"}
    d = parse_config(base(dashboard={"listen": "10.0.0.1:8890", **files}), tmp_path).service
    assert d.dashboard is not None and d.dashboard.tls
    assert d.dashboard.client_ca_file == tmp_path / "admin-ca.pem"


def test_the_example_parses_and_the_unit_is_hardened() -> None:
    config = load_config(DEPLOY / "fleet.toml.example")
    assert config.service.service.client_id == "fleet-service-1"
    assert config.service.webhook is not None
    unit = (DEPLOY / "kiosk-fleet.service").read_text().splitlines()
    for line in (
        "LimitCORE=0",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=kiosk-fleet",
    ):
        assert line in unit
    assert any(line.startswith("ExecStart=") and line.endswith(" serve") for line in unit)


def test_missing_tls_files_are_one_line_errors(tmp_path: Path) -> None:
    from fleet.errors import FleetError
    from fleet.service.process import FleetService

    config = parse_config(base(), tmp_path)
    with pytest.raises(FleetError, match="broker: cannot load the CA certificates ca"):
        FleetService(config)
