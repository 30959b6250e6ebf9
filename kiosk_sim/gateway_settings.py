"""The simulated stack's gateway.toml settings (as a dict for gateway.config.parse_config)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiosk_sim.broker import READER_CN

if TYPE_CHECKING:
    from kiosk_sim.stack import Stack


def gateway_settings(self: Stack) -> dict[str, Any]:
    """The gateway's settings for `self` (a Stack with its PKI and Dukcapil simulator)."""
    from kiosk_sim.stack import ELEMENTS, INSTITUTION, UPSTREAM_USER

    assert self.pki is not None and self.dukcapil is not None
    gw = self.run_dir / "gateway"
    (gw / "log").mkdir(parents=True, exist_ok=True)
    secret = gw / "upstream.password"
    secret.write_text("sandi-simulasi\n")
    secret.chmod(0o600)
    return {
        "server": {"host": "127.0.0.1", "port": self.gateway_port},
        "tls": {
            "cert": str(self.pki.server.cert),
            "key": str(self.pki.server.key),
            "device_ca": str(self.pki.device_ca.cert),
            "admin_ca": str(self.pki.admin_ca.cert),
            "read_only_admins": [READER_CN],
        },
        "store": {"kind": "sqlite", "path": str(gw / "gateway.sqlite3")},
        "upstream": {"kind": "dukcapil-http", "url": self.dukcapil.url},
        # The demo verifies a dozen citizens a minute from one kiosk: allow that burst.
        "antiscrape": {"device_burst_limit": 100, "burst_limit": 100},
        "logging": {
            "access": str(gw / "log" / "access.log"),
            "main": str(gw / "log" / "gateway.log"),
        },
        "institutions": {
            INSTITUTION: {
                "name": "Perpustakaan Simulasi",
                "province": "33",
                "upstream_user": UPSTREAM_USER,
                "upstream_password_file": str(secret),
                "elements": ELEMENTS,
            }
        },
    }
