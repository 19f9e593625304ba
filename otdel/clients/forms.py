"""Web forms for the client base; they only collect input — the pydantic schemas validate it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError

from otdel.activities.models import ActivityKind, Direction
from otdel.people.models import User

# Where each pydantic error location lands on the create form.
CREATE_FIELD_FOR_LOC: dict[tuple[Any, ...], str] = {
    ("name",): "name",
    ("website",): "website",
    ("region",): "region",
    ("industry",): "industry",
    ("legal_entities", 0, "name"): "le_name",
    ("legal_entities", 0, "inn"): "inn",
    ("legal_entities", 0, "kpp"): "kpp",
    ("legal_entities", 0, "ogrn"): "ogrn",
    ("contacts", 0, "full_name"): "contact_name",
    ("contacts", 0, "position"): "position",
    ("contacts", 0, "email"): "email",
    ("contacts", 0, "phones"): "phone",
}


def error_text(err: Any) -> str:
    """A pydantic error as a person should read it: our own messages without pydantic's prefix."""
    msg = str(err.get("msg", ""))
    if err.get("type") == "value_error":
        return re.sub(r"^Value error,\s*", "", msg)
    if err.get("type") in ("string_too_short", "missing"):
        return str(_("This field is required."))
    if err.get("type") == "string_too_long":
        return str(_("This value is too long."))
    return msg


def add_pydantic_errors(
    form: forms.Form, exc: ValidationError, field_for_loc: dict[tuple[Any, ...], str] | None = None
) -> None:
    """Put each pydantic error next to the form field it is about (or above the form)."""
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = (field_for_loc or {}).get(loc)
        if field is None and len(loc) >= 1 and isinstance(loc[-1], str) and loc[-1] in form.fields:
            field = loc[-1]
        if field is None and len(loc) >= 2 and isinstance(loc[-2], str) and loc[-2] in form.fields:
            field = loc[-2]  # e.g. ("phones", 0) → phones
        form.add_error(field, error_text(err))


