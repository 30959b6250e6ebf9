"""The [evidence] section of fleet.toml: what `kiosk-fleet evidence` checks against.

    [evidence]
    addresses = ["10.20.0.5"]           # closed network: where the deployment may listen
    endpoints = ["10.20.0.5:8883"]      # more TLS listeners (the gateway, the broker's admin
                                        # listener and [est] are taken from fleet.toml)
    processes = ["mosquitto"]           # more processes by command line (core dumps, listeners)
    scan = ["/var/lib/platform-bersama", "/var/log/platform-bersama", "/var/lib/mosquitto"]
    canaries = "poc-canaries.toml"      # the PoC test cards' data: label = "value" (synthetic)
    reports = "reports"                 # the semester reports' folder
    units = ["/etc/systemd/system/kiosk-fleet.service"]
    balikan_days = 30                   # data balikan: the days looked at
    balikan_min_ratio = 0.9             # returns at least this share of FOUND look-ups

    [evidence.clauses]                  # the reference of each duty in this PKS (optional)
    network = "PKS: jaringan tertutup"

    [evidence.probe]                    # a probe device (device CA, O = institution): NIK rule
    cert_file = "probe.pem"
    key_file = "probe.key"
    reader_id = "RDR-PROBE"
    sam_id = "SAM-PROBE"
    region = "330101"                   # the synthetic NIKs' first six digits

    [evidence.pks.perpus-bdg]           # one per institution: what its PKS allows
    elements = ["nik", "nama_lengkap"]
    poc_approved = false
    first_semester = "2026-2"           # the first semester of service under the PKS

Relative paths are taken from fleet.toml's folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from common.config import ConfigFile
from protocol.elements import DataElement
from protocol.strict import Reader

SECTIONS = ("evidence",)
DUTIES = (
    "network",
    "storage",
    "elements",
    "quota",
    "antiscrape",
    "outcomes",
    "balikan",
    "reports",
    "sanctions",
    "coredumps",
)
_ENDPOINT = re.compile(r"^\[?([^\]\s]+?)\]?:(\d{1,5})\Z")
_INSTITUTION = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_SEMESTER = re.compile(r"^\d{4}-[12]\Z")
_REGION = re.compile(r"^\d{6}\Z")
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Pks:
    """What one institution's PKS allows."""

    institution: str
    elements: frozenset[str]
    poc_approved: bool = False
    daily_quota: int = 200
    first_semester: str | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """The probe device of the anti-scraping check."""

    cert_file: Path
    key_file: Path
    reader_id: str
    sam_id: str
    region: str = "330101"
    max_lookups: int = 10


@dataclass(frozen=True, slots=True)
class EvidenceSettings:
    """[evidence]."""

    addresses: tuple[str, ...] = ("127.0.0.1",)
    endpoints: tuple[tuple[str, int], ...] = ()
    processes: tuple[str, ...] = ()
    scan: tuple[Path, ...] = ()
    canaries: Path | None = None
    reports: Path | None = None
    units: tuple[Path, ...] = ()
    balikan_days: int = 30
    balikan_min_ratio: float = 0.9
    clauses: dict[str, str] = field(default_factory=dict)
    probe: Probe | None = None
    pks: dict[str, Pks] = field(default_factory=dict)


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """ "HOST:PORT" as (host, port); None if it is not one."""
    m = _ENDPOINT.match(text)
    if m is None or not 0 < int(m.group(2)) <= 65535:
        return None
    return m.group(1), int(m.group(2))


def parse_evidence(top: Reader, file: ConfigFile) -> EvidenceSettings | None:
    """[evidence] (None when absent)."""
    e = top.nested("evidence", None)
    if e is None:
        return None
    endpoints = []
    for text in e.texts("endpoints", []):
        parsed = parse_endpoint(text)
        if parsed is None:
            raise e.error("endpoints", f"{text!r} is not HOST:PORT")
        endpoints.append(parsed)
    canaries, reports = e.text("canaries", None), e.text("reports", None)
    c = e.nested("clauses", {})
    clauses = {name: c.text(name) for name in c.names() if name in DUTIES}
    unknown = sorted(set(c.names()) - set(DUTIES))
    if unknown:
        raise c.error(unknown[0], f"not a duty; known: {', '.join(DUTIES)}")
    settings = EvidenceSettings(
        addresses=tuple(e.texts("addresses", ["127.0.0.1"])),
        endpoints=tuple(endpoints),
        processes=tuple(e.texts("processes", [])),
        scan=tuple(file.path(p) for p in e.texts("scan", [])),
        canaries=None if canaries is None else file.path(canaries),
        reports=None if reports is None else file.path(reports),
        units=tuple(file.path(p) for p in e.texts("units", [])),
        balikan_days=e.integer("balikan_days", 30, 1, 366),
        balikan_min_ratio=e.number("balikan_min_ratio", 0.9, 0.0, 1.0),
        clauses=clauses,
        probe=_probe(e, file),
        pks=_pks(e),
    )
    e.done()
    return settings


def _probe(e: Reader, file: ConfigFile) -> Probe | None:
    p = e.nested("probe", None)
    if p is None:
        return None
    probe = Probe(
        cert_file=file.path(p.text("cert_file")),
        key_file=file.path(p.text("key_file")),
        reader_id=p.text("reader_id", "RDR-EVIDENCE-PROBE", _IDENT),
        sam_id=p.text("sam_id", "SAM-EVIDENCE-PROBE", _IDENT),
        region=p.text("region", "330101", _REGION),
        max_lookups=p.integer("max_lookups", 10, 2, 100),
    )
    p.done()
    return probe


def _pks(e: Reader) -> dict[str, Pks]:
    table = e.nested("pks", {})
    known = {el.value for el in DataElement}
    out = {}
    for inst in table.names():
        if not _INSTITUTION.match(inst):
            raise table.error(inst, "not an institution id")
        t = table.nested(inst)
        elements = t.texts("elements", min_items=1)
        for name in elements:
            if name not in known:
                raise t.error("elements", f"{name!r} is not a data element")
        out[inst] = Pks(
            institution=inst,
            elements=frozenset(elements),
            poc_approved=t.boolean("poc_approved", False),
            daily_quota=t.integer("daily_quota", 200, 0, 10_000_000),
            first_semester=t.text("first_semester", None, _SEMESTER),
        )
        t.done()
    return out
