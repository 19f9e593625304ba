"""Which column of the file holds which field: guessed from the headers, confirmed by a person."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from otdel.core.errors import Invalid

# The fields a column can hold, with their labels for the mapping form.
FIELDS: dict[str, object] = {
    "name": gettext_lazy("Company name"),
    "legal_name": gettext_lazy("Legal name"),
    "inn": gettext_lazy("ИНН"),
    "kpp": gettext_lazy("КПП"),
    "ogrn": gettext_lazy("ОГРН"),
    "address": gettext_lazy("Legal address"),
    "website": gettext_lazy("Web site"),
    "region": gettext_lazy("Region"),
    "industry": gettext_lazy("Industry"),
    "notes": gettext_lazy("Notes"),
    "contact_name": gettext_lazy("Contact person"),
    "position": gettext_lazy("Position"),
    "decision_maker": gettext_lazy("Decision maker (ЛПР)"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("E-mail"),
    "owner": gettext_lazy("Owner (manager)"),
}
# Fields that may be mapped from several columns (their values are joined).
MULTI_FIELDS = frozenset({"phone", "email", "notes"})

# Headers people write, reduced by _key(): lower case, ё→е, letters and digits only.
_KNOWN: dict[str, str] = {}
for _field, _headers in {
    "name": (
        "название",
        "наименование",
        "компания",
        "клиент",
        "организация",
        "названиекомпании",
        "наименованиеклиента",
        "name",
        "company",
        "companyname",
        "client",
        "organization",
        "organisation",
    ),
    "legal_name": ("юрлицо", "юридическоелицо", "полноенаименование", "legalname"),
    "inn": ("инн", "inn", "taxid", "иннорганизации", "иннклиента"),
    "kpp": ("кпп", "kpp"),
    "ogrn": ("огрн", "огрнип", "ogrn"),
    "address": ("адрес", "юридическийадрес", "юрадрес", "address", "legaladdress"),
    "website": ("сайт", "вебсайт", "website", "site", "web", "url", "www"),
    "region": ("регион", "область", "город", "region", "city"),
    "industry": ("отрасль", "сфера", "сфера деятельности", "industry", "sector"),
    "notes": ("примечание", "примечания", "комментарий", "заметки", "notes", "comment"),
    "contact_name": (
        "контакт",
        "контактноелицо",
        "фио",
        "фиоконтакта",
        "контактноефио",
        "contact",
        "contactname",
        "contactperson",
        "fullname",
    ),
    "position": ("должность", "position", "title", "jobtitle"),
    "decision_maker": ("лпр", "лицопринимающеерешение", "decisionmaker", "dm"),
    "phone": (
        "телефон",
        "тел",
        "телефоны",
        "мобильный",
        "мобильныйтелефон",
        "рабочийтелефон",
        "phone",
        "phones",
        "tel",
        "telephone",
        "mobile",
    ),
    "email": ("email", "емейл", "емайл", "почта", "электроннаяпочта", "mail", "емэйл"),
    "owner": ("владелец", "менеджер", "ответственный", "owner", "manager", "responsible"),
}.items():
    for _header in _headers:
        _KNOWN[re.sub(r"[^\w]", "", _header.replace(" ", ""))] = _field


def _key(header: str) -> str:
    return re.sub(r"[\W_]", "", (header or "").lower().replace("ё", "е"))


def guess_field(header: str) -> str:
    """The field a header most likely means, or "" when unknown."""
    key = _key(header)
    if key in _KNOWN:
        return _KNOWN[key]
    # "Телефон 2", "E-mail контакта": a known word at the start is enough.
    for known, field in sorted(_KNOWN.items(), key=lambda kv: -len(kv[0])):
        if len(known) >= 3 and key.startswith(known):
            return field
    return ""


def guess_mapping(headers: list[str]) -> list[str]:
    """A field per column; a single-valued field goes to its first column only."""
    taken: set[str] = set()
    mapping: list[str] = []
    for header in headers:
        field = guess_field(header)
        if field and field not in MULTI_FIELDS and field in taken:
            field = ""
        taken.add(field)
        mapping.append(field)
    return mapping


def validate_mapping(headers: list[str], mapping: list[str], *, owner_mode: str) -> list[str]:
    """Refuse a mapping the import cannot work with, before any row is read."""
    if len(mapping) != len(headers):
        raise Invalid(_("The mapping does not match the file's columns."), code="import_mapping")
    unknown = [f for f in mapping if f and f not in FIELDS]
    if unknown:
        raise Invalid(
            _("Unknown fields in the mapping: %(fields)s") % {"fields": ", ".join(unknown)},
            code="import_mapping",
        )
    seen: set[str] = set()
    for field in mapping:
        if field and field not in MULTI_FIELDS and field in seen:
            raise Invalid(
                _("The field “%(field)s” is chosen for two columns.") % {"field": FIELDS[field]},
                code="import_mapping",
            )
        seen.add(field)
    missing = []
    if "name" not in seen:
        missing.append(str(FIELDS["name"]))
    if "inn" not in seen and "phone" not in seen:
        missing.append(_("ИНН or phone"))
    if missing:
        raise Invalid(
            _(
                "The file has no column for: %(fields)s. A client needs a name and an ИНН or a phone."
            )
            % {"fields": ", ".join(missing)},
            code="import_missing_columns",
        )
    if owner_mode == "column" and "owner" not in seen:
        raise Invalid(
            _("Choose the column with owners, or import everything into the pool."),
            code="import_missing_columns",
        )
    return mapping
