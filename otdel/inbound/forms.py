"""Forms of the inbound pages: the routing policy editor built from RoutingPolicyDocument's
fields, a request typed in by a coordinator, converting a request to a deal, a site's form,
the specialists table. The forms check the shape of what was typed; the pydantic documents and
the services have the last word (their refusals come back as field errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from pydantic.fields import FieldInfo

from otdel.core.errors import DomainError
from otdel.core.policy_forms import PolicyDocumentForm
from otdel.inbound.policy_document import SKILLS, STRATEGIES, RoutingPolicyDocument
from otdel.inbound.view_helpers import SpecialistRow, request_errors

# The document's field descriptions are the labels; listed here so makemessages extracts them.
# tests/inbound/test_views.py checks this list against the document, so they cannot drift.
DESCRIPTION_MSGIDS = (
    gettext_noop(
        "A request from a client with an owner goes to the owner first, if he is available"
    ),
    gettext_noop(
        "Working minutes the owner has for the first response before the request goes to the "
        "next specialist"
    ),
    gettext_noop(
        "Then: round robin among available specialists, the least loaded one (open requests "
        "against capacity), or round robin with weights"
    ),
    gettext_noop(
        "Match by skill: the request's product category, region, language (only specialists "
        "with the skill get it)"
    ),
    gettext_noop(
        "When nobody available has the skill, give it to anyone available rather than let it wait"
    ),
    gettext_noop("Open requests a specialist holds at most (by default)"),
    gettext_noop("First response due within this many working minutes of the request"),
    gettext_noop("Converted to a deal or closed within this many working hours"),
    gettext_noop(
        "A repeat from the same client, number or e-mail within this many hours joins the open "
        "request instead of opening a new one"
    ),
    gettext_noop(
        "A person back on shift gets at most this many requests that waited in the queue per "
        "hour, so he is not flooded"
    ),
    gettext_noop("Send the customer an acknowledgement e-mail with the request number"),
)

STRATEGY_LABELS = {
    "round_robin": gettext_lazy("Round robin"),
    "least_loaded": gettext_lazy("The least loaded"),
    "weighted": gettext_lazy("Round robin with weights"),
}
SKILL_LABELS = {
    "category": gettext_lazy("Product category"),
    "region": gettext_lazy("Region"),
    "language": gettext_lazy("Language"),
}


class RoutingPolicyForm(PolicyDocumentForm):
    """Every field of the routing policy; pydantic has the last word on what is valid."""

    document_class = RoutingPolicyDocument

    def document_field(self, name: str, info: FieldInfo) -> forms.Field:
        if name == "strategy":
            return forms.ChoiceField(
                label=self.label(name),
                choices=[(s, STRATEGY_LABELS[s]) for s in STRATEGIES],
                widget=forms.RadioSelect,
            )
        if name == "skills":
            return forms.MultipleChoiceField(
                label=self.label(name),
                choices=[(s, SKILL_LABELS[s]) for s in SKILLS],
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
        return super().document_field(name, info)


class RequestForm(forms.Form):
    """A request typed in by a coordinator: who, how to reach him, what he needs."""

    name = forms.CharField(label=gettext_lazy("Customer's name"), max_length=200, required=False)
    company = forms.CharField(label=gettext_lazy("Company"), max_length=300, required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=64, required=False)
    email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    inn = forms.CharField(label=gettext_lazy("ИНН"), max_length=12, required=False)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=300, required=False)
    message = forms.CharField(
        label=gettext_lazy("What he needs"),
        max_length=20_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    category = forms.TypedChoiceField(
        label=gettext_lazy("Product category"), coerce=int, required=False, empty_value=None
    )
    region = forms.CharField(label=gettext_lazy("Region"), max_length=120, required=False)
    language = forms.CharField(
        label=gettext_lazy("Language"),
        max_length=8,
        required=False,
        help_text=gettext_lazy("Two letters, e.g. ru, en; empty: Russian"),
    )

    def __init__(self, *args: Any, categories: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "—"), *categories]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("phone") or data.get("email")):
            raise forms.ValidationError(
                gettext("Leave a phone or an e-mail: otherwise nobody can answer.")
            )
        return data

    def payload(self) -> dict[str, Any]:
        """What services.parse_request reads."""
        data = dict(self.cleaned_data)
        data["category_id"] = data.pop("category", None)
        return data

    def add_request_errors(self, err: DomainError) -> None:
        """The request schema's refusals, under their fields."""
        per_field, general = request_errors(err.details.get("errors") or [], self.cleaned_data)
        if not per_field and not general:
            general = [err.message]
        for name, messages in per_field.items():
            target = "category" if name == "category_id" else name
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
        for message in general:
            self.add_error(None, message)


