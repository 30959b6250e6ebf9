"""The sequential NIK rule, probed: a probe device sends synthetic NIKs in sequence (one birth
date, serials 0001, 0002, ...) to the gateway, which must refuse with PATTERN_BLOCKED."""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from common.errors import TlsFileError
from common.tls import client_context
from fleet.evidence.model import Result, failed, passed, skipped
from fleet.evidence.settings import Probe
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationRequest
from protocol.nik import is_valid_nik
from protocol.outcomes import Outcome

PATH = "/v1/verifications"
# Refusals the gateway decides before the NIK rule: the probe cannot reach it past them.
BEFORE_RULE = {
    Outcome.INSTITUTION_INACTIVE.value,
    Outcome.USER_INACTIVE.value,
    Outcome.INVALID_NIK_FORMAT.value,
    Outcome.DEVICE_DEACTIVATED.value,
}


def synthetic_niks(region: str, count: int) -> list[str]:
    """`count` NIKs in sequence under one random synthetic birth date (1 to 28, any month)."""
    day, month, year = 1 + secrets.randbelow(28), 1 + secrets.randbelow(12), secrets.randbelow(100)
    prefix = f"{region}{day:02d}{month:02d}{year:02d}"
    niks = [f"{prefix}{serial:04d}" for serial in range(1, count + 1)]
    if not all(is_valid_nik(n) for n in niks):
        raise ValueError(f"region {region} does not make valid NIKs")
    return niks


def _post(conn: http.client.HTTPSConnection, req: VerificationRequest) -> tuple[int, str]:
    body = json.dumps(req.to_json()).encode()
    conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read(1 << 16)
    try:
        outcome = json.loads(raw).get("outcome")
    except (ValueError, AttributeError):
        outcome = None
    if not isinstance(outcome, str):
        error: object = {}
        with contextlib.suppress(ValueError, AttributeError):
            error = json.loads(raw).get("error") or {}
        outcome = str(error.get("code", "?")) if isinstance(error, dict) else "?"
    return resp.status, outcome


def check_antiscrape(gateway_url: str, ca_file: Path, probe: Probe | None) -> Result:
    """Send sequential synthetic NIKs until the gateway refuses (at most probe.max_lookups)."""
    if probe is None:
        return skipped(
            "antiscrape",
            "no probe device: configure [evidence.probe] with a device certificate of the "
            "device CA (O = an institution)",
        )
    try:
        ctx: ssl.SSLContext = client_context(ca_file, probe.cert_file, probe.key_file)
    except TlsFileError as err:
        return failed(
            "antiscrape",
            f"the probe device's files do not load: {err}",
            "Perbaiki [evidence.probe] / Fix [evidence.probe] cert_file and key_file",
        )
    parts = urlsplit(gateway_url)
    answers: list[str] = []
    for nik in synthetic_niks(probe.region, probe.max_lookups):
        req = VerificationRequest(
            secrets.token_hex(16),
            nik,
            MatchEvidence("right_index", 100, 1),
            ReaderIdentity(probe.reader_id, probe.sam_id),
            secrets.token_bytes(32),
        )
        # a connection per look-up, as a kiosk's session makes (none is kept alive)
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port or 443, context=ctx, timeout=10
        )
        try:
            status, outcome = _post(conn, req)
        except (OSError, http.client.HTTPException) as err:
            return failed(
                "antiscrape",
                f"the gateway did not answer the probe: {type(err).__name__}",
                "Periksa gateway dan sertifikat perangkat probe / Check the gateway and the "
                "probe device's certificate",
                answers=answers,
            )
        finally:
            conn.close()
        answers.append(outcome if status == 200 else f"HTTP {status} {outcome}")
        if outcome == Outcome.PATTERN_BLOCKED.value or status != 200 or outcome in BEFORE_RULE:
            break
    if answers and answers[-1] == Outcome.PATTERN_BLOCKED.value:
        return passed(
            "antiscrape",
            f"refused with PATTERN_BLOCKED at sequential synthetic NIK no. {len(answers)}",
            answers=answers,
        )
    last = answers[-1] if answers else "no answer"
    if last.startswith("HTTP") or last in BEFORE_RULE:
        return failed(
            "antiscrape",
            f"the gateway refused the probe before the NIK rule: {last}",
            "Cabut sanksi/penonaktifan yang menolak perangkat probe, atau gunakan perangkat "
            "probe instansi lain / Lift what refuses the probe device (a sanction, a "
            "deactivation) or probe with another institution's device",
            answers=answers,
        )
    return failed(
        "antiscrape",
        f"{len(answers)} sequential synthetic NIKs, no PATTERN_BLOCKED: {', '.join(answers)}",
        "Aktifkan aturan anti-scraping gateway ([antiscrape] sequential_run, pattern_run) "
        "/ Turn the gateway's anti-scraping rules on ([antiscrape] sequential_run, pattern_run)",
        answers=answers,
    )
