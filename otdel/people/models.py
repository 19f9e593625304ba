"""People: users with a role in a team, their API tokens and notifications."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """What a person does in the department; the ownership policy sets caps per role."""

    HUNTER = "hunter", _("Hunter")
    ACCOUNT_MANAGER = "account_manager", _("Account manager")
    ORDER_MANAGER = "order_manager", _("Order manager")
    COORDINATOR = "coordinator", _("Coordinator (assistant)")
    DB_OPERATOR = "db_operator", _("Database operator")
    DOC_CLERK = "doc_clerk", _("Document clerk")
    HEAD_OF_SALES = "head_of_sales", _("Head of sales")
    DIRECTOR = "director", _("Director")
    ADMIN = "admin", _("Administrator")


# Roles that own a personal base of clients.
OWNING_ROLES = frozenset({Role.HUNTER, Role.ACCOUNT_MANAGER, Role.ORDER_MANAGER, Role.COORDINATOR})
# Roles that manage the whole department's base (decide transfers, assign, edit policies).
MANAGING_ROLES = frozenset({Role.HEAD_OF_SALES, Role.DIRECTOR, Role.ADMIN})


class Availability(models.TextChoices):
    """Whether a person takes inbound requests now (the switch in the header)."""

    ON_SHIFT = "on_shift", _("On shift")
    AWAY = "away", _("Away")
    OFF = "off", _("Off")


class Team(models.Model):
    """A sales team: it has its own pool, ownership policy and head of sales."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person in the department; his role and team decide what he may do."""

    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.HUNTER)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    patronymic = models.CharField(_("patronymic"), max_length=150, blank=True)
    # A personal cap overrides the policy's cap for the role (None: use the policy).
    client_cap = models.PositiveIntegerField(_("personal client cap"), null=True, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")
    language = models.CharField(_("language"), max_length=8, default="ru")
    # Inbound routing offers requests only to a person on shift within his working hours on a
    # working day of the Russian calendar (otdel.inbound.availability).
    availability = models.CharField(
        _("availability"),
        max_length=10,
        choices=Availability.choices,
        default=Availability.ON_SHIFT,
    )
    availability_changed_at = models.DateTimeField(null=True, blank=True)
    work_starts = models.TimeField(_("working day starts"), default=dt.time(9, 0))
    work_ends = models.TimeField(_("working day ends"), default=dt.time(18, 0))

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        full = f"{self.last_name} {self.first_name}".strip()
        return full or self.username

    @property
    def short_name(self) -> str:
        if self.last_name and self.first_name:
            return f"{self.last_name} {self.first_name[0]}."
        return self.display_name

    @property
    def is_head_of_sales(self) -> bool:
        return self.role in MANAGING_ROLES or self.is_superuser

    @property
    def owns_clients(self) -> bool:
        return self.role in OWNING_ROLES


class ApiToken(models.Model):
    """A personal API token; only its SHA-256 is stored, the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()


class Notification(models.Model):
    """A message to one person (a warning, a transfer step); read in the UI."""

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=64)
    text = models.TextField()
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.text
