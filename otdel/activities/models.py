"""Activities on a client: calls, meetings, e-mails, notes — logged by people or the phone system."""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.core.versioned import PolicyVersion, version_in_force


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
    unique, so a re-sent record changes nothing; manual entries are self-reported. Calls from the
    phone system are not activities: they are Call facts, on the timeline beside these."""

    # No single-column indexes: (client, occurred_at) and (author, occurred_at) serve every
    # lookup by client or author, and each extra index is written by every call stored.
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="activities", db_index=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ActivityKind.choices)
    occurred_at = models.DateTimeField(_("when"))
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, blank=True
    )
    talk_seconds = models.PositiveIntegerField(_("talk time, s"), null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("text"), blank=True)
    # As long as a call's source: a call's timeline entry carries it.
    source = models.CharField(max_length=64, default="manual")
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


class CallDirection(models.TextChoices):
    """Who started the call, as the phone system saw it (never as a person typed it)."""

    OUTBOUND = "out", _("outbound")
    INBOUND = "in", _("inbound")
    INTERNAL = "internal", _("internal")


class CallDisposition(models.TextChoices):
    """How the call ended."""

    ANSWERED = "answered", _("answered")
    BUSY = "busy", _("busy")
    NO_ANSWER = "no_answer", _("no answer")
    FAILED = "failed", _("failed")
    ABANDONED = "abandoned", _("abandoned by the caller")


class CallMeasure(models.TextChoices):
    """Which measure a judged call counts in: effective calls, or stale callbacks when the
    team's policy counts those separately (never both)."""

    EFFECTIVE = "effective", _("effective call")
    CALLBACK = "callback", _("callback")


class Call(models.Model):
    """A call as the phone system reported it: an append-only fact, unique by
    (source, external_id), so a re-sent record changes nothing. Manual calls are self-reported.
    The verdict (effective or not, and why) is written by the effective-call policy."""

    source = models.CharField(max_length=64)
    external_id = models.CharField(max_length=128)
    started_at = models.DateTimeField(_("started"))
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    direction = models.CharField(_("direction"), max_length=8, choices=CallDirection.choices)
    disposition = models.CharField(_("result"), max_length=12, choices=CallDisposition.choices)
    talk_seconds = models.PositiveIntegerField(_("talk time, s"), default=0)
    ring_seconds = models.PositiveIntegerField(default=0)
    # Our side: the extension or SIP account, and the person it belongs to.
    account = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
        db_index=False,
    )
    # Their side: the number as the PBX had it, normalised to E.164 for matching.
    their_number = models.CharField(max_length=64, blank=True)
    their_e164 = models.CharField(max_length=20, blank=True)
    contact = models.ForeignKey(
        "clients.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    client = models.ForeignKey(
        "clients.Client",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
        db_index=False,
    )
    recording_url = models.CharField(max_length=500, blank=True)
    self_reported = models.BooleanField(default=False)
    # A call a person logged by hand is shown through the timeline entry he wrote (with his
    # notes); a call from the phone system is its own timeline entry and has none, so storing
    # it writes one row, not two (docs/decisions.md).
    activity = models.ForeignKey(
        Activity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="logged_calls",
        db_index=False,
    )
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    # The verdict of the effective-call policy version in force at started_at.
    effective = models.BooleanField(null=True)
    verdict_reasons = models.JSONField(default=list, blank=True)
    # The version that gave the verdict is not stored: it is the one in force at started_at
    # (verdict_policy), so a new version re-writes only the calls whose verdict changes.
    # The measure the verdict counts the call in ('' : none), so callbacks can be reported
    # apart from effective calls without re-reading the reasons.
    measure = models.CharField(
        _("counted as"), max_length=10, choices=CallMeasure.choices, blank=True, default=""
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="call_source_external_unique"
            ),
            # One logged call per timeline entry; calls without one write no index entry.
            models.UniqueConstraint(
                fields=["activity"],
                condition=models.Q(activity__isnull=False),
                name="call_logged_activity_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "started_at"], name="call_user_started"),
            models.Index(fields=["client", "started_at"], name="call_client_started"),
            # Numbers are looked up only among unknown callers: calls matched to a client (most
            # of them) do not write this index.
            models.Index(
                fields=["their_e164", "started_at"],
                name="call_unknown_number",
                condition=models.Q(client__isnull=True),
            ),
            models.Index(
                fields=["started_at"],
                name="call_unknown_started",
                condition=models.Q(client__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_direction_display()} {self.their_number} {self.started_at:%Y-%m-%d %H:%M}"
        )

    @cached_property
    def verdict_policy(self) -> EffectiveCallPolicy | None:
        """The policy version the verdict was given under: the one in force when the call
        started for the caller's team (the client's when the caller has none); None for the
        defaults, or when the call is not judged yet."""
        team_id = self.judging_team_id
        if self.effective is None or team_id is None:
            return None
        return version_in_force(EffectiveCallPolicy, team_id, self.started_at)

    @property
    def judging_team_id(self) -> int | None:
        """Whose policy judges the call: the caller's team, the client's when he has none."""
        return (self.user.team_id if self.user is not None else None) or (
            self.client.team_id if self.client is not None else None
        )


class EffectiveCallPolicy(PolicyVersion):
    """One approved version of a team's effective-call policy; never changes once saved."""

    team = models.ForeignKey(
        "people.Team", on_delete=models.PROTECT, related_name="effective_call_policies"
    )

    class Meta(PolicyVersion.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["team", "version"], name="call_policy_team_version_unique"
            )
        ]


class CallOutcomeKind(models.TextChoices):
    """What a call achieved, as the effective-call policy may require it."""

    DECISION_MAKER_REACHED = "decision_maker_reached", _("decision maker reached")
    MOBILE_OBTAINED = "mobile_obtained", _("mobile number obtained")
    EMAIL_OBTAINED = "email_obtained", _("e-mail obtained")
    PRESENTATION_SENT = "presentation_sent", _("presentation sent")


class CallOutcome(models.Model):
    """An outcome the caller marked on the post-call card. Where the data can confirm it (a new
    mobile on the contact, a presentation e-mail logged within 48 h), `verified` says whether
    it did; None means not checked (yet)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="outcomes")
    kind = models.CharField(_("outcome"), max_length=32, choices=CallOutcomeKind.choices)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    marked_at = models.DateTimeField()
    verified = models.BooleanField(null=True)
    verification_note = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("call outcome")
        verbose_name_plural = _("call outcomes")
        constraints = [models.UniqueConstraint(fields=["call", "kind"], name="call_outcome_unique")]

    def __str__(self) -> str:
        return self.get_kind_display()
