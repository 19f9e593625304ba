"""Forms for ownership pages: the policy editor built from OwnershipPolicyDocument's fields."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from pydantic import ValidationError

from otdel.activities.models import ActivityKind
from otdel.core import clock
from otdel.ownership.policy_document import ACTIVITY_KINDS, OwnershipPolicyDocument
from otdel.people.models import OWNING_ROLES, Role

# The document's field descriptions are the labels; listed here so makemessages extracts them.
# tests/ownership/test_views.py checks this list against the document, so they cannot drift.
DESCRIPTION_MSGIDS = (
    gettext_noop("Clients one person may own"),
    gettext_noop("Cap per role, overriding the default"),
    gettext_noop("Claims from the pool per day"),
    gettext_noop("Days a fresh claim is protected"),
    gettext_noop("Days before a person may reclaim a client he released or lost"),
    gettext_noop("Return to the pool after N days without qualifying work"),
    gettext_noop("Return to the pool after M days without a shipment"),
    gettext_noop("Use the shipment clock (needs shipments from the sales capability)"),
    gettext_noop("Warn the owner K days before"),
    gettext_noop("Activity kinds that reset the idle clock"),
    gettext_noop("Customers are never returned automatically"),
    gettext_noop("Locked clients are never returned automatically"),
    gettext_noop("Working days the owner has to answer a transfer request"),
    gettext_noop("Approve a transfer automatically if the owner did no qualifying work for N days"),
    gettext_noop("Hide pool contacts' phones and e-mails"),
)

ROLE_CAP_PREFIX = "role_cap_"
# Caps matter only for people who keep a base, in a stable order.
CAP_ROLES = [r for r in Role if r in OWNING_ROLES]


def _label(name: str) -> str:
    return gettext(OwnershipPolicyDocument.model_fields[name].description or name)


class PolicyForm(forms.Form):
    """Every field of the ownership policy; pydantic has the last word on what is valid."""

    effective_from = forms.DateField(
        label=gettext_lazy("Effective from"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    comment = forms.CharField(label=gettext_lazy("What changed and why"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, info in OwnershipPolicyDocument.model_fields.items():
            if name == "role_caps":
                for role in CAP_ROLES:
                    self.fields[f"{ROLE_CAP_PREFIX}{role.value}"] = forms.IntegerField(
                        label=role.label,
                        required=False,
                        help_text=gettext_lazy("Empty: the default cap"),
                    )
            elif name == "qualifying_kinds":
                self.fields[name] = forms.MultipleChoiceField(
                    label=_label(name),
                    choices=[(k, ActivityKind(k).label) for k in ACTIVITY_KINDS],
                    widget=forms.CheckboxSelectMultiple,
                    required=False,
                )
            elif info.annotation is bool:
                self.fields[name] = forms.BooleanField(label=_label(name), required=False)
            else:
                # No bounds here on purpose: the document's own validation speaks for them.
                self.fields[name] = forms.IntegerField(label=_label(name))

    @classmethod
    def initial_from(cls, doc: OwnershipPolicyDocument) -> dict[str, Any]:
        """The form's starting values: the version in force, effective from today."""
        initial: dict[str, Any] = doc.model_dump()
        caps = initial.pop("role_caps")
        for role in CAP_ROLES:
            initial[f"{ROLE_CAP_PREFIX}{role.value}"] = caps.get(role.value)
        initial["effective_from"] = clock.today()
        return initial

    def role_cap_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.fields if n.startswith(ROLE_CAP_PREFIX)]

    def document_fields(self) -> list[forms.BoundField]:
        skip = {"effective_from", "comment"}
        return [self[n] for n in self.fields if n not in skip and not n.startswith(ROLE_CAP_PREFIX)]

    def document(self) -> dict[str, Any]:
        """The cleaned values as a policy document (not yet validated by pydantic)."""
        data = self.cleaned_data
        doc: dict[str, Any] = {
            n: data[n]
            for n in OwnershipPolicyDocument.model_fields
            if n != "role_caps" and n in data
        }
        doc["role_caps"] = {
            role.value: data[f"{ROLE_CAP_PREFIX}{role.value}"]
            for role in CAP_ROLES
            if data.get(f"{ROLE_CAP_PREFIX}{role.value}") is not None
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
            if name == "role_caps" and len(loc) > 1:
                name = f"{ROLE_CAP_PREFIX}{loc[1]}"
            message = str(item.get("msg", "")).removeprefix("Value error, ")
            self.add_error(name if name in self.fields else None, message)
