import pytest

from protocol.elements import DataElement, parse_elements
from protocol.outcomes import Lang, Outcome

JUKNIS = {
    "FOUND": "Data Ditemukan",
    "FOUND_DECEASED": "Data Ditemukan, Meninggal Dunia",
    "FOUND_DUPLICATE": "Data Ditemukan, Data Ganda",
    "NOT_FOUND": "Data tidak ditemukan, NIK tidak terdapat di database kependudukan",
    "FOUND_INACTIVE": "Data Ditemukan, Status Non Aktif silahkan hubungi Dinas Dukcapil",
    "INVALID_NIK_FORMAT": "Data tidak ditemukan, NIK tidak sesuai format Dukcapil",
    "LOGIN_FAILED": "Gagal Login",
    "QUOTA_EXHAUSTED": "Kuota akses hari ini telah habis",
    "INSTITUTION_INACTIVE": "Instansi tidak aktif",
    "USER_INACTIVE": "User ID non aktif, silahkan menghubungi Admin",
}


@pytest.mark.parametrize(("code", "text"), JUKNIS.items())
def test_juknis_texts_as_written(code: str, text: str) -> None:
    outcome = Outcome(code)
    assert outcome.text() == text
    assert outcome.text(Lang.ID) == text
    assert outcome.info.upstream


def test_every_outcome_has_both_languages_and_hints() -> None:
    for outcome in Outcome:
        for lang in Lang:
            assert outcome.text(lang)
            assert outcome.hint(lang)
        assert outcome.text(Lang.EN) != outcome.text(Lang.ID)


def test_kiosk_side_outcomes_present() -> None:
    own = {o.value for o in Outcome if not o.info.upstream}
    assert own == {
        "FINGER_MISMATCH",
        "CARD_UNREADABLE",
        "CARD_NOT_AUTHENTIC",
        "TIMEOUT",
        "CANCELLED",
        "DEVICE_DEACTIVATED",
        "SERVICE_UNAVAILABLE",
        "PATTERN_BLOCKED",
        "STORAGE_FAILURE",
    }


def test_parse_elements() -> None:
    assert parse_elements(["nik", "nama_lengkap"]) == {DataElement.NIK, DataElement.FULL_NAME}
    with pytest.raises(ValueError, match="unknown data element 'agama'"):
        parse_elements(["agama"])
