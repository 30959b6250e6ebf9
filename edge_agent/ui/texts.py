"""Every fixed text of the kiosk page, Indonesian first, English second.

The page receives them inside its HTML; the spoken prompts (`voice`) are made from the same texts.
The outcome texts themselves are protocol.outcomes' (the Juknis answers, shown as written).
"""

from __future__ import annotations

import json
from typing import Final

from protocol.elements import DataElement

PAGE: Final[dict[str, tuple[str, str]]] = {
    "brand": ("Verifikasi KTP-el", "KTP-el verification"),
    "lang_button": ("English", "Bahasa Indonesia"),
    "voice_on": ("Suara: hidup", "Voice: on"),
    "voice_off": ("Suara: mati", "Voice: off"),
    "kiosk": ("Kios", "Kiosk"),
    "help": ("Bantuan", "Help"),
    "help_default": ("petugas di loket layanan", "the staff at the service desk"),
    "countdown": ("Sisa waktu: {n} detik", "Time left: {n} seconds"),
    "connecting.title": ("Menyiapkan kios…", "Preparing the kiosk…"),
    "connecting.hint": ("Mohon tunggu sebentar.", "Please wait a moment."),
    "idle.title": (
        "Masukkan KTP-el Anda ke pembaca kartu",
        "Insert your KTP-el into the card reader",
    ),
    "idle.hint": (
        "Chip kartu menghadap ke atas dan masuk lebih dulu.",
        "Chip facing up, chip end first.",
    ),
    "idle.ready": (
        "Terima kasih. Kios siap untuk warga berikutnya.",
        "Thank you. The kiosk is ready for the next citizen.",
    ),
    "idle.take_title": ("Silakan ambil kartu Anda", "Please take your card"),
    "idle.take_hint": (
        "Data Anda sudah dihapus dari layar. Tidak ada yang disimpan.",
        "Your data has been cleared from the screen. Nothing is kept.",
    ),
    "notice.title": ("Pemberitahuan privasi", "Privacy notice"),
    "notice.read": (
        "Yang dibaca: data identitas dan sidik jari di chip KTP-el Anda, untuk dicocokkan "
        "dengan jari Anda dan diperiksa ke database kependudukan Dukcapil.",
        "What is read: the identity data and fingerprints on your KTP-el chip, to match your "
        "finger and to check with the Dukcapil population database.",
    ),
    "notice.kept": (
        "Tidak ada yang disimpan: data Anda dihapus dari kios begitu kartu dicabut.",
        "Nothing is kept: your data is erased from the kiosk when you take your card out.",
    ),
    "notice.basis": (
        "Dasar hukum: Perjanjian Kerja Sama (PKS) dengan Dukcapil dan UU No. 27 Tahun 2022 "
        "tentang Pelindungan Data Pribadi.",
        "Legal basis: the cooperation agreement (PKS) with Dukcapil and Law No. 27 of 2022 on "
        "Personal Data Protection.",
    ),
    "notice.accept": ("Setuju, lanjutkan", "I agree, continue"),
    "notice.speak": (
        "Sebelum kartu dibaca, baca pemberitahuan privasi di layar, lalu sentuh Setuju.",
        "Before your card is read, read the privacy notice on the screen, then touch I agree.",
    ),
    "reading.title": ("Membaca kartu…", "Reading the card…"),
    "reading.hint": ("Jangan cabut kartu Anda.", "Do not remove your card."),
    "finger.right_index": (
        "Letakkan jari telunjuk kanan pada sensor",
        "Place your right index finger on the sensor",
    ),
    "finger.left_index": (
        "Letakkan jari telunjuk kiri pada sensor",
        "Place your left index finger on the sensor",
    ),
    "finger.hint": (
        "Tempelkan jari dengan lembut dan tahan sampai selesai.",
        "Press gently and hold until it is done.",
    ),
    "finger.mismatch": (
        "Sidik jari tidak cocok. Silakan coba lagi.",
        "The fingerprint does not match. Please try again.",
    ),
    "finger.poor_image": (
        "Sidik jari kurang jelas. Bersihkan jari Anda dan kaca sensor, lalu coba lagi.",
        "The fingerprint is not clear. Clean your finger and the sensor glass, then try again.",
    ),
    "finger.tries_left": ("Sisa percobaan: {n}", "Tries left: {n}"),
    "finger.use.right_index": ("Pakai telunjuk kanan", "Use right index finger"),
    "finger.use.left_index": ("Pakai telunjuk kiri", "Use left index finger"),
    "cancel": ("Batal", "Cancel"),
    "querying.title": ("Memeriksa data…", "Checking your data…"),
    "querying.hint": (
        "Mohon tunggu, jangan cabut kartu.",
        "Please wait, do not remove your card.",
    ),
    "done": ("Selesai", "Done"),
    "result.closing": ("Layar ini ditutup dalam {n} detik.", "This screen closes in {n} seconds."),
    "result.masked": (
        "Data disembunyikan. Tahan tombol untuk melihatnya.",
        "The data is hidden. Hold the button to see it.",
    ),
    "result.reveal": ("Tahan untuk melihat data", "Hold to see the data"),
    "failed.next": (
        "Langkah berikutnya: minta bantuan petugas di loket layanan. Petugas dapat memeriksa "
        "identitas Anda secara langsung.",
        "Next step: ask the staff at the service desk for help. They can check your identity "
        "in person.",
    ),
    "failed.reasons": ("Penyebab yang sering terjadi:", "Common causes:"),
    "failed.reason.worn": (
        "Sidik jari aus atau tipis, misalnya karena usia atau kerja tangan.",
        "Worn or faint fingerprints, for example from age or manual work.",
    ),
    "failed.reason.finger": (
        "Jari terluka, kering, basah, atau kotor.",
        "A finger that is injured, dry, wet or dirty.",
    ),
    "failed.reason.glass": ("Kaca sensor kotor.", "A dirty sensor glass."),
    "failed.reason.place": (
        "Jari tidak menempel rata di tengah sensor.",
        "The finger not lying flat in the middle of the sensor.",
    ),
    "failed.glass": (
        "Gambar sidik jari kurang jelas: bersihkan kaca sensor dengan kain kering.",
        "The fingerprint image was not clear: wipe the sensor glass with a dry cloth.",
    ),
    "family.found": ("Ditemukan", "Found"),
    "family.caveat": ("Ditemukan, dengan catatan", "Found, with a caveat"),
    "family.not_found": ("Tidak ditemukan", "Not found"),
    "family.refused": ("Ditolak", "Refused"),
    "family.fault": ("Gangguan", "Fault"),
}

