"""Forms for the sales pages: a product, a cost change, a new deal, the handoff brief.

The forms check the shape of what was typed; the pydantic schemas and the services have the
last word (their refusals come back as field errors)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError

from otdel.core import clock
from otdel.people.models import Role, User
from otdel.sales.brief import BRIEF_FIELDS
from otdel.sales.models import CURRENCIES, VAT_RATES, ProductCategory, Stage

NO_VAT = "none"
QUEUE_PREFIX = "role:"


def _vat_choices() -> list[tuple[str, str]]:
    return [(f"{r:g}", f"{r:g} %") for r in VAT_RATES] + [(NO_VAT, str(_("without VAT")))]


class ProductForm(forms.Form):
    """A product's fields; the first cost may be given when it is created."""

    name = forms.CharField(label=_("Name"), max_length=300)
    sku = forms.CharField(label=_("SKU"), max_length=64)
    category = forms.ModelChoiceField(label=_("Category"), queryset=ProductCategory.objects.none())
    unit = forms.CharField(label=_("Unit"), max_length=16, initial="шт")
    list_price = forms.DecimalField(
        label=_("List price"), min_value=Decimal(0), max_digits=14, decimal_places=2
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in CURRENCIES])
    vat_rate = forms.ChoiceField(label=_("VAT rate"), choices=_vat_choices, initial="22")
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    cost = forms.DecimalField(
        label=_("Cost price"),
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=2,
        help_text=_("Optional: the cost from now on. Later changes keep their history."),
    )

    def __init__(self, *args: Any, with_cost: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = ProductCategory.objects.all()  # type: ignore[attr-defined]
        if not with_cost:
            del self.fields["cost"]

    def vat(self) -> Decimal | None:
        value = self.cleaned_data["vat_rate"]
        return None if value == NO_VAT else Decimal(value)

    def add_validation_errors(self, err: ValidationError) -> None:
        """Put pydantic's complaints next to the fields they are about."""
        names = {"category_id": "category"}
        for item in err.errors():
            field = str(item["loc"][0]) if item.get("loc") else ""
            field = names.get(field, field)
            message = str(item.get("ctx", {}).get("error") or item["msg"])
            self.add_error(field if field in self.fields else None, message)


class CostForm(forms.Form):
    """A new cost price, from now or a later moment."""

    amount = forms.DecimalField(
        label=_("New cost price"), min_value=Decimal(0), max_digits=14, decimal_places=2
    )
    effective_from = forms.DateTimeField(
        label=_("Effective from"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Empty: now. A cost cannot take effect in the past."),
    )
    comment = forms.CharField(label=_("Comment"), required=False, max_length=500)

    def moment(self) -> dt.datetime | None:
        value = self.cleaned_data.get("effective_from")
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=clock.MOSCOW)


class DealForm(forms.Form):
    """A new deal on a client: a title and the amount expected."""

    client = forms.TypedChoiceField(label=_("Client"), coerce=int)
    title = forms.CharField(label=_("Title"), max_length=300)
    amount_estimate = forms.DecimalField(
        label=_("Amount estimate"),
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=2,
        initial=Decimal(0),
    )
    pipeline = forms.TypedChoiceField(label=_("Pipeline"), coerce=int, required=False)
    responsible = forms.TypedChoiceField(
        label=_("Responsible"), coerce=int, required=False, empty_value=None
    )
    inbound = forms.BooleanField(
        label=_("It comes from an inbound request"),
        required=False,
        help_text=_("Otherwise the source is set by the rules: your base, the pool, a new hunt…"),
    )

    def __init__(
        self,
        *args: Any,
        clients: list[tuple[int, str]],
        pipelines: list[tuple[int, str]],
        people: list[User] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client"].choices = clients  # type: ignore[attr-defined]
        self.fields["pipeline"].choices = pipelines  # type: ignore[attr-defined]
        if people:
            self.fields["responsible"].choices = [("", "—")] + [  # type: ignore[attr-defined]
                (p.pk, f"{p.display_name} ({p.get_role_display()})") for p in people
            ]
        else:
            del self.fields["responsible"]


def receiver_choices(stage: Stage, people: list[User]) -> list[tuple[str, str]]:
    """People who work the stage, then each of its roles' queues ("anyone who is free")."""
    choices = [(str(p.pk), f"{p.display_name} ({p.get_role_display()})") for p in people]
    for role in stage.roles:
        label = _("Queue: any %(role)s") % {"role": str(Role(role).label).lower()}
        choices.append((f"{QUEUE_PREFIX}{role}", str(label)))
    return choices


class HandoffForm(forms.Form):
    """The brief for the receiver, and whom the deal is offered to."""

    receiver = forms.ChoiceField(label=_("Offer to"))
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea({"rows": 2})
    )

    def __init__(
        self,
        *args: Any,
        stage: Stage,
        people: list[User],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["receiver"].choices = receiver_choices(stage, people)  # type: ignore[attr-defined]
        required = set(stage.brief_required)
        for name, label in BRIEF_FIELDS.items():
            self.fields[f"brief_{name}"] = forms.CharField(
                label=label,
                required=name in required,
                max_length=4000,
                widget=forms.Textarea({"rows": 2}),
            )
        self.order_fields([f"brief_{n}" for n in BRIEF_FIELDS] + ["receiver", "comment"])

    def brief(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(f"brief_{name}", "")
            for name in BRIEF_FIELDS
            if self.cleaned_data.get(f"brief_{name}")
        }

    def offer(self) -> tuple[int | None, str | None]:
        """(person id, None) or (None, role) for a queue."""
        value = self.cleaned_data["receiver"]
        if value.startswith(QUEUE_PREFIX):
            return None, value[len(QUEUE_PREFIX) :]
        return int(value), None

    def brief_fields(self) -> list[forms.BoundField]:
        return [self[f"brief_{name}"] for name in BRIEF_FIELDS]


class LostForm(forms.Form):
    """Why the deal is lost (required: the head reads it)."""

    comment = forms.CharField(
        label=_("Why is the deal lost?"), max_length=2000, widget=forms.Textarea({"rows": 3})
    )
