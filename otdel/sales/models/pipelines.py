"""Pipelines as data: stages that name the roles working them, and the moves allowed between them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Pipeline(models.Model):
    """A team's way of running deals: ordered stages and allowed moves. A team may run several;
    one is its default (new deals go there unless told otherwise)."""

    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="pipelines")
    name = models.CharField(_("name"), max_length=200)
    is_default = models.BooleanField(_("default"), default=False)
    active = models.BooleanField(_("active"), default=True)
    # How long a receiver has to accept or return a handoff, in working hours (09:00–18:00).
    handoff_hours = models.PositiveSmallIntegerField(_("hours to accept a handoff"), default=4)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["team", "-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"],
                condition=models.Q(is_default=True),
                name="pipeline_one_default_per_team",
            ),
            models.UniqueConstraint(fields=["team", "name"], name="pipeline_team_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class StageKind(models.TextChoices):
    """Open stages are worked on; a deal in a won or lost stage is closed."""

    OPEN = "open", _("open")
    WON = "won", _("completed")
    LOST = "lost", _("lost")


class Stage(models.Model):
    """One step of a pipeline, worked by one or more roles (the first is the one a handoff is
    offered to by default). Entering it from another role's hands requires the brief fields it
    lists."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="stages")
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("order"))
    kind = models.CharField(_("kind"), max_length=8, choices=StageKind.choices)
    # ["hunter", "account_manager"]: the roles that work deals in this stage; empty = any role.
    roles = models.JSONField(_("roles"), default=list, blank=True)
    # ["needs", "budget", ...]: brief fields required on a handoff into this stage.
    brief_required = models.JSONField(_("brief fields required"), default=list, blank=True)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "code"], name="stage_pipeline_code_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_final(self) -> bool:
        return self.kind != StageKind.OPEN

    @property
    def primary_role(self) -> str | None:
        return self.roles[0] if self.roles else None

    def worked_by(self, role: str) -> bool:
        """Whether a person of this role works deals in this stage (no roles: anyone)."""
        return not self.roles or role in self.roles


class StageTransition(models.Model):
    """One allowed move between two stages of the same pipeline (the data move_deal checks)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="moves_out")
    to_stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="moves_in")

    class Meta:
        verbose_name = _("allowed move")
        verbose_name_plural = _("allowed moves")
        constraints = [
            models.UniqueConstraint(
                fields=["from_stage", "to_stage"], name="transition_from_to_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_stage_id} → {self.to_stage_id}"
