"""Activities on a client: calls, meetings, e-mails, notes — logged by people or the phone system."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ActivityKind(models.TextChoices):
    CALL = "call", _("call")
    MEETING = "meeting", _("meeting")
    EMAIL = "email", _("e-mail")
    NOTE = "note", _("note")


class Direction(models.TextChoices):
    OUTBOUND = "out", _("outbound")
    INBOUND = "in", _("inbound")


class Activity(models.Model):
    """Something a person did with a client. Facts from a system carry (source, external_id),
    unique, so a re-sent record changes nothing; manual entries are self-reported."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="activities"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ActivityKind.choices)
    occurred_at = models.DateTimeField(_("when"))
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, blank=True
    )
    talk_seconds = models.PositiveIntegerField(_("talk time, s"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("text"), blank=True)
    source = models.CharField(max_length=32, default="manual")
    external_id = models.CharField(max_length=128, null=True, blank=True)
    self_reported = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="activity_source_external_unique",
            )
        ]
        indexes = [
            models.Index(fields=["client", "occurred_at"], name="activity_client_at"),
            models.Index(fields=["author", "occurred_at"], name="activity_author_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d}"
