"""Proposals (КП / ТКП): documents we write from a deal, with lines priced by the invoice rule.

A proposal is a draft until it is sent; a sent proposal is never edited again: a change is a
new revision (the next revision number, linked to the previous one), and sending the revision
replaces the previous one. Where a proposal may go next is data (otdel.sales.proposals.MOVES),
checked in one place.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from otdel.sales.models.catalogue import amount_field, currency_field
from otdel.sales.models.money import quantity_field


class ProposalKind(models.TextChoices):
    """A commercial proposal (prices and terms) or a technical and commercial one (with the
    technical part a customer's engineers read)."""

    COMMERCIAL = "kp", _("commercial proposal (КП)")
    TECHNICAL = "tkp", _("technical and commercial proposal (ТКП)")


class ProposalStatus(models.TextChoices):
    """draft → sent → accepted / declined / expired; a draft may be cancelled; a sent, declined
    or expired proposal is superseded when its next revision is sent."""

    DRAFT = "draft", pgettext_lazy("proposal status", "draft")
    SENT = "sent", pgettext_lazy("proposal status", "sent")
    ACCEPTED = "accepted", pgettext_lazy("proposal status", "accepted")
    DECLINED = "declined", pgettext_lazy("proposal status", "declined")
    EXPIRED = "expired", pgettext_lazy("proposal status", "expired")
    SUPERSEDED = "superseded", pgettext_lazy("proposal status", "replaced by a revision")
    CANCELLED = "cancelled", pgettext_lazy("proposal status", "cancelled")


class Proposal(models.Model):
    """One revision of a proposal issued from a deal: lines, totals (sums of lines rounded once
    each, as invoices), validity and status. Only a draft's lines change; a sent one is revised."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    deal = models.ForeignKey("sales.Deal", on_delete=models.PROTECT, related_name="proposals")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(
        _("kind"), max_length=3, choices=ProposalKind.choices, default=ProposalKind.COMMERCIAL
    )
    # Our number: given to the first revision, kept by every later one.
    number = models.CharField(_("number"), max_length=60, blank=True)
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    previous = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_revision",
        verbose_name=_("previous revision"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT
    )
    valid_until = models.DateField(_("valid until"))
    currency = currency_field()
    net_total = amount_field(_("amount without VAT"))
    vat_total = amount_field(_("VAT"))
    total = amount_field(_("total"))
    terms = models.TextField(_("terms (payment, delivery, warranty)"), blank=True)
    technical_part = models.TextField(_("technical part"), blank=True)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    tender = models.ForeignKey(
        "sales.Tender",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
        verbose_name=_("tender"),
    )
    lot = models.ForeignKey(
        "sales.TenderLot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
        verbose_name=_("lot"),
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    # Who recorded the client's answer (accepted / declined) or cancelled the draft, and when.
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    invoice = models.OneToOneField(
        "sales.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposal",
        verbose_name=_("invoice"),
    )

    class Meta:
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total__gte=0, net_total__gte=0), name="proposal_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(revision=1, previous__isnull=True)
                | models.Q(revision__gt=1, previous__isnull=False),
                name="proposal_revision_shape",
            ),
            models.CheckConstraint(
                condition=models.Q(lot__isnull=True) | models.Q(tender__isnull=False),
                name="proposal_lot_needs_tender",
            ),
        ]
        indexes = [
            models.Index(fields=["deal", "created_at"], name="proposal_deal"),
            models.Index(fields=["team", "status"], name="proposal_team_status"),
            models.Index(fields=["client", "created_at"], name="proposal_client"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} № {self.number} ({self.revision})"

    @property
    def is_draft(self) -> bool:
        return self.status == ProposalStatus.DRAFT


class ProposalLine(models.Model):
    """One line of a proposal, with the amounts of an invoice line (sales.money.line): rounded
    half-up to the kopeck once, here; an invoice issued from the proposal copies them."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=1)
    product = models.ForeignKey(
        "sales.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    quantity = quantity_field(_("quantity"))
    unit_price = amount_field(_("unit price without VAT"))
    discount_percent = models.DecimalField(
        _("discount, %"), max_digits=5, decimal_places=2, default=0
    )
    vat_rate = models.DecimalField(
        _("VAT rate, %"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    net_amount = amount_field(_("amount without VAT"))
    vat_amount = amount_field(_("VAT"))
    total_amount = amount_field(_("total"))

    class Meta:
        ordering = ["proposal", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lte=100),
                name="proposalline_discount_range",
            ),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="proposalline_qty"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.unit_price} = {self.total_amount}"
