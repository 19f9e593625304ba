"""The input of a request, shared by the web form, the JSON endpoint, manual entry and the
mail reader: lengths bounded, the phone in E.164, the e-mail cleaned, one way to reach back."""

from __future__ import annotations

from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from otdel.clients.normalize import ValidationFailure, clean_email, clean_inn, normalize_phone


class RequestIn(BaseModel):
    """What a person asking us left: a name and a way to reach him, what he needs."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field("", max_length=200)
    company: str = Field("", max_length=300)
    phone: str = Field("", max_length=64)
    email: str = Field("", max_length=254)
    inn: str = Field("", max_length=12)
    subject: str = Field("", max_length=300)
    message: str = Field("", max_length=20_000)
    category_id: int | None = None
    region: str = Field("", max_length=120)
    language: str = Field("", max_length=8)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not v:
            return ""
        try:
            return clean_email(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None

    @field_validator("inn")
    @classmethod
    def _inn(cls, v: str) -> str:
        if not v:
            return ""
        try:
            return clean_inn(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if not v:
            return ""
        try:
            normalize_phone(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _reachable(self) -> RequestIn:
        if not (self.phone or self.email):
            raise ValueError(_("Leave a phone number or an e-mail address so we can answer."))
        return self

    @property
    def phone_e164(self) -> str:
        return normalize_phone(self.phone) if self.phone else ""
