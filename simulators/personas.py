"""Synthetic citizens. Invented names; real region codes; valid NIKs unless said otherwise.

These records are the only place where the canary personal data of the simulations lives: the
virtual KTP-el cards are made from them and the Dukcapil simulator's population is made from them.
Privacy scans grep every file a run wrote for their NIKs and names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import Enum

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
    nationality: str
    address: str
    rt: str
    rw: str
    village: str
    district: str
    regency: str
    province: str
    valid_until: str
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


_P = [
    Persona(
        key="ayu",
        nik="3304014508920003",
        kk_number="3304010101180011",
        full_name="AYUNINGSIH PRAMESWARI KARTAWIJAYA",
        sex=Sex.FEMALE,
        birth_place="BANJARNEGARA",
        birth_date=dt.date(1992, 8, 5),
        religion="ISLAM",
        marital_status="KAWIN",
        occupation="GURU",
        nationality="WNI",
        address="JL. SERAYU TIMUR GG. MELATI NO. 17",
        rt="003",
        rw="005",
        village="KALIWUNGU",
        district="SUSUKAN",
        regency="BANJARNEGARA",
        province="JAWA TENGAH",
        valid_until="SEUMUR HIDUP",
    ),
    Persona(
        key="bagas",
        nik="3313061704870002",
        kk_number="3313060202150007",
        full_name="BAGASWARA TIRTONEGORO SUMARLIN",
        sex=Sex.MALE,
        birth_place="KARANGANYAR",
        birth_date=dt.date(1987, 4, 17),
        religion="KRISTEN",
        marital_status="BELUM KAWIN",
        occupation="WIRASWASTA",
        nationality="WNI",
        address="DUSUN NGARGOYOSO KIDUL",
        rt="002",
        rw="001",
        village="NGARGOYOSO",
        district="NGARGOYOSO",
        regency="KARANGANYAR",
        province="JAWA TENGAH",
        valid_until="SEUMUR HIDUP",
    ),
    Persona(
        key="darmo",
        nik="1218022306410001",
        kk_number="1218020303090004",
        full_name="DARMOSUWITO HARJOPRANOTO",
        sex=Sex.MALE,
        birth_place="SEI RAMPAH",
        birth_date=dt.date(1941, 6, 23),
        religion="ISLAM",
        marital_status="CERAI MATI",
        occupation="PENSIUNAN",
        nationality="WNI",
        address="JL. LINTAS SUMATERA KM 54",
        rt="001",
        rw="004",
        village="SEI RAMPAH",
        district="SEI RAMPAH",
        regency="SERDANG BEDAGAI",
        province="SUMATERA UTARA",
        valid_until="SEUMUR HIDUP",
        status=RecordStatus.DECEASED,
    ),
    Persona(
        key="gandari",
        nik="1971035911990004",
        kk_number="1971031010200002",
        full_name="GANDARIWATI SEKARLANGIT OEI",
        sex=Sex.FEMALE,
        birth_place="PANGKALPINANG",
        birth_date=dt.date(1999, 11, 19),
        religion="BUDDHA",
        marital_status="BELUM KAWIN",
        occupation="PELAJAR/MAHASISWA",
        nationality="WNI",
        address="JL. DEPATI HAMZAH BLOK C NO. 8",
        rt="007",
        rw="002",
        village="BACANG",
        district="BUKIT INTAN",
        regency="KOTA PANGKALPINANG",
        province="KEPULAUAN BANGKA BELITUNG",
        valid_until="SEUMUR HIDUP",
        status=RecordStatus.DUPLICATE,
    ),
    Persona(
        key="hendrikus",
        nik="6171050112780005",
        kk_number="6171052708110003",
        full_name="HENDRIKUS ASANG LIMBUNAN",
        sex=Sex.MALE,
        birth_place="PUTUSSIBAU",
        birth_date=dt.date(1978, 12, 1),
        religion="KATOLIK",
        marital_status="KAWIN",
        occupation="NELAYAN/PERIKANAN",
        nationality="WNI",
        address="JL. TANJUNG RAYA II GG. SEPAKAT",
        rt="004",
        rw="011",
        village="SAIGON",
        district="PONTIANAK TIMUR",
        regency="KOTA PONTIANAK",
        province="KALIMANTAN BARAT",
        valid_until="SEUMUR HIDUP",
        status=RecordStatus.INACTIVE,
    ),
    Persona(
        key="intan",
        nik="3304046612010006",
        kk_number="3304041512190009",
        full_name="INTANSARI WIDYANINGRUM PUSPAKENCANA",
        sex=Sex.FEMALE,
        birth_place="BANJARNEGARA",
        birth_date=dt.date(2001, 12, 26),
        religion="ISLAM",
        marital_status="BELUM KAWIN",
        occupation="KARYAWAN SWASTA",
        nationality="WNI",
        address="DESA GUMIWANG RT 02",
        rt="002",
        rw="003",
        village="GUMIWANG",
        district="PURWANEGARA",
        regency="BANJARNEGARA",
        province="JAWA TENGAH",
        valid_until="SEUMUR HIDUP",
        status=RecordStatus.ABSENT,
    ),
    Persona(
        key="joko",
        # Serial 0000: a card whose NIK does not follow the format (INVALID_NIK_FORMAT upstream).
        nik="3313070309850000",
        kk_number="3313071111160001",
        full_name="JOKOLELONO SASTRAWIRYAN",
        sex=Sex.MALE,
        birth_place="KARANGANYAR",
        birth_date=dt.date(1985, 9, 3),
        religion="HINDU",
        marital_status="KAWIN",
        occupation="PETANI/PEKEBUN",
        nationality="WNI",
        address="DUSUN TAWANGMANGU WETAN",
        rt="001",
        rw="002",
        village="TAWANGMANGU",
        district="TAWANGMANGU",
        regency="KARANGANYAR",
        province="JAWA TENGAH",
        valid_until="SEUMUR HIDUP",
    ),
]

PERSONAS: dict[str, Persona] = {p.key: p for p in _P}


def persona(key: str) -> Persona:
    """The persona named by key, with a KeyError listing the known keys."""
    try:
        return PERSONAS[key]
    except KeyError:
        raise KeyError(f"unknown persona {key!r}; known: {', '.join(PERSONAS)}") from None
