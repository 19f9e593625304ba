"""Ownership: the team policy versions, the ledger of owner changes, transfer requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.core.versioned import PolicyVersion
from otdel.ownership.policy_document import OwnershipPolicyDocument


class OwnershipPolicy(PolicyVersion):
    """One approved version of a team's ownership policy; it never changes once saved."""

    team = models.ForeignKey(
        "people.Team", on_delete=models.PROTECT, related_name="ownership_policies"
    )

    class Meta(PolicyVersion.Meta):
        constraints = [
            models.UniqueConstraint(fields=["team", "version"], name="policy_team_version_unique")
        ]

    @property
    def doc(self) -> OwnershipPolicyDocument:
        return OwnershipPolicyDocument.model_validate(self.document)


class EventKind(models.TextChoices):
    """Every way a client's owner can change."""

    CREATED = "created", _("created")
    CLAIM = "claim", _("claimed from the pool")
    RELEASE = "release", _("released to the pool")
    ASSIGN = "assign", _("assigned by the head of sales")
    TRANSFER = "transfer", _("transferred")
    AUTO_RETURN = "auto_return", _("returned to the pool automatically")
    MERGE = "merge", _("merged")
    IMPORT = "import", _("imported")
    WARNING = "warning", _("warned before return")


class OwnershipEvent(models.Model):
    """The ownership ledger: one append-only row per change, with actor, reason and policy."""

    client = models.ForeignKey(
        "clients.Client",
        on_delete=models.PROTECT,
        related_name="ownership_events",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    at = models.DateTimeField()
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
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    reason = models.CharField(max_length=500, blank=True)
    policy = models.ForeignKey(
        OwnershipPolicy, null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        # The composite indexes serve every lookup by client, loser, receiver and kind; the
        # foreign keys get no index of their own (each would be written by every sweep row).
        indexes = [
            models.Index(fields=["client", "at"], name="ownev_client_at"),
            models.Index(fields=["from_user", "client", "at"], name="ownev_from_client_at"),
            models.Index(fields=["to_user", "kind", "at"], name="ownev_to_kind_at"),
            models.Index(fields=["kind", "at"], name="ownev_kind_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d} {self.kind} client#{self.client_id}"


class TransferStatus(models.TextChoices):
    """A transfer request's states; the allowed moves are in ownership.transfers.TRANSITIONS."""

    AWAITING_OWNER = "awaiting_owner", _("awaiting the owner's answer")
    AWAITING_DECISION = "awaiting_decision", _("awaiting the head of sales")
    APPROVED = "approved", _("approved")
    AUTO_APPROVED = "auto_approved", _("approved automatically")
    DENIED = "denied", _("denied")
    CANCELLED = "cancelled", _("cancelled")
    OBSOLETE = "obsolete", _("no longer relevant")


class OwnerAnswer(models.TextChoices):
    AGREE = "agree", _("agrees to give the client")
    OBJECT = "object", _("objects")


class TransferRequest(models.Model):
    """ "I have an order from your client": a request to take over an owned client."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="transfer_requests"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=TransferStatus.choices)
    created_at = models.DateTimeField()
    owner_deadline = models.DateTimeField()
    owner_answer = models.CharField(max_length=8, choices=OwnerAnswer.choices, blank=True)
    owner_comment = models.TextField(blank=True)
    owner_answered_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    policy = models.ForeignKey(OwnershipPolicy, null=True, on_delete=models.PROTECT)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open request per client and requester at a time.
            models.UniqueConstraint(
                fields=["client", "requester"],
                condition=models.Q(status__in=["awaiting_owner", "awaiting_decision"]),
                name="transfer_one_open_per_requester",
            )
        ]
        indexes = [
            models.Index(fields=["status", "owner_deadline"], name="transfer_status_deadline")
        ]

    def __str__(self) -> str:
        return f"transfer #{self.pk} {self.client_id}: {self.owner_id} → {self.requester_id}"

    @property
    def is_open(self) -> bool:
        return self.status in (TransferStatus.AWAITING_OWNER, TransferStatus.AWAITING_DECISION)
