"""The simulator's population (made from the card personas) and its user accounts.

This is the only place, besides the personas themselves, where the canary personal data of a
simulation may live. For load tests a population may also be *generated*: any valid NIK that is
not a persona is then found, with a synthetic record derived from the NIK alone (invented names
and places, the NIK's own birth date and sex), so a benchmark can send a different NIK each time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocol.elements import DataElement
from protocol.errors import NikFormatError
from protocol.nik import Sex, parse_nik
from protocol.outcomes import Outcome
from protocol.regions import PROVINCES
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
    """NIK → (outcome, record). A record holds every element the database has, and more.

    With `generated`, a valid NIK that is not in `records` is FOUND with `generated_record(nik)`
    instead of NOT_FOUND (load tests); the records, personas included, keep their own answers.
    """

    records: dict[str, tuple[Outcome, dict[str, str]]] = field(default_factory=dict)
    generated: bool = False

    @classmethod
    def from_personas(
        cls, personas: list[Persona] | None = None, *, generated: bool = False
    ) -> Population:
        """The population of the card personas (all of them by default)."""
        out = cls(generated=generated)
        for p in personas if personas is not None else list(PERSONAS.values()):
            out.add(p)
        return out

    def add(self, p: Persona) -> None:
        """Add one persona with the outcome its record status implies."""
        outcome = _STATUS_OUTCOME[p.status]
        self.records[p.nik] = (outcome, record_of(p) if outcome.info.data_returned else {})

    def lookup(self, nik: str) -> tuple[Outcome, dict[str, str]]:
        """The upstream answer for a well-formed NIK."""
        known = self.records.get(nik)
        if known is not None:
            return known
        if self.generated:
            try:
                return Outcome.FOUND, generated_record(nik)
            except NikFormatError:
                pass
        return Outcome.NOT_FOUND, {}

    def __repr__(self) -> str:
        mode = ", generated" if self.generated else ""
        return f"Population(<{len(self.records)} records>{mode})"


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


# Invented names and places for generated records (no real person is meant). Given names and
# family names are 7 to 12 letters, so a full name is 15 to 25 characters.
_GIVEN_MALE = (
    "ARYAWIGUNA",
    "BAYUSEKTI",
    "CAKRADENTA",
    "DANUWIRYA",
    "GALIHPRANA",
    "HARSAMUKTI",
    "KRESNADHI",
    "LINTANGARSA",
    "RANGGASETA",
    "WIRATAMA",
)
_GIVEN_FEMALE = (
    "ANJANIWATI",
    "CANDRAKIRANA",
    "DYAHRESMI",
    "KINANTISARI",
    "LARASWULAN",
    "MAHESWARI",
    "NAWANGRETNO",
    "PUSPARINI",
    "SEKARLINTANG",
    "WULANDAYU",
)
_FAMILY = (
    "ADIWIRANTA",
    "BRATANEGARA",
    "HANDAYAPRANA",
    "JAYASENTIKA",
    "KUSUMAWARDA",
    "MANGUNHARJA",
    "PRAWIRODITO",
    "SASTRAWINATA",
    "TIRTAMULYA",
    "WIDYASURYA",
)
_PLACES = (
    "BANYUMUKTI",
    "GUNUNGSEKAR",
    "KARANGWULUNG",
    "KEDUNGASRI",
    "PASIRWANGI",
    "SIDOLESTARI",
    "SUMBERARUM",
    "TANJUNGMEKAR",
    "TEGALWARINGIN",
    "WATUGEDE KIDUL",
)
_STREETS = ("MELATI", "KENANGA", "CEMPAKA", "FLAMBOYAN", "MERANTI", "BERINGIN", "CENDANA")
_OCCUPATIONS = (
    "PELAJAR/MAHASISWA",
    "KARYAWAN SWASTA",
    "WIRASWASTA",
    "PETANI/PEKEBUN",
    "MENGURUS RUMAH TANGGA",
    "GURU",
    "PEDAGANG",
    "NELAYAN/PERIKANAN",
)
_MARITAL = ("BELUM KAWIN", "KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI")
_RELIGIONS = ("ISLAM", "ISLAM", "ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU")
_BLOOD = ("A", "B", "AB", "O", "-")


class _Draws:
    """Deterministic choices from a 128-bit digest, consumed a few bits at a time."""

    __slots__ = ("_bits",)

    def __init__(self, seed: bytes) -> None:
        self._bits = int.from_bytes(hashlib.blake2b(seed, digest_size=16).digest(), "big")

    def number(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        self._bits, n = divmod(self._bits, high - low + 1)
        return low + n

    def pick(self, options: Sequence[str]) -> str:
        """One of the options."""
        return options[self.number(0, len(options) - 1)]


def generated_record(nik: str) -> dict[str, str]:
    """A synthetic record for a valid NIK, the same every time (NikFormatError if invalid)."""
    parts = parse_nik(nik)
    born = parts.birth_date(dt.date.today())
    d = _Draws(nik.encode())
    female = parts.sex is Sex.FEMALE
    full_name = f"{d.pick(_GIVEN_FEMALE if female else _GIVEN_MALE)} {d.pick(_FAMILY)}"
    issued = f"{d.number(1, 28):02d}{d.number(1, 12):02d}{d.number(5, 24):02d}"
    # The keys of record_of, spelled as wire names: DataElement.X.value costs more than the rest
    # of this function on the simulator's hot path.
    return {
        "no_kk": f"{parts.region_code}{issued}{d.number(1, 9999):04d}",
        "nik": nik,
        "nama_lengkap": full_name,
        "jenis_kelamin": "PEREMPUAN" if female else "LAKI-LAKI",
        "tempat_lahir": d.pick(_PLACES),
        "tanggal_lahir": f"{born.day:02d}-{born.month:02d}-{born.year}",
        "pekerjaan": d.pick(_OCCUPATIONS),
        "status_kawin": d.pick(_MARITAL),
        "alamat": f"JL. {d.pick(_STREETS)} NO. {d.number(1, 120)}",
        "nama_provinsi": PROVINCES[parts.province].upper(),
        "nama_kabupaten": d.pick(_PLACES),
        "nama_kecamatan": d.pick(_PLACES),
        "nama_kelurahan": d.pick(_PLACES),
        "kode_kecamatan": parts.region_code,
        "rt": f"{d.number(1, 20):03d}",
        "rw": f"{d.number(1, 12):03d}",
        "agama": d.pick(_RELIGIONS),
        "kewarganegaraan": "WNI",
        "golongan_darah": d.pick(_BLOOD),
    }
