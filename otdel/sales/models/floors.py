"""Price floors: the least margin (or the most discount) a head of sales allows per product
category, for the whole team, a role or one person; an invoice or a proposal below its floor
waits for the head's approval, recorded."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.people.models import Role


class PriceFloor(models.Model):
    """The floor for a category (or every category) and for the team, a role or one person; the
    most specific floor applies (person over role over team, a category over every category)."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="price_floors")
    category = models.ForeignKey(
        "sales.ProductCategory",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("category"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("person"),
    )
    min_margin_percent = models.DecimalField(
        _("minimum margin, %"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    max_discount_percent = models.DecimalField(
        _("maximum discount, %"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("price floor")
        verbose_name_plural = _("price floors")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_margin_percent__isnull=False)
                | models.Q(max_discount_percent__isnull=False),
                name="price_floor_has_a_limit",
            ),
            models.CheckConstraint(
                condition=~(models.Q(role__gt="") & models.Q(person__isnull=False)),
                name="price_floor_role_or_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category or '*'} / {self.person or self.role or '*'}"


class FloorApprovalStatus(models.TextChoices):
    """Where a below-floor invoice stands."""

    PENDING = "pending", _("awaiting approval")
    APPROVED = "approved", _("approved")
    REFUSED = "refused", _("refused")
    # A draft proposal changed so that no line is below its floor any more (or was cancelled).
    WITHDRAWN = "withdrawn", _("no longer needed")


class FloorApproval(models.Model):
    """An invoice or a proposal (exactly one) below its price floor: which lines and why (as
    data), and the head of sales' decision. Until approved, no payment is allocated to the
    invoice, and the proposal cannot be sent."""

    invoice = models.OneToOneField(
        "sales.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="floor_approval",
    )
    # A draft's request follows its lines: rewritten when the draft changes (see sales.floors).
    proposal = models.OneToOneField(
        "sales.Proposal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="floor_approval",
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    breaches = models.JSONField(default=list)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=FloorApprovalStatus.choices,
        default=FloorApprovalStatus.PENDING,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("comment"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("price floor approval")
        verbose_name_plural = _("price floor approvals")
        indexes = [models.Index(fields=["team", "status"], name="floor_approval_team_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(invoice__isnull=False, proposal__isnull=True)
                | models.Q(invoice__isnull=True, proposal__isnull=False),
                name="floor_approval_invoice_or_proposal",
            )
        ]

    def __str__(self) -> str:
        what = f"invoice#{self.invoice_id}" if self.invoice_id else f"proposal#{self.proposal_id}"
        return f"{what}: {self.status}"

    @property
    def document(self) -> Any:
        """The invoice or the proposal held."""
        return self.invoice if self.invoice_id else self.proposal
