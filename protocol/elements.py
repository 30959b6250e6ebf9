"""Data elements an institution may receive, as its PKS (cooperation agreement) lists them."""

from __future__ import annotations

from enum import Enum


class DataElement(Enum):
    """One data element of the population record. Values are the wire names."""

    KK_NUMBER = "no_kk"
    NIK = "nik"
    FULL_NAME = "nama_lengkap"
    SEX = "jenis_kelamin"
    BIRTH_PLACE = "tempat_lahir"
    BIRTH_DATE = "tanggal_lahir"
    OCCUPATION = "pekerjaan"
    MARITAL_STATUS = "status_kawin"
    ADDRESS = "alamat"
    PROVINCE_NAME = "nama_provinsi"
    REGENCY_NAME = "nama_kabupaten"
    DISTRICT_NAME = "nama_kecamatan"
    VILLAGE_NAME = "nama_kelurahan"
    DISTRICT_CODE = "kode_kecamatan"
    RT = "rt"
    RW = "rw"


def parse_elements(names: list[str] | tuple[str, ...]) -> frozenset[DataElement]:
    """Turn wire names into elements, raising ValueError naming the first unknown one."""
    known = {e.value: e for e in DataElement}
    out = set()
    for name in names:
        if name not in known:
            raise ValueError(f"unknown data element {name!r}; known: {', '.join(sorted(known))}")
        out.add(known[name])
    return frozenset(out)
