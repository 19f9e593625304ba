"""Validated input for clients, shared by the web forms, the importer and the API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otdel.clients.normalize import (
    ValidationFailure,
    clean_email,
    clean_inn,
    clean_kpp,
    clean_ogrn,
    normalize_phone,
)


class LegalEntityIn(BaseModel):
    """A legal entity as typed: ИНН checked by its check digits."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300)
    inn: str
    kpp: str = ""
    ogrn: str = ""
    address: str = Field("", max_length=500)

    @field_validator("inn")
    @classmethod
    def _inn(cls, v: str) -> str:
        try:
            return clean_inn(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None

    @field_validator("kpp")
    @classmethod
    def _kpp(cls, v: str) -> str:
        try:
            return clean_kpp(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None

    @field_validator("ogrn")
    @classmethod
    def _ogrn(cls, v: str) -> str:
        try:
            return clean_ogrn(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None


class ContactIn(BaseModel):
    """A contact person; phones become E.164, e-mails lower case."""

    model_config = ConfigDict(str_strip_whitespace=True)

    full_name: str = Field(min_length=1, max_length=300)
    position: str = Field("", max_length=200)
    is_decision_maker: bool = False
    email: str = ""
    phones: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not v:
            return ""
        try:
            return clean_email(v)
        except ValidationFailure as e:
            raise ValueError(str(e)) from None

    @field_validator("phones")
    @classmethod
    def _phones(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for raw in v:
            if not raw.strip():
                continue
            try:
                phone = normalize_phone(raw)
            except ValidationFailure as e:
                raise ValueError(str(e)) from None
            if phone not in out:
                out.append(phone)
        return out


class SiteIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    address: str = Field("", max_length=500)
    city: str = Field("", max_length=120)
    region: str = Field("", max_length=120)


class ClientIn(BaseModel):
    """A client with everything known about it at creation."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300)
    website: str = Field("", max_length=300)
    region: str = Field("", max_length=120)
    industry: str = Field("", max_length=120)
    notes: str = Field("", max_length=10_000)
    legal_entities: list[LegalEntityIn] = Field(default_factory=list, max_length=50)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=200)
    brands: list[str] = Field(default_factory=list, max_length=50)
    sites: list[SiteIn] = Field(default_factory=list, max_length=100)


class ClientUpdate(BaseModel):
    """Editable details of a client (ownership is never edited here)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=300)
    website: str | None = Field(None, max_length=300)
    region: str | None = Field(None, max_length=120)
    industry: str | None = Field(None, max_length=120)
    notes: str | None = Field(None, max_length=10_000)
