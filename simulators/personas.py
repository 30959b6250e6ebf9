"""Synthetic citizens. Invented names; real region codes; valid NIKs unless said otherwise.

The records are data, in `personas.toml` beside this module. They are the only place where the
canary personal data of the simulations lives: the virtual KTP-el cards are made from them and
the Dukcapil simulator's population is made from them. Privacy scans grep every file a run wrote
for their NIKs and names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass
from enum import Enum
from importlib.resources import files

from hardware.card.reader import Finger
from protocol.nik import Sex

TEMPLATE_SIZE = 512  # bytes of one fingerprint template, as the fingerprint module stores it


class RecordStatus(Enum):
    """What the population database holds for a persona (drives the upstream simulator)."""

    ACTIVE = "active"
    DECEASED = "deceased"
    DUPLICATE = "duplicate"
    INACTIVE = "inactive"
    ABSENT = "absent"  # a valid NIK that is not in the database


@dataclass(frozen=True)
class Persona:
    """One synthetic citizen and the contents of their KTP-el."""

    key: str
    nik: str
    kk_number: str
    full_name: str
    sex: Sex
    birth_place: str
    birth_date: dt.date
    religion: str
    marital_status: str
    occupation: str
    address: str
    rt: str
    rw: str
    village: str
    district: str
    regency: str
    province: str
    nationality: str = "WNI"
    valid_until: str = "SEUMUR HIDUP"
    status: RecordStatus = RecordStatus.ACTIVE

    def template(self, finger: Finger) -> bytes:
        """The persona's fingerprint template for one finger (deterministic, synthetic)."""
        return synthetic_template(f"{self.key}/{finger.value}")

    @property
    def district_code(self) -> str:
        """Province + regency + district code, six digits."""
        return self.nik[:6]

    def __repr__(self) -> str:
        return f"Persona({self.key!r})"


def synthetic_template(seed: str) -> bytes:
    """A deterministic 512-byte template: a 2-byte marker then SHAKE-256 output of the seed."""
    body = hashlib.shake_256(seed.encode()).digest(TEMPLATE_SIZE - 2)
    return b"\x03\x01" + body


def _load(text: str) -> dict[str, Persona]:
    """The personas of `personas.toml`, by key (a field that is not Persona's raises TypeError)."""
    personas = {}
    for key, fields in tomllib.loads(text).items():
        fields["sex"] = Sex[fields["sex"].upper()]
        fields["status"] = RecordStatus(fields.get("status", RecordStatus.ACTIVE.value))
        personas[key] = Persona(key=key, **fields)
    return personas


PERSONAS: dict[str, Persona] = _load(files("simulators").joinpath("personas.toml").read_text())
"""Every persona, by key, in the order of personas.toml."""


def persona(key: str) -> Persona:
    """The persona named by key, with a KeyError listing the known keys."""
    try:
        return PERSONAS[key]
    except KeyError:
        raise KeyError(f"unknown persona {key!r}; known: {', '.join(PERSONAS)}") from None
