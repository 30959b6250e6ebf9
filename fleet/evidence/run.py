"""Run every check of the evidence against one deployment (fleet.toml) and collect the report."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fleet.config import FleetConfig
from fleet.errors import FleetError
from fleet.evidence import gateway_checks, host, network, probe, storage
from fleet.evidence.model import DUTIES, Evidence, Result, failed, skipped
from fleet.evidence.settings import EvidenceSettings, parse_endpoint
from fleet.gateway import GatewayAdmin

_log = logging.getLogger(__name__)
_NO_GATEWAY = "fleet.toml has no [gateway]: the gateway's policy cannot be read"
_NO_PKS = "no institution in [evidence.pks]: list each one with the elements of its PKS"


def endpoints(config: FleetConfig, settings: EvidenceSettings) -> list[tuple[str, int]]:
    """The TLS listeners: the gateway, the broker's admin listener, [est], and the extra ones."""
    found: list[tuple[str, int]] = []
    if config.gateway is not None:
        url = config.gateway.url.split("://", 1)[1].split("/", 1)[0]
        parsed = parse_endpoint(url if ":" in url.rsplit("]", 1)[-1] else url + ":443")
        if parsed is not None:
            found.append(parsed)
    found.append((config.broker.host, config.broker.port))
    if config.est is not None:
        found.append((config.est.host, config.est.port))
    for ep in settings.endpoints:
        if ep not in found:
            found.append(ep)
    return found


def _guarded(duty: str, check: Callable[[], Result]) -> Result:
    """A check that could not run is a FAIL naming why (never a traceback)."""
    try:
        return check()
    except FleetError as err:
        return failed(
            duty,
            f"the check could not run: {err}",
            "Periksa koneksi dan konfigurasi yang disebut / Check the connection and the "
            "configuration named",
        )
    except OSError as err:
        return failed(
            duty,
            f"the check could not run: {type(err).__name__}: {err.strerror or err}",
            "Periksa izin berkas dan jalur yang disebut / Check the file permissions and paths",
        )


def collect(
    config: FleetConfig,
    admin: GatewayAdmin | None,
    keys: Mapping[str, Ed25519PublicKey] | None,
    *,
    write_check: bool = False,
    now: float | None = None,
    made_by: str = "fleet-admin",
) -> Evidence:
    """Every duty's result, in the order of DUTIES."""
    settings = config.evidence or EvidenceSettings()
    pks = settings.pks
    stamp = time.time() if now is None else now
    today = dt.datetime.fromtimestamp(stamp, dt.UTC).date()
    eps = endpoints(config, settings)
    identity = (config.broker.tls.cert_file, config.broker.tls.key_file)
    pids = network.pids_by_command(settings.processes)
    results: dict[str, Result] = {}

    def net() -> Result:
        nonlocal pids
        result, pids = network.check_network(eps, settings.addresses, pids, identity)
        return result

    results["network"] = _guarded("network", net)
    results["storage"] = _guarded(
        "storage", lambda: storage.check_storage(settings.scan, settings.canaries)
    )

    def via_gateway(duty: str, check: Callable[[GatewayAdmin], Result]) -> Result:
        if admin is None:
            return skipped(duty, _NO_GATEWAY)
        if not pks and duty != "balikan":
            return skipped(duty, _NO_PKS)
        return _guarded(duty, lambda: check(admin))

    results["elements"] = via_gateway("elements", lambda a: gateway_checks.check_elements(a, pks))
    results["quota"] = via_gateway("quota", lambda a: gateway_checks.check_quota(a, pks))
    if config.gateway is None:
        results["antiscrape"] = skipped("antiscrape", _NO_GATEWAY)
    else:
        gw = config.gateway
        results["antiscrape"] = _guarded(
            "antiscrape", lambda: probe.check_antiscrape(gw.url, gw.tls.ca_file, settings.probe)
        )
    results["outcomes"] = host.check_outcomes()
    results["balikan"] = via_gateway(
        "balikan", lambda a: gateway_checks.check_balikan(a, settings, today)
    )
    results["reports"] = _guarded(
        "reports", lambda: host.check_reports(settings.reports, pks, keys, today)
    )
    results["sanctions"] = via_gateway(
        "sanctions", lambda a: gateway_checks.check_sanctions(a, pks, write_check)
    )
    results["coredumps"] = _guarded("coredumps", lambda: host.check_coredumps(pids, settings.units))
    for r in results.values():
        _log.info("evidence %s: %s", r.duty, r.status.value)
    return Evidence(
        made_at=int(stamp),
        made_by=made_by,
        deployment=str(Path(config.source)),
        results=tuple(results[d] for d in DUTIES),
        clauses=dict(settings.clauses),
    )
