"""Planning: call scripts, tasks (each knows why it exists), cadence rules, campaigns, day plans."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from otdel.core.versioned import PolicyVersion
from otdel.planning.document import CadenceDocument


class CallScript(models.Model):
    """A team's call script (steps, questions, objections with answers), shown during the call."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="call_scripts")
    title = models.CharField(_("title"), max_length=200)
    # [{"step": 1, "text": "..."}, ...]
    steps = models.JSONField(_("steps"), default=list, blank=True)
    # ["...", ...]
    questions = models.JSONField(_("questions"), default=list, blank=True)
    # [{"objection": "...", "answer": "..."}, ...]
    objections = models.JSONField(_("objections"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("call script")
        verbose_name_plural = _("call scripts")
        ordering = ["team", "title"]

    def __str__(self) -> str:
        return self.title


class TaskKind(models.TextChoices):
    CALL = "call", _("call")
    MEETING = "meeting", _("meeting")
    EMAIL = "email", _("e-mail")
    OTHER = "other", _("other")


class TaskStatus(models.TextChoices):
    """Open until done (by a call fact or by hand), cancelled, or missed when long overdue."""

    OPEN = "open", _("open")
    DONE = "done", _("done")
    CANCELLED = "cancelled", _("cancelled")
    MISSED = "missed", _("missed")


class Campaign(models.Model):
    """ "Shake up the base": the head gives a set of dormant clients to a person with a deadline;
    each client becomes a task with the rule "campaign:<id>"."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="campaigns")
    title = models.CharField(_("title"), max_length=200)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaigns"
    )
    script = models.ForeignKey(CallScript, null=True, blank=True, on_delete=models.SET_NULL)
    deadline = models.DateField(_("deadline"))
    dormant_days = models.PositiveIntegerField(default=90)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def rule(self) -> str:
        return f"campaign:{self.pk}"


class Task(models.Model):
    """Something a person must do with a client by a working day, and why (a rule code and text).

    At most one open task per (assignee, client, rule), so a cadence run twice creates nothing
    twice; a matching call fact completes a call task by itself."""

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=12, choices=TaskKind.choices)
    due_date = models.DateField(_("due"))
    title = models.CharField(_("task"), max_length=300)
    # The rule code ("reactivation_no_shipment", "first_call_after_claim",
    # "follow_up_after_shipment:3", "campaign:<id>", "manual") and the reason in words.
    rule = models.CharField(max_length=64)
    why = models.CharField(_("why"), max_length=500)
    # The day the rule counted from (the claim, the shipment); one task per rule and anchor.
    anchor = models.DateField(null=True, blank=True)
    script = models.ForeignKey(CallScript, null=True, blank=True, on_delete=models.SET_NULL)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    status = models.CharField(
        _("status"), max_length=12, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    done_at = models.DateTimeField(null=True, blank=True)
    done_by_call = models.ForeignKey(
        "activities.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignee", "client", "rule"],
                condition=models.Q(status="open"),
                name="task_one_open_per_rule",
            )
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "due_date"], name="task_assignee_due"),
            models.Index(fields=["client", "rule", "anchor"], name="task_client_rule"),
            models.Index(fields=["assignee", "done_at"], name="task_assignee_done"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.due_date:%d.%m.%Y})"


class CadencePolicy(PolicyVersion):
    """One approved version of a team's cadence rules; never changes once saved."""

    team = models.ForeignKey(
        "people.Team", on_delete=models.PROTECT, related_name="cadence_policies"
    )

    class Meta(PolicyVersion.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["team", "version"], name="cadence_policy_team_version_unique"
            )
        ]

    @property
    def doc(self) -> CadenceDocument:
        return CadenceDocument.model_validate(self.document)


class DayPlan(models.Model):
    """What a person commits to in the morning; the evening's fact is computed from the facts
    (tasks done, Call rows), never typed in."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="day_plans"
    )
    date = models.DateField()
    committed_at = models.DateTimeField()
    calls_target = models.PositiveIntegerField(_("calls planned"), default=0)

    class Meta:
        verbose_name = _("day plan")
        verbose_name_plural = _("day plans")
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["person", "date"], name="day_plan_person_date")
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.date:%d.%m.%Y}"


class DayPlanItem(models.Model):
    """One commitment of a day plan: a task, or a call to a client without a task."""

    plan = models.ForeignKey(DayPlan, on_delete=models.CASCADE, related_name="items")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE)
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "client"], name="day_plan_item_client")
        ]

    def __str__(self) -> str:
        return f"{self.plan} · {self.client_id}"
