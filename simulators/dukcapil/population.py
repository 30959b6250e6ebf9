"""The simulator's population (made from the card personas) and its user accounts.

This is the only place, besides the personas themselves, where the canary personal data of a
simulation may live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.elements import DataElement
from protocol.nik import Sex
from protocol.outcomes import Outcome
from simulators.personas import PERSONAS, Persona, RecordStatus

_STATUS_OUTCOME = {
    RecordStatus.ACTIVE: Outcome.FOUND,
    RecordStatus.DECEASED: Outcome.FOUND_DECEASED,
    RecordStatus.DUPLICATE: Outcome.FOUND_DUPLICATE,
    RecordStatus.INACTIVE: Outcome.FOUND_INACTIVE,
    RecordStatus.ABSENT: Outcome.NOT_FOUND,
}


@dataclass
class SimUser:
    """An institution's user ID at the simulated Dukcapil, with its statuses and daily quota."""

    user_id: str
    password: str
    institution: str
    active: bool = True
    institution_active: bool = True
    daily_quota: int | None = None

    def __repr__(self) -> str:
        return f"SimUser({self.user_id!r}, institution={self.institution!r})"


@dataclass
class Population:
    """NIK → (outcome, record). A record holds every element the database has, and more."""

    records: dict[str, tuple[Outcome, dict[str, str]]] = field(default_factory=dict)

    @classmethod
    def from_personas(cls, personas: list[Persona] | None = None) -> Population:
        """The population of the card personas (all of them by default)."""
        out = cls()
        for p in personas if personas is not None else list(PERSONAS.values()):
            out.add(p)
        return out

    def add(self, p: Persona) -> None:
        """Add one persona with the outcome its record status implies."""
        outcome = _STATUS_OUTCOME[p.status]
        self.records[p.nik] = (outcome, record_of(p) if outcome.info.data_returned else {})

    def lookup(self, nik: str) -> tuple[Outcome, dict[str, str]]:
        """The upstream answer for a well-formed NIK."""
        return self.records.get(nik, (Outcome.NOT_FOUND, {}))

    def __repr__(self) -> str:
        return f"Population(<{len(self.records)} records>)"


def record_of(p: Persona) -> dict[str, str]:
    """Everything the simulated database sends for a persona, including elements no PKS lists."""
    return {
        DataElement.KK_NUMBER.value: p.kk_number,
        DataElement.NIK.value: p.nik,
        DataElement.FULL_NAME.value: p.full_name,
        DataElement.SEX.value: "PEREMPUAN" if p.sex is Sex.FEMALE else "LAKI-LAKI",
        DataElement.BIRTH_PLACE.value: p.birth_place,
        DataElement.BIRTH_DATE.value: p.birth_date.strftime("%d-%m-%Y"),
        DataElement.OCCUPATION.value: p.occupation,
        DataElement.MARITAL_STATUS.value: p.marital_status,
        DataElement.ADDRESS.value: p.address,
        DataElement.PROVINCE_NAME.value: p.province,
        DataElement.REGENCY_NAME.value: p.regency,
        DataElement.DISTRICT_NAME.value: p.district,
        DataElement.VILLAGE_NAME.value: p.village,
        DataElement.DISTRICT_CODE.value: p.district_code,
        DataElement.RT.value: p.rt,
        DataElement.RW.value: p.rw,
        # Not data elements of any PKS: the gateway must drop them.
        "agama": p.religion,
        "kewarganegaraan": p.nationality,
        "golongan_darah": "-",
    }
