"""NIK (Nomor Induk Kependudukan) format rules.

16 digits: province (2) + regency/city (2) + district (2) + birth date DDMMYY, with 40 added to
DD for women + serial (4, not 0000). Validation never puts the NIK into an error message.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

from protocol.errors import NikFormatError
from protocol.regions import PROVINCES

NIK_LENGTH = 16
NIK_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})[0-9]{12}(?![0-9])")
"""A NIK-shaped run of exactly 16 digits inside a longer text; group 1 is its first four."""


class Sex(Enum):
    """Sex as encoded in the NIK's day of birth."""

    MALE = "L"  # laki-laki
    FEMALE = "P"  # perempuan


@dataclass(frozen=True, slots=True)
class NikParts:
    """The fields of a valid NIK. Holds personal data: never log or persist it."""

    province: str
    regency: str
    district: str
    birth_day: int
    birth_month: int
    birth_year_2digit: int
    sex: Sex
    serial: str

    @property
    def region_code(self) -> str:
        """Province + regency + district, six digits."""
        return self.province + self.regency + self.district

    def birth_date(self, today: dt.date) -> dt.date:
        """Birth date, placing the two-digit year in the century that is not in the future."""
        year = 2000 + self.birth_year_2digit
        if year > today.year:
            year -= 100
        return dt.date(year, self.birth_month, self.birth_day)

    def __repr__(self) -> str:
        return "NikParts(<redacted>)"


def _as_text(nik: str | bytes | bytearray) -> str:
    if isinstance(nik, bytes | bytearray):
        try:
            return nik.decode("ascii")
        except UnicodeDecodeError as err:
            raise NikFormatError("not 16 ASCII digits") from err
    return nik


def has_nik_shape(nik: str | bytes | bytearray) -> bool:
    """True if `nik` is exactly 16 ASCII digits (a bytearray is checked without making a str)."""
    if isinstance(nik, str):
        return len(nik) == NIK_LENGTH and nik.isascii() and nik.isdigit()
    return len(nik) == NIK_LENGTH and all(0x30 <= b <= 0x39 for b in nik)


def parse_nik(nik: str | bytes | bytearray) -> NikParts:
    """Split a NIK into its parts, raising NikFormatError naming the rule that failed."""
    if not has_nik_shape(nik):
        raise NikFormatError("must be exactly 16 digits")
    text = _as_text(nik)
    province, regency, district = text[0:2], text[2:4], text[4:6]
    if province not in PROVINCES:
        raise NikFormatError("unknown province code")
    if regency == "00":
        raise NikFormatError("regency/city code 00")
    if district == "00":
        raise NikFormatError("district code 00")
    day, month, year = int(text[6:8]), int(text[8:10]), int(text[10:12])
    sex = Sex.MALE
    if day > 40:
        day -= 40
        sex = Sex.FEMALE
    if not 1 <= month <= 12:
        raise NikFormatError("birth month out of range")
    # Any leap year will do for checking the day against the month: 29 Feb is checked below.
    try:
        dt.date(2000, month, day)
    except ValueError as err:
        raise NikFormatError("birth day out of range") from err
    if month == 2 and day == 29 and not _leap_in_some_century(year):
        raise NikFormatError("birth day out of range")
    serial = text[12:16]
    if serial == "0000":
        raise NikFormatError("serial 0000")
    return NikParts(province, regency, district, day, month, year, sex, serial)


def _leap_in_some_century(yy: int) -> bool:
    return any(_is_leap(century + yy) for century in (1900, 2000))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_valid_nik(nik: str | bytes | bytearray) -> bool:
    """True if the NIK follows the format."""
    try:
        parse_nik(nik)
    except NikFormatError:
        return False
    return True


def mask_nik(nik: str | bytes | bytearray) -> str:
    """A display form that keeps only the region prefix: '3304**********'."""
    text = _as_text(nik) if isinstance(nik, bytes | bytearray) else nik
    if len(text) < 4:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 4)