class ConvertForm(forms.Form):
    """A request becomes a deal: its title and the amount expected."""

    title = forms.CharField(label=gettext_lazy("Deal title"), max_length=300, required=False)
    amount = forms.CharField(label=gettext_lazy("Amount estimate, ₽"), required=False)

    def clean_amount(self) -> Decimal:
        raw = str(self.cleaned_data.get("amount") or "").strip()
        if not raw:
            return Decimal("0")
        text = raw.replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise forms.ValidationError(
                gettext("“%(value)s” is not an amount.") % {"value": raw}
            ) from None
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
            raise forms.ValidationError(gettext("An amount from 0 to 999 999 999 999."))
        return amount.quantize(Decimal("0.01"))


class WebFormForm(forms.Form):
    """A site's form: its name and, optionally, the sites allowed to post from a browser."""

    name = forms.CharField(label=gettext_lazy("Name (which site)"), max_length=200)
    allowed_origins = forms.CharField(
        label=gettext_lazy("Sites allowed to post by JavaScript"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "https://example.ru"}),
        help_text=gettext_lazy("One per line; empty: any site."),
    )

    def origins(self) -> list[str]:
        return [o.strip() for o in self.cleaned_data["allowed_origins"].splitlines() if o.strip()]


@dataclass
class SpecialistInput:
    """One row of the specialists table as typed."""

    user_id: int
    takes_requests: bool
    capacity: int | None
    weight: int
    category_ids: list[int]
    regions: list[str]
    languages: list[str]
    errors: list[str] = field(default_factory=list)
    # As typed, shown again when a row has an error.
    typed_capacity: str = ""
    typed_weight: str = ""

    def differs(self, row: SpecialistRow) -> bool:
        return not row.stored or (
            self.takes_requests,
            self.capacity,
            self.weight,
            sorted(self.category_ids),
            self.regions,
            self.languages,
        ) != (
            row.takes_requests,
            row.capacity,
            row.weight,
            sorted(row.category_ids),
            row.regions,
            row.languages,
        )


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.replace(";", ",").split(",") if w.strip()]


def parse_specialists(
    data: QueryDict, rows: list[SpecialistRow], category_ids: set[int]
) -> list[SpecialistInput]:
    """The specialists table as posted: one entry per person shown; errors per row."""
    parsed = []
    for row in rows:
        uid = row.user.pk
        errors: list[str] = []
        raw_capacity = data.get(f"capacity_{uid}", "").strip()
        capacity: int | None = None
        if raw_capacity:
            if raw_capacity.isdigit() and 1 <= int(raw_capacity) <= 1000:
                capacity = int(raw_capacity)
            else:
                errors.append(gettext("Capacity is a whole number from 1 to 1000."))
        raw_weight = data.get(f"weight_{uid}", "1").strip() or "1"
        weight = 1
        if raw_weight.isdigit() and 1 <= int(raw_weight) <= 100:
            weight = int(raw_weight)
        else:
            errors.append(gettext("Weight is a whole number from 1 to 100."))
        chosen = []
        for value in data.getlist(f"categories_{uid}"):
            if value.isdigit() and int(value) in category_ids:
                chosen.append(int(value))
            else:
                errors.append(gettext("Pick a product category from the list."))
        regions = _words(data.get(f"regions_{uid}", ""))
        languages = [w.casefold() for w in _words(data.get(f"languages_{uid}", ""))]
        if any(len(r) > 120 for r in regions) or any(len(x) > 8 for x in languages):
            errors.append(gettext("A region is at most 120 characters, a language at most 8."))
        parsed.append(
            SpecialistInput(
                user_id=uid,
                takes_requests=data.get(f"takes_{uid}") == "on",
                capacity=capacity,
                weight=weight,
                category_ids=chosen,
                regions=regions,
                languages=languages,
                errors=errors,
                typed_capacity=raw_capacity,
                typed_weight=raw_weight,
            )
        )
    return parsed
