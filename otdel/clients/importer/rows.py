"""One file row → a validated ClientIn through the shared schemas, or errors naming the column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from pydantic import ValidationError

from otdel.clients.schemas import ClientIn

_TRUE = frozenset({"да", "д", "yes", "y", "1", "true", "+", "x", "х", "лпр", "✓", "✔", "v"})
_PHONE_SPLIT = re.compile(r"[;,/\n]+")
_EMAIL_SPLIT = re.compile(r"[;,\s]+")

# Where a schema error points (its pydantic location) → the import field of that column.
_LE_FIELDS = {
    "inn": "inn",
    "kpp": "kpp",
    "ogrn": "ogrn",
    "name": "legal_name",
    "address": "address",
}
_CONTACT_FIELDS = {
    "full_name": "contact_name",
    "position": "position",
    "email": "email",
    "phones": "phone",
}


@dataclass
class Finding:
    """A problem with one row: which row, which column (as headed in the file), what is wrong."""

    row: int
    column: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message, **self.extra}


class RowReader:
    """Turns the cells of a row into field values, using the confirmed mapping."""

    def __init__(self, headers: list[str], mapping: list[str]):
        self.headers = headers
        self.mapping = mapping
        self.columns: dict[str, list[int]] = {}
        for index, name in enumerate(mapping):
            if name:
                self.columns.setdefault(name, []).append(index)

    def column_label(self, field_name: str) -> str:
        """The file's own header for a field (what the person sees in his spreadsheet)."""
        indexes = self.columns.get(field_name)
        if not indexes:
            return field_name
        return self.headers[indexes[0]] or f"#{indexes[0] + 1}"

    def values(self, cells: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, indexes in self.columns.items():
            found = [cells[i] for i in indexes if i < len(cells) and cells[i]]
            if found:
                out[name] = found
        return out


def _first(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name)
    return found[0] if found else ""


def _error_message(err: Any) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "string_too_long":
        return _("too long: at most %(max)s characters") % {"max": ctx.get("max_length")}
    if kind in ("string_too_short", "missing"):
        return _("is empty")
    if kind == "too_long":
        return _("too many values")
    return str(err.get("msg", kind))


def _field_of(loc: tuple[Any, ...]) -> str:
    if not loc:
        return ""
    head = loc[0]
    if head == "legal_entities" and len(loc) >= 3:
        return _LE_FIELDS.get(str(loc[2]), "inn")
    if head == "contacts" and len(loc) >= 3:
        return _CONTACT_FIELDS.get(str(loc[2]), "contact_name")
    return str(head)


def build_client(
    number: int, values: dict[str, list[str]], reader: RowReader
) -> tuple[ClientIn | None, list[Finding]]:
    """Validate one row with the shared ClientIn schema; errors name the file's column."""
    name = _first(values, "name")
    inn = _first(values, "inn")
    phones = [p.strip() for cell in values.get("phone", []) for p in _PHONE_SPLIT.split(cell)]
    phones = [p for p in phones if p]
    emails = [e for cell in values.get("email", []) for e in _EMAIL_SPLIT.split(cell) if e]
    notes = "\n".join(values.get("notes", []))
    if len(emails) > 1:
        notes = "\n".join(x for x in (notes, "E-mail: " + ", ".join(emails[1:])) if x)
    if not inn and not phones:
        label = f"{reader.column_label('inn')} / {reader.column_label('phone')}"
        return None, [Finding(number, label, _("neither an ИНН nor a phone: one is required"))]
    data: dict[str, Any] = {
        "name": name,
        "website": _first(values, "website"),
        "region": _first(values, "region"),
        "industry": _first(values, "industry"),
        "notes": notes,
        "legal_entities": [],
        "contacts": [],
    }
    if inn:
        data["legal_entities"].append(
            {
                "name": _first(values, "legal_name") or name,
                "inn": inn,
                "kpp": _first(values, "kpp"),
                "ogrn": _first(values, "ogrn"),
                "address": _first(values, "address"),
            }
        )
    contact_name = _first(values, "contact_name")
    position = _first(values, "position")
    if contact_name or phones or emails or position:
        data["contacts"].append(
            {
                "full_name": contact_name or position or _("main contact"),
                "position": position,
                "is_decision_maker": _first(values, "decision_maker").lower() in _TRUE,
                "email": emails[0] if emails else "",
                "phones": phones,
            }
        )
    try:
        return ClientIn.model_validate(data), []
    except ValidationError as exc:
        findings = []
        for err in exc.errors(include_url=False):
            field_name = _field_of(tuple(err.get("loc", ())))
            findings.append(Finding(number, reader.column_label(field_name), _error_message(err)))
        return None, findings
