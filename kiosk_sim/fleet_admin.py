"""The admin side of a simulation: a signing key pair, an admin certificate, fleet.toml (and a
read-only admin's viewer.toml, with no signing key), and the real `kiosk-fleet` command run
against them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from kiosk_sim.broker import ADMIN_CN, READER_CN, MosquittoBroker
from kiosk_sim.pki import Issued, Pki
from protocol.signed import private_pem, public_pem


@dataclass(frozen=True)
class FleetSetup:
    """The admin side of a simulation: signing key, admin certificate, fleet.toml."""

    directory: Path
    admin_cert: Issued
    signing_key: Path
    public_key: Path
    fleet_config: Path
    ca_file: Path
    viewer_config: Path

    @classmethod
    def create(
        cls,
        directory: Path,
        pki: Pki,
        broker: MosquittoBroker,
        gateway_url: str | None = None,
        *,
        est_port: int | None = None,
        cert_days: float = 30.0,
        webhook_url: str | None = None,
    ) -> FleetSetup:
        """Make a signing key pair, an admin certificate and fleet.toml in `directory` (the
        fleet service's alerts POSTed to `webhook_url`, when given)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from fleet.config import render_config
        from fleet.service.settings import render_service_sections

        directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        signing = directory / "admin-ed25519.pem"
        signing.write_bytes(private_pem(key))
        signing.chmod(0o600)
        public = directory / "admin-ed25519.pub"
        public.write_bytes(public_pem(key.public_key()))
        admin = broker.issue_admin(ADMIN_CN)
        service = broker.issue_service()
        config = directory / "fleet.toml"
        store = directory / "fleet.sqlite3"
        config.write_text(
            render_config(
                signing_key=signing,
                broker_host=broker.host,
                broker_port=broker.admin_port,
                ca_file=pki.server_ca.cert,
                cert_file=admin.cert,
                key_file=admin.key,
                gateway_url=gateway_url,
                store_path=store,
            )
            # the fleet service: its own certificate, SQLite beside fleet.toml, a dashboard
            + render_service_sections(
                client_id="fleet-sim-1",
                cert_file=service.cert,
                key_file=service.key,
                dashboard_listen="127.0.0.1:0",
                webhook_url=webhook_url,
            )
            + ("" if est_port is None else _ca_sections(pki, est_port, cert_days))
        )
        viewer = broker.issue_admin(READER_CN)
        viewer_config = directory / "viewer.toml"
        viewer_config.write_text(
            render_config(
                signing_key=None,
                broker_host=broker.host,
                broker_port=broker.admin_port,
                ca_file=pki.server_ca.cert,
                cert_file=viewer.cert,
                key_file=viewer.key,
                store_path=store,
                public_key=public,
            )
        )
        return cls(directory, admin, signing, public, config, pki.server_ca.cert, viewer_config)

    def agent_sections(
        self,
        broker: MosquittoBroker,
        state_dir: Path,
        *,
        province: str = "31",
        supervisor_port: str | None = None,
        health_interval: float = 60.0,
    ) -> str:
        """The [mqtt], [admin], [state] (and [supervisor]) sections to append to agent.toml."""
        text = f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
keepalive = 30
reconnect_min = 0.2
reconnect_max = 2.0
health_interval = {health_interval}
probe_interval = 10.0

[admin]
public_keys = [{json.dumps(str(self.public_key))}]

[state]
dir = {json.dumps(str(state_dir))}
province = "{province}"
"""
        if supervisor_port is not None:
            text += f"""
[supervisor]
port = {json.dumps(supervisor_port)}
heartbeat_interval = 0.5
"""
        return text

    async def fleet(
        self, *args: str, viewer: bool = False, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Run `kiosk-fleet --config fleet.toml ARGS` (viewer.toml: the read-only admin);
        (exit code, stdout + stderr)."""
        config = self.viewer_config if viewer else self.fleet_config
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fleet",
            "--config",
            str(config),
            *args,
            stdout=asyncio.subprocess.PIPE,
            env=None if env is None else {**os.environ, **env},
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return int(proc.returncode or 0), out.decode(errors="replace").strip()


def _ca_sections(pki: Pki, est_port: int, cert_days: float) -> str:
    """[ca] (the simulation's device and admin CAs) and [est] on `est_port` for fleet.toml."""
    return f"""
[ca]
cert_file = {json.dumps(str(pki.device_ca.cert))}
key_file = {json.dumps(str(pki.device_ca.key))}
admin_cert_file = {json.dumps(str(pki.admin_ca.cert))}
admin_key_file = {json.dumps(str(pki.admin_ca.key))}
crl_file = {json.dumps(str(pki.device_crl))}
admin_crl_file = {json.dumps(str(pki.directory / "admin-crl.pem"))}
days = {cert_days}
key_origin = "token-claimed"

[est]
listen = "127.0.0.1:{est_port}"
cert_file = {json.dumps(str(pki.server.cert))}
key_file = {json.dumps(str(pki.server.key))}
"""
