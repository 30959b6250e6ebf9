import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import NikFormatError
from protocol.nik import Sex, is_valid_nik, mask_nik, parse_nik
from simulators.personas import PERSONAS

FULLWIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}


def test_male_nik_parts() -> None:
    parts = parse_nik("3313061704870002")
    assert parts.region_code == "331306"
    assert (parts.birth_day, parts.birth_month, parts.birth_year_2digit) == (17, 4, 87)
    assert parts.sex is Sex.MALE
    assert parts.serial == "0002"
    assert parts.birth_date(dt.date(2026, 1, 1)) == dt.date(1987, 4, 17)


def test_female_day_has_forty_added() -> None:
    parts = parse_nik("3304014508920003")
    assert parts.sex is Sex.FEMALE
    assert parts.birth_day == 5


def test_two_digit_year_never_in_the_future() -> None:
    parts = parse_nik("3304046612010006")
    assert parts.birth_date(dt.date(2026, 11, 23)) == dt.date(2001, 12, 26)
    assert parse_nik("1218022306410001").birth_date(dt.date(2026, 1, 1)).year == 1941


def test_bytes_and_bytearray_accepted() -> None:
    assert parse_nik(bytearray(b"3313061704870002")).serial == "0002"


@pytest.mark.parametrize(
    ("nik", "rule"),
    [
        ("331306170487000", "16 digits"),
        ("33130617048700021", "16 digits"),
        ("33130617048700O2", "16 digits"),
        ("3313061704870002".translate(FULLWIDTH), "16 digits"),
        ("9913061704870002", "province"),
        ("3300061704870002", "regency"),
        ("3313001704870002", "district"),
        ("3313060004870002", "day"),
        ("3313063204870002", "day"),
        ("3313067204870002", "day"),
        ("3313061713870002", "month"),
        ("3313063102870002", "day"),
        ("3313061704870000", "serial"),
    ],
)
def test_invalid_niks_name_the_rule_not_the_nik(nik: str, rule: str) -> None:
    with pytest.raises(NikFormatError) as info:
        parse_nik(nik)
    assert rule in str(info.value)
    assert nik not in str(info.value)
    assert not is_valid_nik(nik)


def test_leap_day() -> None:
    assert is_valid_nik("3313062902000002")  # 2000 is a leap year
    assert not is_valid_nik("3313062902010002")  # neither 1901 nor 2001 is


def test_personas_have_valid_niks_except_the_format_case() -> None:
    invalid = {key for key, p in PERSONAS.items() if not is_valid_nik(p.nik)}
    assert invalid == {"joko"}
    for p in PERSONAS.values():
        if p.key != "joko":
            assert parse_nik(p.nik).sex is p.sex


def test_mask() -> None:
    assert mask_nik("3313061704870002") == "3313************"
    assert mask_nik("12") == "**"


@given(st.text(max_size=40) | st.binary(max_size=40))
def test_any_input_valid_or_domain_error(value: str | bytes) -> None:
    try:
        parse_nik(value)
    except NikFormatError as err:
        assert str(value) not in str(err) or len(str(value)) < 3
