"""A new CRL to every door: the CRL files (mosquitto's crlfile), a SIGHUP to mosquitto (it reads
its crlfile again; OpenSSL then uses the CRL with the latest lastUpdate), and the gateway's
`PUT /admin/v1/crl` (it adds the CRL to its TLS context and its registry). Each step that fails
is reported, the others still run: a revocation is never undone by one unreachable door.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fleet.config import FleetConfig
from fleet.errors import FleetError
from fleet.gateway import GatewayAdmin

_log = logging.getLogger(__name__)


@dataclass
class Published:
    """What reached where: done steps, and failures as one line each."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace a file's content at once (readers see the old or the new file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def publish(
    config: FleetConfig,
    device: x509.CertificateRevocationList,
    admin: x509.CertificateRevocationList | None = None,
) -> Published:
    """Write the CRL files, SIGHUP the broker, send the CRLs to the gateway."""
    out = Published()
    ca = config.ca
    assert ca is not None
    crls = [(device, ca.crl_file, "device")]
    if admin is not None:
        crls.append((admin, ca.admin_crl_file, "admin"))
    for crl, path, kind in crls:
        if path is None:
            continue
        try:
            write_atomically(path, crl.public_bytes(serialization.Encoding.PEM))
            out.done.append(f"{kind} CRL file {path}")
        except OSError as err:
            out.failed.append(f"cannot write the {kind} CRL {path} ({err.strerror})")
    if ca.broker_pid_file is not None:
        _hup(ca.broker_pid_file, out)
    if config.gateway is not None:
        try:
            with GatewayAdmin(config.gateway.url, config.gateway.tls.context()) as gw:
                for crl, _, kind in crls:
                    gw.put_crl(crl.public_bytes(serialization.Encoding.DER))
                    out.done.append(f"{kind} CRL at the gateway")
        except FleetError as err:
            out.failed.append(str(err))
    for line in out.failed:
        _log.error("CRL publication: %s", line)
    return out


def _hup(pid_file: Path, out: Published) -> None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
        out.done.append(f"broker (pid {pid}) reloaded")
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) else "not a pid"
        out.failed.append(
            f"cannot signal the broker from {pid_file} ({why}); run: kill -HUP <mosquitto's pid>"
        )
