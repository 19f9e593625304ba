"""Normalising what people type: ИНН/КПП/ОГРН, phones, e-mails, web sites, company names."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import phonenumbers
from django.utils.translation import gettext as _
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.ru import inn as stdnum_inn
from stdnum.ru import ogrn as stdnum_ogrn

# Mail services used by people, not companies: their domain says nothing about the client.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "internet.ru",
        "yandex.ru",
        "ya.ru",
        "yandex.com",
        "yandex.by",
        "yandex.kz",
        "narod.ru",
        "rambler.ru",
        "lenta.ru",
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "yahoo.com",
        "proton.me",
        "protonmail.com",
        "aol.com",
        "qip.ru",
        "e1.ru",
        "ngs.ru",
        "mail.com",
        "gmx.com",
    }
)

_LEGAL_FORMS = (
    "общество с ограниченной ответственностью",
    "публичное акционерное общество",
    "закрытое акционерное общество",
    "открытое акционерное общество",
    "акционерное общество",
    "индивидуальный предприниматель",
    "ооо",
    "оао",
    "зао",
    "пао",
    "ао",
    "ип",
    "нао",
    "фгуп",
    "гуп",
    "муп",
    " llc",
    "ltd",
    "jsc",
    "inc",
    "гк",
    "группа компаний",
    "тд",
    "торговый дом",
)
_FORMS_RE = re.compile(r"\b(" + "|".join(re.escape(f) for f in _LEGAL_FORMS) + r")\b")


class ValidationFailure(ValueError):
    """A value failed validation; the message is for the person who typed it."""


def clean_inn(value: str) -> str:
    """Return a valid ИНН (10 digits for a company, 12 for a sole trader) or raise."""
    digits = re.sub(r"\s", "", value or "")
    if not digits:
        raise ValidationFailure(_("ИНН is empty"))
    try:
        return str(stdnum_inn.validate(digits))
    except InvalidChecksum:
        raise ValidationFailure(
            _("ИНН %(value)s is wrong: the check digit does not match") % {"value": digits}
        ) from None
    except (InvalidLength, InvalidFormat, InvalidComponent):
        raise ValidationFailure(
            _("ИНН %(value)s is wrong: it must be 10 or 12 digits") % {"value": digits}
        ) from None


def clean_kpp(value: str) -> str:
    """Return a valid КПП (9 characters: 4 digits, 2 digits or letters, 3 digits) or raise."""
    kpp = re.sub(r"\s", "", value or "").upper()
    if not kpp:
        return ""
    if not re.fullmatch(r"\d{4}[\dA-Z]{2}\d{3}", kpp):
        raise ValidationFailure(
            _("КПП %(value)s is wrong: it must be 9 characters") % {"value": kpp}
        )
    return kpp


def clean_ogrn(value: str) -> str:
    """Return a valid ОГРН (13 digits) or ОГРНИП (15 digits) or raise."""
    digits = re.sub(r"\s", "", value or "")
    if not digits:
        return ""
    try:
        return str(stdnum_ogrn.validate(digits))
    except InvalidChecksum:
        raise ValidationFailure(
            _("ОГРН %(value)s is wrong: the check digit does not match") % {"value": digits}
        ) from None
    except (InvalidLength, InvalidFormat, InvalidComponent):
        raise ValidationFailure(
            _("ОГРН %(value)s is wrong: it must be 13 or 15 digits") % {"value": digits}
        ) from None


def normalize_phone(value: str, region: str = "RU") -> str:
    """Return a phone in E.164 (+7…); Russian 8… and 7… prefixes are understood."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationFailure(_("the phone number is empty"))
    # An extension after "доб." / "ext" is not part of the number we match on.
    raw = re.split(r"(?i)\s*(?:доб\.?|ext\.?|x)\s*\d+\s*$", raw)[0]
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits[0] == "8" and not raw.startswith("+"):
        raw = "+7" + digits[1:]
    elif len(digits) == 11 and digits[0] == "7" and not raw.startswith("+"):
        raw = "+" + digits
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationFailure(_("%(value)s is not a phone number") % {"value": value}) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailure(_("%(value)s is not a valid phone number") % {"value": value})
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def format_phone(e164: str) -> str:
    """Show a stored E.164 phone the way people read it: +7 495 123-45-67."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def clean_email(value: str) -> str:
    """Return a lower-cased e-mail address or raise."""
    email = (value or "").strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ValidationFailure(_("%(value)s is not an e-mail address") % {"value": value})
    return email


def domain_of_email(email: str) -> str:
    """The company domain of an e-mail, or '' for public mail services."""
    domain = email.rsplit("@", 1)[-1].lower().strip(".")
    return "" if domain in PUBLIC_MAIL_DOMAINS else domain


def domain_of_website(url: str) -> str:
    """The bare domain of a web site: 'https://www.Example.ru/x' → 'example.ru'."""
    text = (url or "").strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "http://" + text
    host = urlsplit(text).hostname or ""
    if host.startswith("www."):
        host = host[4:]
    return "" if host in PUBLIC_MAIL_DOMAINS else host


def normalize_name(name: str) -> str:
    """A company name reduced for matching: no legal form, quotes, punctuation or case."""
    text = (name or "").lower().replace("ё", "е")
    text = re.sub(r"[«»\"'“”„`]", " ", text)
    text = _FORMS_RE.sub(" ", text)
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()
