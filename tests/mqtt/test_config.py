"""The agent.toml sections of the fleet issue: [mqtt], [admin], [state], [tamper], [supervisor]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import parse_config
from edge_agent.errors import ConfigError


def base(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "device": {"id": "KIOSK-A1"},
        "reader": {"reader_id": "R1", "sam_id": "S1"},
        "gateway": {
            "url": "https://gw.example:8443",
            "ca_file": "pki/ca.pem",
            "cert_file": "pki/device.pem",
            "key_file": "pki/device.key",
        },
    }
    data.update(sections)
    return data


FULL = {
    "mqtt": {"host": "broker.internal", "port": 8883, "health_interval": 600},
    "admin": {"public_keys": ["keys/admin-1.pub", "/etc/kiosk/admin-2.pub"]},
    "state": {"dir": "/var/lib/kiosk-agent", "province": "73"},
    "tamper": {"enabled": True, "pin": 26},
    "supervisor": {"port": "/dev/ttyAMA1", "heartbeat_interval": 0.5},
}


def test_without_the_new_sections_nothing_changes() -> None:
    config = parse_config(base(), base=Path("/etc/kiosk"))
    assert config.mqtt is None and config.state is None and config.admin is None
    assert not config.tamper.enabled and config.supervisor is None


def test_the_new_sections() -> None:
    config = parse_config(base(**FULL), base=Path("/etc/kiosk"))
    assert config.mqtt is not None and config.mqtt.health_interval == 600.0
    assert config.mqtt_files == (
        Path("/etc/kiosk/pki/ca.pem"),
        Path("/etc/kiosk/pki/device.pem"),
        Path("/etc/kiosk/pki/device.key"),
    )  # one certificate for the gateway and MQTT unless [mqtt] names others
    assert config.admin is not None
    assert config.admin.public_keys == (
        Path("/etc/kiosk/keys/admin-1.pub"),
        Path("/etc/kiosk/admin-2.pub"),
    )
    assert config.state is not None and config.state.province == "73"
    assert config.supervisor is not None and config.supervisor.baud == 115200


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"state": None}, "state"),
        ({"admin": None}, "admin"),
        ({"admin": {"public_keys": []}}, "admin.public_keys"),
        ({"mqtt": {"host": "b", "port": 0}}, "mqtt.port"),
        ({"mqtt": {"host": "b", "reconnect_min": 10, "reconnect_max": 5}}, "mqtt.reconnect_max"),
        ({"mqtt": {"host": "b", "qos": 2}}, "mqtt.qos"),
        ({"state": {"dir": "/x", "province": "99"}}, "state.province"),
        ({"supervisor": {"baud": 9600}}, "supervisor.port"),
    ],
)
def test_mistakes_name_the_key(change: dict[str, Any], key: str) -> None:
    sections = {**FULL, **change}
    data = base(**{k: v for k, v in sections.items() if v is not None})
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.key == key


def test_the_example_fleet_sections_parse() -> None:
    """deploy/agent.toml.example documents the fleet sections commented out: uncommented, they
    are valid (and every key is one the parser knows)."""
    import re
    import tomllib

    example = Path(__file__).parents[2] / "deploy" / "agent.toml.example"
    text = example.read_text()
    head, fleet = text.split("# --- the fleet", 1)
    lines = [re.sub(r"^# (\[|[a-z_]+ = )", r"\1", line) for line in fleet.splitlines()[1:]]
    data = tomllib.loads(head + "\n".join(lines))
    data["tamper"]["pin_factory"] = "mock"
    config = parse_config(data, base=example.parent)
    assert config.mqtt is not None and config.admin is not None and config.supervisor is not None
