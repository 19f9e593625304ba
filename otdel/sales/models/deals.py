"""Deals, the handoffs between roles that move them, and their append-only timeline."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.core.money import Money
from otdel.sales.models.catalogue import amount_field, currency_field


class DealSource(models.TextChoices):
    """How a deal arose; pay plans pay differently by source (set by rules, see sales.sources)."""

    INBOUND = "inbound", _("inbound request")
    OWN_BASE = "own_base", _("the owner's base")
    POOL = "pool", _("from the pool")
    NEW_HUNT = "new_hunt", _("new hunt")
    REACTIVATION = "reactivation", _("reactivation of a dormant client")


class Deal(models.Model):
    """A chance to sell to one client, moving through a pipeline's stages. The stage and the
    responsible person change only through otdel.sales services (conditional updates), and every
    change leaves a DealEvent; invoices, payments and shipments will hang off the deal."""

    team = models.ForeignKey(
        "people.Team", on_delete=models.PROTECT, related_name="deals", db_index=False
    )
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="deals")
    pipeline = models.ForeignKey(
        "sales.Pipeline", on_delete=models.PROTECT, related_name="deals", db_index=False
    )
    stage = models.ForeignKey("sales.Stage", on_delete=models.PROTECT, related_name="deals")
    title = models.CharField(_("title"), max_length=300)
    amount_estimate = amount_field(_("amount estimate"), default=0)
    currency = currency_field()
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible"),
        on_delete=models.PROTECT,
        related_name="deals_responsible",
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=16, choices=DealSource.choices)
    # Why the source is what it is: the rule, and the facts it used (data, not prose).
    source_reason = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    stage_entered_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The board: a pipeline's deals by stage; "my deals"; a team's list.
            models.Index(fields=["pipeline", "stage", "updated_at"], name="deal_board"),
            models.Index(fields=["responsible", "closed_at"], name="deal_responsible"),
            models.Index(fields=["team", "created_at"], name="deal_team_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_estimate__gte=0), name="deal_amount_not_negative"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def amount(self) -> Money:
        return Money(self.amount_estimate, self.currency)

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class HandoffStatus(models.TextChoices):
    """Pending until the receiver accepts it or returns it with a reason."""

    PENDING = "pending", _("awaiting acceptance")
    ACCEPTED = "accepted", _("accepted")
    RETURNED = "returned", _("returned")


class Handoff(models.Model):
    """A deal handed from one role to another with a brief: offered to a person or to a role's
    queue, accepted or returned with a reason by a deadline in working hours; until accepted the
    sender stays responsible. One pending handoff per deal."""

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="handoffs")
    from_stage = models.ForeignKey("sales.Stage", on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey("sales.Stage", on_delete=models.PROTECT, related_name="+")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="handoffs_sent"
    )
    # A person, or nobody: then anyone of `offered_role` in the deal's team may take it.
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handoffs_offered",
        db_index=False,
    )
    offered_role = models.CharField(_("role"), max_length=32)
    brief = models.JSONField(_("brief"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=HandoffStatus.choices, default=HandoffStatus.PENDING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()
    deadline = models.DateTimeField(_("accept by"))
    escalated_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    return_reason = models.TextField(_("reason for returning"), blank=True)

    class Meta:
        verbose_name = _("handoff")
        verbose_name_plural = _("handoffs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal"],
                condition=models.Q(status="pending"),
                name="handoff_one_pending_per_deal",
            )
        ]
        indexes = [
            models.Index(fields=["status", "deadline"], name="handoff_status_deadline"),
            models.Index(fields=["offered_to", "status"], name="handoff_offered_to"),
            models.Index(fields=["offered_role", "status"], name="handoff_offered_role"),
        ]

    def __str__(self) -> str:
        return f"handoff #{self.pk} deal#{self.deal_id}: {self.from_stage_id} → {self.to_stage_id}"

    @property
    def is_pending(self) -> bool:
        return self.status == HandoffStatus.PENDING


class DealEventKind(models.TextChoices):
    """Everything that happens to a deal; the credit split of the pay plans reads these."""

    CREATED = "created", _("deal opened")
    MOVED = "moved", _("moved")
    HANDOFF_OFFERED = "handoff_offered", _("handoff offered")
    HANDOFF_ACCEPTED = "handoff_accepted", _("handoff accepted")
    HANDOFF_RETURNED = "handoff_returned", _("handoff returned")
    HANDOFF_REDIRECTED = "handoff_redirected", _("handoff offered to someone else")
    HANDOFF_ESCALATED = "handoff_escalated", _("handoff overdue: escalated")
    RETURNED_TO_OWNER = "returned_to_owner", _("returned to the account manager")
    SOURCE_CHANGED = "source_changed", _("source changed")
    INVOICE_ISSUED = "invoice_issued", _("invoice issued")
    PAYMENT_RECORDED = "payment_recorded", _("payment recorded")
    SHIPMENT_RECORDED = "shipment_recorded", _("shipment recorded")
    CREDIT_NOTE = "credit_note", _("credit note")
    GOODS_RETURNED = "goods_returned", _("goods returned")
    PROPOSAL_SENT = "proposal_sent", _("proposal sent")
    PROPOSAL_ACCEPTED = "proposal_accepted", _("proposal accepted")
    PROPOSAL_DECLINED = "proposal_declined", _("proposal declined")


class DealEvent(models.Model):
    """The deal's timeline: one append-only row per change (who, when, stage and responsible
    before → after, and the data that explains it). Rows are never edited or deleted."""

    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(max_length=20, choices=DealEventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    from_stage = models.ForeignKey(
        "sales.Stage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    to_stage = models.ForeignKey(
        "sales.Stage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # The responsible person before and after the event (equal when it did not change).
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    handoff = models.ForeignKey(
        Handoff,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["deal", "at"], name="dealevent_deal_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind} deal#{self.deal_id}"
