"""Fixtures: a PKI, a real mosquitto per test, admin watchers, the real gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_config as gateway_config
from gateway.server import RunningGateway, start_gateway
from tests.mqtt.fixtures import Certs, broker, certs, watch

__all__ = ["broker", "certs", "gateway", "watch"]


def gateway_data(tmp_path: Path, certs: Certs, **sections: Any) -> dict[str, Any]:
    """gateway.toml's content for perpus-a (password file written), `sections` replaced."""
    (tmp_path / "perpus.password").write_text("sandi\n")
    pki = certs.pki
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "tls": {
            "cert": str(pki.server.cert),
            "key": str(pki.server.key),
            "device_ca": str(pki.device_ca.cert),
            "admin_ca": str(pki.admin_ca.cert),
        },
        "store": {"kind": "sqlite", "path": str(tmp_path / "gateway.sqlite3")},
        "upstream": {"url": "http://127.0.0.1:9", "timeout_s": 1.0},
        "institutions": {
            "perpus-a": {
                "name": "Perpustakaan A",
                "province": "33",
                "upstream_user": "PERPUS-A",
                "upstream_password_file": "perpus.password",
                "elements": ["nik", "nama_lengkap"],
            }
        },
    }
    return data | sections


@pytest.fixture
async def gateway(tmp_path: Path, certs: Certs) -> AsyncIterator[RunningGateway]:
    """The real gateway (its admin API; the upstream is never called here)."""
    running = await start_gateway(gateway_config(gateway_data(tmp_path, certs), tmp_path))
    yield running
    await running.close()
