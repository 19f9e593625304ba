"""What people type becomes comparable: ИНН checked, phones in E.164, domains, names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otdel.clients.normalize import (
    ValidationFailure,
    clean_inn,
    domain_of_email,
    domain_of_website,
    normalize_name,
    normalize_phone,
)
from tests.factories import valid_inn


def test_wrong_inn_check_digit_is_refused_with_a_message_that_says_so():
    good = valid_inn(42)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(ValidationFailure) as err:
        clean_inn(bad)
    assert "ИНН" in str(err.value) and bad in str(err.value)


def test_inn_of_wrong_length_is_refused():
    with pytest.raises(ValidationFailure):
        clean_inn("12345")


@given(st.integers(min_value=0, max_value=10**6))
def test_every_generated_inn_passes_the_checksum(seed):
    assert clean_inn(valid_inn(seed)) == valid_inn(seed)


@pytest.mark.parametrize(
    "typed",
    ["+7 (495) 123-45-67", "8 495 123 45 67", "74951234567", "8(495)1234567 доб. 123"],
)
def test_russian_phone_prefixes_give_one_number(typed):
    assert normalize_phone(typed) == "+74951234567"


def test_not_a_phone_is_refused():
    with pytest.raises(ValidationFailure):
        normalize_phone("позвонить завтра")


def test_public_mail_domains_say_nothing_about_the_company():
    assert domain_of_email("ivan@mail.ru") == ""
    assert domain_of_email("ivan@GMAIL.com") == ""
    assert domain_of_email("ivan@stroymash.ru") == "stroymash.ru"
    assert domain_of_website("https://www.StroyMash.ru/contacts") == "stroymash.ru"


def test_company_names_match_without_legal_form_and_quotes():
    assert normalize_name("ООО «Строймаш»") == normalize_name('"СТРОЙМАШ" ооо')
    assert normalize_name("АО Ёлка") == normalize_name("ао елка")
