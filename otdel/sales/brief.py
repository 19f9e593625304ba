"""The handoff brief: what the sender must tell the receiver so nothing is lost between roles."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field

from otdel.core.errors import Invalid

# The brief's fields in the order a form shows them, with their labels.
BRIEF_FIELDS: dict[str, Any] = {
    "needs": gettext_lazy("Needs"),
    "terms": gettext_lazy("Agreed terms"),
    "decision_maker": gettext_lazy("Decision maker and contacts"),
    "budget": gettext_lazy("Budget"),
    "deadlines": gettext_lazy("Deadlines"),
    "promises": gettext_lazy("Promises made"),
    "risks": gettext_lazy("Risks"),
    "next_step": gettext_lazy("Next step"),
}


class Brief(BaseModel):
    """A brief as sent: every field is free text; which ones are required is the stage's rule."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    needs: str = Field("", max_length=4000)
    terms: str = Field("", max_length=4000)
    decision_maker: str = Field("", max_length=4000)
    budget: str = Field("", max_length=4000)
    deadlines: str = Field("", max_length=4000)
    promises: str = Field("", max_length=4000)
    risks: str = Field("", max_length=4000)
    next_step: str = Field("", max_length=4000)


def clean_brief(data: dict[str, Any] | Brief | None, required: list[str]) -> dict[str, str]:
    """The brief's filled fields, or Invalid naming every required field left empty."""
    if isinstance(data, Brief):
        brief = data
    else:
        try:
            brief = Brief.model_validate(data or {})
        except ValueError as err:
            raise Invalid(_("The brief has unknown or too long fields."), code="bad_brief") from err
    values = brief.model_dump()
    missing = [name for name in required if not values.get(name)]
    if missing:
        raise Invalid(
            _("Fill in the brief: %(fields)s.")
            % {"fields": ", ".join(str(BRIEF_FIELDS[name]) for name in missing)},
            code="brief_required",
            missing=missing,
        )
    return {name: text for name, text in values.items() if text}