ELEMENT_LABELS: Final[dict[DataElement, tuple[str, str]]] = {
    DataElement.KK_NUMBER: ("Nomor KK", "Family card number"),
    DataElement.NIK: ("NIK", "NIK"),
    DataElement.FULL_NAME: ("Nama lengkap", "Full name"),
    DataElement.SEX: ("Jenis kelamin", "Sex"),
    DataElement.BIRTH_PLACE: ("Tempat lahir", "Place of birth"),
    DataElement.BIRTH_DATE: ("Tanggal lahir", "Date of birth"),
    DataElement.OCCUPATION: ("Pekerjaan", "Occupation"),
    DataElement.MARITAL_STATUS: ("Status perkawinan", "Marital status"),
    DataElement.ADDRESS: ("Alamat", "Address"),
    DataElement.PROVINCE_NAME: ("Provinsi", "Province"),
    DataElement.REGENCY_NAME: ("Kabupaten/Kota", "Regency/City"),
    DataElement.DISTRICT_NAME: ("Kecamatan", "District"),
    DataElement.VILLAGE_NAME: ("Kelurahan/Desa", "Village"),
    DataElement.DISTRICT_CODE: ("Kode kecamatan", "District code"),
    DataElement.RT: ("RT", "RT"),
    DataElement.RW: ("RW", "RW"),
}


def text(key: str, lang: str = "id") -> str:
    """One page text in `lang` ("id" or "en")."""
    pair = PAGE[key]
    return pair[1] if lang == "en" else pair[0]


def page_json() -> str:
    """The texts as the page reads them, safe inside a <script type="application/json">."""
    doc = {
        "id": {k: v[0] for k, v in PAGE.items()},
        "en": {k: v[1] for k, v in PAGE.items()},
        "elements": {e.value: list(v) for e, v in ELEMENT_LABELS.items()},
    }
    return json.dumps(doc, ensure_ascii=False).replace("<", "\\u003c")
