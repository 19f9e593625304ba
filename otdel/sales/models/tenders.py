"""Tenders: a purchase (registry number, platform, customer, deadline, lots) in which several of
our clients may bid. One lead manager, assigned by the head of sales, runs all our bids in it;
when clients of two or more owners bid and nobody leads, a conflict is raised; the lead manager
sets each participant's floor, below which no one else may offer a price for the tender."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from otdel.sales.models.catalogue import amount_field, currency_field


class TenderOutcome(models.TextChoices):
    """How a tender ended for us: still open, won by one of our bidding clients, lost to a
    competitor, or cancelled by the customer."""

    OPEN = "open", pgettext_lazy("tender outcome", "open")
    WON = "won", pgettext_lazy("tender outcome", "won")
    LOST = "lost", pgettext_lazy("tender outcome", "lost")
    CANCELLED = "cancelled", pgettext_lazy("tender outcome", "cancelled")


class Tender(models.Model):
    """A purchase on a platform, unique by registry number in a team (a second manager who
    finds it links his client to the same tender, which is how conflicts come to light)."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    registry_number = models.CharField(_("registry number"), max_length=64)
    title = models.CharField(_("subject of the purchase"), max_length=500, blank=True)
    platform = models.CharField(_("platform"), max_length=120)
    customer_name = models.CharField(_("customer"), max_length=300)
    customer_inn = models.CharField(_("customer's ИНН"), max_length=12, blank=True)
    submission_deadline = models.DateTimeField(_("bids are accepted until"))
    currency = currency_field()
    url = models.URLField(_("link to the purchase"), max_length=500, blank=True)
    lead_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tenders_led",
        verbose_name=_("lead manager"),
    )
    lead_assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    lead_assigned_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The result, recorded by the lead manager or the head of sales once bids are closed.
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=TenderOutcome.choices, default=TenderOutcome.OPEN
    )
    winner = models.ForeignKey(
        "sales.TenderParticipant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("our winning client"),
    )
    winning_price = amount_field(_("winning price"), null=True, blank=True)
    outcome_note = models.CharField(_("comment"), max_length=500, blank=True)
    outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("tender")
        verbose_name_plural = _("tenders")
        ordering = ["submission_deadline", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "registry_number"], name="tender_team_registry_number"
            )
        ]
        indexes = [
            models.Index(fields=["team", "submission_deadline"], name="tender_team_deadline")
        ]

    def __str__(self) -> str:
        return f"№ {self.registry_number} · {self.customer_name}"


class TenderLot(models.Model):
    """A lot of a tender: what is bought, and the customer's maximum price (НМЦ) if stated."""

    tender = models.ForeignKey(Tender, on_delete=models.PROTECT, related_name="lots")
    number = models.PositiveSmallIntegerField(_("lot №"))
    name = models.CharField(_("name"), max_length=500)
    max_price = amount_field(_("maximum price"), null=True, blank=True)

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        ordering = ["tender", "number"]
        constraints = [
            models.UniqueConstraint(fields=["tender", "number"], name="tenderlot_number"),
            models.CheckConstraint(
                condition=models.Q(max_price__isnull=True) | models.Q(max_price__gt=0),
                name="tenderlot_max_price_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.name}"


class TenderParticipant(models.Model):
    """One of our clients bidding in a tender, with its owner at the moment it was linked
    (conflicts and notifications are about these owners)."""

    tender = models.ForeignKey(Tender, on_delete=models.PROTECT, related_name="participants")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner when linked"),
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    added_at = models.DateTimeField()

    class Meta:
        verbose_name = _("tender participant")
        verbose_name_plural = _("tender participants")
        ordering = ["tender", "added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tender", "client"], name="tenderparticipant_client")
        ]

    def __str__(self) -> str:
        return f"tender#{self.tender_id}: client#{self.client_id}"


class TenderConflict(models.Model):
    """Clients of two or more owners bid in a tender with no lead manager: raised automatically,
    shown on the tender card, open until the head of sales assigns a lead manager (or the
    participants shrink to one owner). At most one open conflict per tender."""

    tender = models.ForeignKey(Tender, on_delete=models.PROTECT, related_name="conflicts")
    # The owners whose clients bid (user ids), as they stood when last checked.
    owners = models.JSONField(default=list)
    raised_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    resolution = models.CharField(max_length=20, blank=True)

    class Meta:
        verbose_name = _("tender conflict")
        verbose_name_plural = _("tender conflicts")
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tender"],
                condition=models.Q(resolved_at__isnull=True),
                name="tenderconflict_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"tender#{self.tender_id}: {self.owners}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class TenderFloor(models.Model):
    """The least a participant may offer in a tender, set by the lead manager: a minimum price
    (the proposal's total with VAT) and/or a minimum margin, for one lot or for every lot
    (the lot's own floor wins). Binds everyone but the lead manager and the head of sales."""

    tender = models.ForeignKey(Tender, on_delete=models.PROTECT, related_name="floors")
    participant = models.ForeignKey(
        TenderParticipant, on_delete=models.PROTECT, related_name="floors"
    )
    lot = models.ForeignKey(
        TenderLot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    min_price = amount_field(_("minimum price"), null=True, blank=True)
    min_margin_percent = models.DecimalField(
        _("minimum margin, %"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    set_at = models.DateTimeField()

    class Meta:
        verbose_name = _("tender floor")
        verbose_name_plural = _("tender floors")
        ordering = ["tender", "participant", "lot", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_price__isnull=False)
                | models.Q(min_margin_percent__isnull=False),
                name="tenderfloor_has_a_limit",
            ),
            models.UniqueConstraint(
                fields=["participant", "lot"], name="tenderfloor_participant_lot"
            ),
            models.UniqueConstraint(
                fields=["participant"],
                condition=models.Q(lot__isnull=True),
                name="tenderfloor_participant_every_lot",
            ),
        ]

    def __str__(self) -> str:
        return f"participant#{self.participant_id} lot#{self.lot_id}"
