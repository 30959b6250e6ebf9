"""What a virtual KTP-el card holds for a persona: its serial and its elementary files.

A fault that damages the data (truncated or inconsistent TLV, a template file of the wrong
length) is built into the files here; faults of behaviour are the card's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from hardware.card import ktpel, tlv
from hardware.card.reader import Finger, IdentityField
from protocol.nik import Sex
from simulators.card.faults import CardFault, FaultKind
from simulators.personas import Persona


@dataclass(frozen=True)
class CardFile:
    """A transparent elementary file and the size its FCP declares."""

    content: bytes
    declared_size: int


def identity_values(p: Persona) -> dict[IdentityField, bytes]:
    """The identity fields as the card stores them (UTF-8), in IdentityField order."""
    sex = "LAKI-LAKI" if p.sex is Sex.MALE else "PEREMPUAN"
    text = {
        IdentityField.NIK: p.nik,
        IdentityField.KK_NUMBER: p.kk_number,
        IdentityField.FULL_NAME: p.full_name,
        IdentityField.SEX: sex,
        IdentityField.BIRTH_PLACE: p.birth_place,
        IdentityField.BIRTH_DATE: p.birth_date.strftime("%d-%m-%Y"),
        IdentityField.RELIGION: p.religion,
        IdentityField.MARITAL_STATUS: p.marital_status,
        IdentityField.OCCUPATION: p.occupation,
        IdentityField.NATIONALITY: p.nationality,
        IdentityField.ADDRESS: p.address,
        IdentityField.RT: p.rt,
        IdentityField.RW: p.rw,
        IdentityField.VILLAGE: p.village,
        IdentityField.DISTRICT: p.district,
        IdentityField.REGENCY: p.regency,
        IdentityField.PROVINCE: p.province,
        IdentityField.VALID_UNTIL: p.valid_until,
    }
    return {field: text[field].encode() for field in IdentityField}


def build_identity_file(values: Mapping[IdentityField, bytes]) -> bytes:
    """7F70 { 80 NIK, 81 KK number, ... 91 valid until }."""
    fields = [tlv.build(ktpel.IDENTITY_TAGS[f], v) for f, v in values.items()]
    return tlv.build_constructed(ktpel.TAG_IDENTITY, fields)


def build_template_file(template: bytes, finger: Finger) -> bytes:
    """7F60 { 83 finger position, 5F2E template }."""
    position = tlv.build(ktpel.TAG_FINGER_POSITION, bytes((ktpel.FINGER_POSITION[finger],)))
    return tlv.build_constructed(
        ktpel.TAG_BIOMETRIC, [position, tlv.build(ktpel.TAG_TEMPLATE, template)]
    )


def fcp(fid: int, size: int) -> bytes:
    """The file control parameters SELECT answers with: size, descriptor, file id."""
    return tlv.build_constructed(
        ktpel.TAG_FCP,
        [
            tlv.build(ktpel.TAG_FILE_SIZE, size.to_bytes(2, "big")),
            tlv.build(0x82, b"\x01"),  # file descriptor: working EF, transparent
            tlv.build(ktpel.TAG_FILE_ID, fid.to_bytes(2, "big")),
        ],
    )


def serial_for(key: str) -> bytes:
    """The chip serial of a persona's card (deterministic)."""
    return hashlib.sha256(b"ktpel-serial/" + key.encode()).digest()[: ktpel.SERIAL_SIZE]


def personalise(who: Persona, fault: CardFault | None = None) -> dict[int, CardFile]:
    """The card's files by file id, damaged as `fault` says."""
    kind = fault.kind if fault is not None else None
    identity = build_identity_file(identity_values(who))
    id_file = CardFile(identity, len(identity))
    if kind is FaultKind.TRUNCATED_TLV:
        cut = identity[:-5]
        id_file = CardFile(cut, len(cut))
    elif kind is FaultKind.INCONSISTENT_TLV:
        header = tlv.encode_tag(ktpel.TAG_IDENTITY)
        _, body_start = tlv.read_length(memoryview(identity), len(header))
        body = identity[body_start:]
        bad = header + tlv.encode_length(len(body) - 3) + body
        id_file = CardFile(bad, len(bad))
    files = {ktpel.EF_IDENTITY: id_file}
    for finger, fid in ktpel.EF_TEMPLATE.items():
        content = build_template_file(who.template(finger), finger)
        file = CardFile(content, len(content))
        if fault is not None and kind is FaultKind.WRONG_LENGTH and finger is Finger.RIGHT_INDEX:
            delta = fault.delta
            if delta < 0:
                file = CardFile(content[:delta], len(content))  # shorter than its FCP says
            else:
                longer = content + b"\xff" * delta  # longer than its TLV says
                file = CardFile(longer, len(longer))
        files[fid] = file
    return files