class ClientCreateForm(forms.Form):
    """A new client with one legal entity and one contact; where it goes (my base or the pool)."""

    name = forms.CharField(label=_("Client name"), max_length=300)
    website = forms.CharField(label=_("Web site"), max_length=300, required=False)
    region = forms.CharField(label=_("Region"), max_length=120, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=120, required=False)

    le_name = forms.CharField(
        label=_("Legal name"),
        max_length=300,
        required=False,
        help_text=_("Leave empty to use the client name."),
    )
    inn = forms.CharField(label=_("ИНН"), max_length=20, required=False)
    kpp = forms.CharField(label=_("КПП"), max_length=20, required=False)
    ogrn = forms.CharField(label=_("ОГРН"), max_length=20, required=False)

    contact_name = forms.CharField(label=_("Contact name"), max_length=300, required=False)
    position = forms.CharField(label=_("Position"), max_length=200, required=False)
    is_decision_maker = forms.BooleanField(label=_("Decision maker (ЛПР)"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=64, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)

    destination = forms.ChoiceField(label=_("Put the client"), widget=forms.RadioSelect)
    allow_duplicates = forms.BooleanField(
        label=_("I have looked at the possible duplicates: create anyway"), required=False
    )

    def __init__(self, *args: Any, user: User, people: list[User] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        choices: list[tuple[str, str]] = []
        if user.owns_clients:
            choices.append(("me", str(_("Into my base"))))
        choices.append(("pool", str(_("Into the pool"))))
        for person in people or []:
            if person.pk != user.pk:
                choices.append(
                    (str(person.pk), str(_("To %(name)s") % {"name": person.display_name}))
                )
        destination = self.fields["destination"]
        assert isinstance(destination, forms.ChoiceField)
        destination.choices = choices
        destination.initial = choices[0][0]
        if len(choices) > 3:
            self.fields["destination"].widget = forms.Select()
        for name in ("inn", "kpp", "ogrn", "phone"):
            self.fields[name].widget.attrs["inputmode"] = "numeric" if name != "phone" else "tel"
        self.fields["email"].widget.input_type = "email"
        self.fields["phone"].widget.input_type = "tel"
        self.fields["phone"].widget.attrs["placeholder"] = "+7 495 123-45-67"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("phone") or data.get("email") or data.get("position")) and not data.get(
            "contact_name"
        ):
            self.add_error("contact_name", _("Give the contact's name."))
        if (data.get("kpp") or data.get("ogrn") or data.get("le_name")) and not data.get("inn"):
            self.add_error("inn", _("A legal entity needs its ИНН."))
        return data

    def client_input(self) -> dict[str, Any]:
        """The raw input for schemas.ClientIn (validated there)."""
        d = self.cleaned_data
        payload: dict[str, Any] = {
            "name": d["name"],
            "website": d.get("website", ""),
            "region": d.get("region", ""),
            "industry": d.get("industry", ""),
            "legal_entities": [],
            "contacts": [],
        }
        if d.get("inn"):
            payload["legal_entities"].append(
                {
                    "name": d.get("le_name") or d["name"],
                    "inn": d["inn"],
                    "kpp": d.get("kpp", ""),
                    "ogrn": d.get("ogrn", ""),
                }
            )
        if d.get("contact_name"):
            payload["contacts"].append(
                {
                    "full_name": d["contact_name"],
                    "position": d.get("position", ""),
                    "is_decision_maker": d.get("is_decision_maker", False),
                    "email": d.get("email", ""),
                    "phones": [d["phone"]] if d.get("phone") else [],
                }
            )
        return payload


class ClientEditForm(forms.Form):
    """The editable details of a client (never its owner)."""

    name = forms.CharField(label=_("Client name"), max_length=300)
    website = forms.CharField(label=_("Web site"), max_length=300, required=False)
    region = forms.CharField(label=_("Region"), max_length=120, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=120, required=False)
    notes = forms.CharField(
        label=_("Notes"),
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ContactForm(forms.Form):
    """A contact person at the client."""

    full_name = forms.CharField(label=_("Full name"), max_length=300)
    position = forms.CharField(label=_("Position"), max_length=200, required=False)
    is_decision_maker = forms.BooleanField(label=_("Decision maker (ЛПР)"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=64, required=False)
    phone2 = forms.CharField(label=_("Another phone"), max_length=64, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)

    def contact_input(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "full_name": d["full_name"],
            "position": d.get("position", ""),
            "is_decision_maker": d.get("is_decision_maker", False),
            "email": d.get("email", ""),
            "phones": [p for p in (d.get("phone"), d.get("phone2")) if p],
        }


CONTACT_FIELD_FOR_LOC: dict[tuple[Any, ...], str] = {
    ("phones",): "phone",
    ("phones", 0): "phone",
    ("phones", 1): "phone2",
}


class LegalEntityForm(forms.Form):
    """A legal entity of the client; a ИНН known elsewhere needs a confirmation."""

    name = forms.CharField(label=_("Legal name"), max_length=300)
    inn = forms.CharField(label=_("ИНН"), max_length=20)
    kpp = forms.CharField(label=_("КПП"), max_length=20, required=False)
    ogrn = forms.CharField(label=_("ОГРН"), max_length=20, required=False)
    address = forms.CharField(label=_("Legal address"), max_length=500, required=False)
    allow_duplicates = forms.BooleanField(
        label=_("I have looked at the possible duplicates: add anyway"), required=False
    )


def parse_talk_time(value: str) -> int | None:
    """«5», «5:30» or «1:05:30» → seconds; empty → None."""
    text = (value or "").strip()
    if not text:
        return None
    parts = text.split(":")
    if not all(p.strip().isdigit() for p in parts) or len(parts) > 3:
        raise forms.ValidationError(_("Write the talk time as minutes or mm:ss."))
    nums = [int(p) for p in parts]
    if len(nums) == 1:
        return nums[0] * 60
    if len(nums) == 2:
        return nums[0] * 60 + nums[1]
    return nums[0] * 3600 + nums[1] * 60 + nums[2]


class ActivityForm(forms.Form):
    """A call, meeting, e-mail or note logged by hand."""

    kind = forms.ChoiceField(label=_("What"), choices=ActivityKind.choices)
    direction = forms.ChoiceField(
        label=_("Direction"), choices=[("", "—"), *Direction.choices], required=False
    )
    talk_time = forms.CharField(
        label=_("Talk time"),
        required=False,
        max_length=10,
        help_text=_("minutes or mm:ss"),
        widget=forms.TextInput(attrs={"placeholder": "5:30", "inputmode": "numeric"}),
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M"],
        help_text=_("empty: now"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    subject = forms.CharField(label=_("Subject"), max_length=300, required=False)
    body = forms.CharField(
        label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_talk_time(self) -> int | None:
        return parse_talk_time(self.cleaned_data.get("talk_time", ""))

    def clean_occurred_at(self) -> dt.datetime | None:
        return self.cleaned_data.get("occurred_at")


class MergeForm(forms.Form):
    """Confirm a merge and choose whose ownership survives."""

    keep_owner = forms.ChoiceField(
        label=_("Owner after the merge"), widget=forms.RadioSelect, required=False
    )
    confirm = forms.BooleanField(
        label=_("I understand: the duplicate's data moves into this client and it disappears")
    )

    def __init__(self, *args: Any, owners: list[User], **kw: Any):
        super().__init__(*args, **kw)
        keep = self.fields["keep_owner"]
        assert isinstance(keep, forms.ChoiceField)
        keep.choices = [(str(u.pk), u.display_name) for u in owners]
        if owners:
            keep.initial = str(owners[0].pk)
            keep.required = True
