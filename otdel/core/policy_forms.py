"""A versioned policy document edited as a form: one field per document field (labelled by
its description), the effective date and a comment; pydantic has the last word on what is
valid, and its errors come back under their fields."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.utils.translation import gettext, gettext_lazy
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from otdel.core import clock
from otdel.core.errors import DomainError


class PolicyDocumentForm(forms.Form):
    """Subclasses name their `document_class` and build the fields that are not a plain
    switch or number in `document_field`."""

    document_class: ClassVar[type[BaseModel]]

    effective_from = forms.DateField(
        label=gettext_lazy("Effective from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    comment = forms.CharField(
        label=gettext_lazy("What changed and why"), required=False, max_length=500
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, info in self.document_class.model_fields.items():
            self.fields[name] = self.document_field(name, info)

    @classmethod
    def label(cls, name: str) -> str:
        """The document field's description, translated: the editor's label."""
        return gettext(cls.document_class.model_fields[name].description or name)

    def document_field(self, name: str, info: FieldInfo) -> forms.Field:
        """A switch for a yes/no field, a whole number otherwise."""
        if info.annotation is bool:
            return forms.BooleanField(label=self.label(name), required=False)
        # No bounds here on purpose: the document's own validation speaks for them.
        return forms.IntegerField(label=self.label(name))

    @classmethod
    def initial_from(cls, doc: BaseModel) -> dict[str, Any]:
        """The version in force, effective from today."""
        return {**doc.model_dump(), "effective_from": clock.today()}

    def document_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.document_class.model_fields]

    def document(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {n: data[n] for n in self.document_class.model_fields if n in data}

    def effective_moment(self) -> dt.datetime:
        """Today means now; a later date means the start of that day in Moscow."""
        day: dt.date = self.cleaned_data["effective_from"]
        if day <= clock.today():
            return clock.now()
        return clock.start_of_day(day)

    def add_policy_errors(self, err: DomainError) -> None:
        """Show each of the document's errors under its field; document-wide ones at the top."""
        items = err.details.get("errors") or []
        if not items:
            self.add_error(None, err.message)
        for item in items:
            loc = item.get("loc") or ()
            name = str(loc[0]) if loc else None
            message = str(item.get("msg", "")).removeprefix("Value error, ")
            self.add_error(name if name in self.fields else None, message)
