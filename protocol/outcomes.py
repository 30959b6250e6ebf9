"""Outcome codes of one verification, with the texts the citizen sees.

The first ten are the Juknis answers of the Dukcapil upstream, shown as written. The rest are the
kiosk's and the platform's own. Indonesian is the default language, English the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Lang(Enum):
    """Languages of citizen-facing texts; Indonesian first."""

    ID = "id"
    EN = "en"


@dataclass(frozen=True, slots=True)
class OutcomeInfo:
    """Texts and flags of one outcome."""

    text_id: str
    text_en: str
    hint_id: str
    hint_en: str
    upstream: bool  # an answer of the Dukcapil upstream (Juknis), not the kiosk's own
    data_returned: bool  # the answer carries the permitted data elements


class Outcome(Enum):
    """Every outcome a verification can end in."""

    FOUND = "FOUND"
    FOUND_DECEASED = "FOUND_DECEASED"
    FOUND_DUPLICATE = "FOUND_DUPLICATE"
    NOT_FOUND = "NOT_FOUND"
    FOUND_INACTIVE = "FOUND_INACTIVE"
    INVALID_NIK_FORMAT = "INVALID_NIK_FORMAT"
    LOGIN_FAILED = "LOGIN_FAILED"
    QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"
    INSTITUTION_INACTIVE = "INSTITUTION_INACTIVE"
    USER_INACTIVE = "USER_INACTIVE"
    FINGER_MISMATCH = "FINGER_MISMATCH"
    CARD_UNREADABLE = "CARD_UNREADABLE"
    CARD_NOT_AUTHENTIC = "CARD_NOT_AUTHENTIC"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    DEVICE_DEACTIVATED = "DEVICE_DEACTIVATED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    PATTERN_BLOCKED = "PATTERN_BLOCKED"
    STORAGE_FAILURE = "STORAGE_FAILURE"

    # Members are singletons compared by identity: hash them by identity too, in C (Enum's own
    # __hash__ is Python code, and outcomes are looked up in sets and dicts on the gateway's
    # hot path).
    __hash__ = object.__hash__

    @property
    def info(self) -> OutcomeInfo:
        """Texts and flags of this outcome."""
        return _INFO[self]

    def text(self, lang: Lang = Lang.ID) -> str:
        """The outcome text in the given language (Indonesian by default)."""
        return self.info.text_id if lang is Lang.ID else self.info.text_en

    def hint(self, lang: Lang = Lang.ID) -> str:
        """A plain-language hint of what to do next."""
        return self.info.hint_id if lang is Lang.ID else self.info.hint_en


_DONE_ID = "Silakan ambil kartu Anda."
_DONE_EN = "Please take your card."
_ADMIN_ID = "Silakan hubungi petugas layanan."
_ADMIN_EN = "Please contact the service desk staff."
_DUKCAPIL_ID = "Silakan hubungi Dinas Dukcapil setempat."
_DUKCAPIL_EN = "Please contact your local Dukcapil office."

_INFO: dict[Outcome, OutcomeInfo] = {
    Outcome.FOUND: OutcomeInfo(
        "Data Ditemukan", "Data found", _DONE_ID, _DONE_EN, upstream=True, data_returned=True
    ),
    Outcome.FOUND_DECEASED: OutcomeInfo(
        "Data Ditemukan, Meninggal Dunia",
        "Data found, deceased",
        _DUKCAPIL_ID,
        _DUKCAPIL_EN,
        upstream=True,
        data_returned=True,
    ),
    Outcome.FOUND_DUPLICATE: OutcomeInfo(
        "Data Ditemukan, Data Ganda",
        "Data found, duplicate record",
        _DUKCAPIL_ID,
        _DUKCAPIL_EN,
        upstream=True,
        data_returned=True,
    ),
    Outcome.NOT_FOUND: OutcomeInfo(
        "Data tidak ditemukan, NIK tidak terdapat di database kependudukan",
        "Data not found, the NIK is not in the population database",
        _DUKCAPIL_ID,
        _DUKCAPIL_EN,
        upstream=True,
        data_returned=False,
    ),
    Outcome.FOUND_INACTIVE: OutcomeInfo(
        "Data Ditemukan, Status Non Aktif silahkan hubungi Dinas Dukcapil",
        "Data found, status inactive, please contact the Dukcapil office",
        "Bawa KTP-el Anda saat datang ke sana.",  # the text already says whom to contact
        "Bring your KTP-el when you go there.",
        upstream=True,
        data_returned=True,
    ),
    Outcome.INVALID_NIK_FORMAT: OutcomeInfo(
        "Data tidak ditemukan, NIK tidak sesuai format Dukcapil",
        "Data not found, the NIK does not follow the Dukcapil format",
        _DUKCAPIL_ID,
        _DUKCAPIL_EN,
        upstream=True,
        data_returned=False,
    ),
    Outcome.LOGIN_FAILED: OutcomeInfo(
        "Gagal Login", "Login failed", _ADMIN_ID, _ADMIN_EN, upstream=True, data_returned=False
    ),
    Outcome.QUOTA_EXHAUSTED: OutcomeInfo(
        "Kuota akses hari ini telah habis",
        "Today's access quota has been used up",
        "Silakan coba lagi besok.",
        "Please try again tomorrow.",
        upstream=True,
        data_returned=False,
    ),
    Outcome.INSTITUTION_INACTIVE: OutcomeInfo(
        "Instansi tidak aktif",
        "Institution inactive",
        _ADMIN_ID,
        _ADMIN_EN,
        upstream=True,
        data_returned=False,
    ),
    Outcome.USER_INACTIVE: OutcomeInfo(
        "User ID non aktif, silahkan menghubungi Admin",
        "User ID inactive, please contact the administrator",
        "Ini bukan kesalahan Anda; petugas layanan dapat membantu.",  # the text says whom to call
        "This is not your doing; the service desk staff can help.",
        upstream=True,
        data_returned=False,
    ),
    Outcome.FINGER_MISMATCH: OutcomeInfo(
        "Sidik jari tidak cocok",
        "Fingerprint does not match",
        "Kesempatan mencoba sidik jari sudah habis.",  # the page adds the next step and reasons
        "No fingerprint tries are left.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.CARD_UNREADABLE: OutcomeInfo(
        "Kartu tidak dapat dibaca",
        "The card cannot be read",
        "Cabut kartu, bersihkan chipnya, lalu masukkan lagi.",
        "Remove the card, clean its chip, and insert it again.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.CARD_NOT_AUTHENTIC: OutcomeInfo(
        "Kartu tidak asli",
        "The card is not authentic",
        _DUKCAPIL_ID,
        _DUKCAPIL_EN,
        upstream=False,
        data_returned=False,
    ),
    Outcome.TIMEOUT: OutcomeInfo(
        "Waktu habis",
        "Time is up",
        "Silakan mulai lagi dengan memasukkan kartu.",
        "Please start again by inserting your card.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.CANCELLED: OutcomeInfo(
        "Dibatalkan",
        "Cancelled",
        "Silakan mulai lagi dengan memasukkan kartu.",
        "Please start again by inserting your card.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.DEVICE_DEACTIVATED: OutcomeInfo(
        "Kios ini tidak aktif",
        "This kiosk is deactivated",
        "Silakan gunakan kios atau loket lain.",
        "Please use another kiosk or service desk.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.SERVICE_UNAVAILABLE: OutcomeInfo(
        "Layanan sedang tidak tersedia",
        "The service is unavailable",
        "Silakan coba lagi beberapa saat lagi.",
        "Please try again in a few moments.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.STORAGE_FAILURE: OutcomeInfo(
        "Kios tidak dapat mencatat layanan saat ini",
        "The kiosk cannot record the service right now",
        "Silakan gunakan kios atau loket lain; petugas sudah diberi tahu.",
        "Please use another kiosk or service desk; the staff have been alerted.",
        upstream=False,
        data_returned=False,
    ),
    Outcome.PATTERN_BLOCKED: OutcomeInfo(
        "Permintaan ditolak oleh sistem keamanan",
        "Request refused by the security system",
        _ADMIN_ID,
        _ADMIN_EN,
        upstream=False,
        data_returned=False,
    ),
}
