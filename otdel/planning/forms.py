"""Forms for planning pages: the cadence rules editor (built from CadenceDocument's fields)
and a task added by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from pydantic import ValidationError

from otdel.core import clock
from otdel.planning.cadences import FIRST_CALL, FOLLOW_UP, REACTIVATION
from otdel.planning.document import CadenceDocument
from otdel.planning.models import CallScript, TaskKind

# The document's field descriptions are the labels; listed here so makemessages extracts them.
# tests/planning/test_editors.py checks this list against the document, so they cannot drift.
DESCRIPTION_MSGIDS = (
    gettext_noop("Reactivation call for a sleeping client"),
    gettext_noop("Call a client of my base after N days without a shipment"),
    gettext_noop("First call after a claim from the pool"),
    gettext_noop("First call within N working days (the claim day counts)"),
    gettext_noop("Follow-up calls after a shipment"),
    gettext_noop("Follow up on these days after a shipment"),
    gettext_noop("An open task overdue this many days counts as missed"),
    gettext_noop("Call script per rule (rule code → script id)"),
)

SCRIPT_PREFIX = "script_"
# The rules a script can be attached to, in the order the editor shows them.
SCRIPT_RULES = (
    (REACTIVATION, gettext_lazy("Script for the reactivation call")),
    (FIRST_CALL, gettext_lazy("Script for the first call after a claim")),
    (FOLLOW_UP, gettext_lazy("Script for follow-ups after a shipment")),
)


def _label(name: str) -> str:
    return gettext(CadenceDocument.model_fields[name].description or name)


class CadenceForm(forms.Form):
    """Every field of the cadence rules; pydantic has the last word on what is valid."""

    effective_from = forms.DateField(
        label=gettext_lazy("Effective from"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    comment = forms.CharField(
        label=gettext_lazy("What changed and why"), required=False, max_length=500
    )

    def __init__(self, *args: Any, scripts: list[CallScript] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(str(s.pk), s.title) for s in scripts or []]
        for name, info in CadenceDocument.model_fields.items():
            if name == "scripts":
                for rule, label in SCRIPT_RULES:
                    self.fields[f"{SCRIPT_PREFIX}{rule}"] = forms.ChoiceField(
                        label=label, choices=choices, required=False
                    )
            elif name == "follow_up_days":
                self.fields[name] = forms.CharField(
                    label=_label(name),
                    required=False,
                    help_text=gettext_lazy("Days separated by commas, e.g. 3, 30, 90"),
                )
            elif info.annotation is bool:
                self.fields[name] = forms.BooleanField(label=_label(name), required=False)
            else:
                # No bounds here on purpose: the document's own validation speaks for them.
                self.fields[name] = forms.IntegerField(label=_label(name))

    @classmethod
    def initial_from(cls, doc: CadenceDocument) -> dict[str, Any]:
        """The form's starting values: the version in force, effective from today."""
        initial: dict[str, Any] = doc.model_dump()
        scripts = initial.pop("scripts")
        for rule, _label_text in SCRIPT_RULES:
            initial[f"{SCRIPT_PREFIX}{rule}"] = str(scripts.get(rule, ""))
        initial["follow_up_days"] = ", ".join(str(d) for d in doc.follow_up_days)
        initial["effective_from"] = clock.today()
        return initial

    def clean_effective_from(self) -> dt.date:
        day: dt.date = self.cleaned_data["effective_from"]
        if day < clock.today():
            raise forms.ValidationError(gettext("A new version cannot take effect in the past."))
        return day

    def clean_follow_up_days(self) -> list[int]:
        raw = self.cleaned_data.get("follow_up_days") or ""
        parts = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise forms.ValidationError(gettext("Enter whole numbers separated by commas."))
        return [int(p) for p in parts]

    def document_fields(self) -> list[forms.BoundField]:
        skip = {"effective_from", "comment"}
        return [self[n] for n in self.fields if n not in skip and not n.startswith(SCRIPT_PREFIX)]

    @property
    def script_label(self) -> str:
        return _label("scripts")

    def script_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.fields if n.startswith(SCRIPT_PREFIX)]

    def document(self) -> dict[str, Any]:
        """The cleaned values as a cadence document (not yet validated by pydantic)."""
        data = self.cleaned_data
        doc: dict[str, Any] = {
            n: data[n] for n in CadenceDocument.model_fields if n != "scripts" and n in data
        }
        doc["scripts"] = {
            rule: int(data[f"{SCRIPT_PREFIX}{rule}"])
            for rule, _label_text in SCRIPT_RULES
            if data.get(f"{SCRIPT_PREFIX}{rule}")
        }
        return doc

    def effective_moment(self) -> dt.datetime:
        """Today means now; a later date means the start of that day in Moscow."""
        day: dt.date = self.cleaned_data["effective_from"]
        if day <= clock.today():
            return clock.now()
        return clock.start_of_day(day)

    def add_validation_errors(self, err: ValidationError) -> None:
        """Show each pydantic error under its field; document-wide ones at the top."""
        for item in err.errors():
            loc = item.get("loc") or ()
            name = str(loc[0]) if loc else None
            message = str(item.get("msg", "")).removeprefix("Value error, ")
            self.add_error(name if name in self.fields else None, message)


class NewTaskForm(forms.Form):
    """A task added by hand on a client: what, by when, and the script to follow."""

    client = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=TaskKind.choices)
    title = forms.CharField(label=gettext_lazy("Task"), max_length=300)
    due_date = forms.DateField(
        label=gettext_lazy("Due"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("A weekend or a holiday moves to the next working day"),
    )
    script = forms.TypedChoiceField(
        label=gettext_lazy("Call script"), coerce=int, empty_value=None, required=False
    )

    def __init__(
        self,
        *args: Any,
        scripts: list[CallScript] | None = None,
        clients: list[tuple[int, str]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if clients is not None:
            # On "my day" the person picks one of his clients; on the card the client is fixed.
            self.fields["client"] = forms.TypedChoiceField(
                label=gettext_lazy("Client"), coerce=int, choices=[("", "—"), *clients]
            )
        self.fields["script"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (s.pk, s.title) for s in scripts or []
        ]

    @classmethod
    def initial_for(cls, client_id: int | None = None) -> dict[str, Any]:
        return {"client": client_id, "kind": TaskKind.CALL, "due_date": clock.today()}
