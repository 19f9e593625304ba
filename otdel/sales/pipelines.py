"""Writes about pipelines: create one from a document; give a team its default conveyor."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, NotFound
from otdel.people.models import Team, User
from otdel.sales import policies
from otdel.sales.models import Pipeline, Stage, StageTransition
from otdel.sales.pipeline_document import DEFAULT_PIPELINE, PipelineDocument


def _build(
    team_id: int, doc: PipelineDocument, *, actor: User | None, is_default: bool
) -> Pipeline:
    """Write the pipeline, its stages and allowed moves (inside the caller's transaction)."""
    now = clock.now()
    pipeline = Pipeline.objects.create(
        team_id=team_id,
        name=doc.name,
        is_default=is_default,
        handoff_hours=doc.handoff_hours,
        created_by=actor if actor is not None and actor.pk else None,
        created_at=now,
        updated_at=now,
    )
    stages = {
        spec.code: Stage.objects.create(
            pipeline=pipeline,
            code=spec.code,
            name=spec.name,
            position=(index + 1) * 10,
            kind=spec.kind,
            roles=spec.roles,
            brief_required=spec.brief_required,
        )
        for index, spec in enumerate(doc.stages)
    }
    StageTransition.objects.bulk_create(
        StageTransition(pipeline=pipeline, from_stage=stages[a], to_stage=stages[b])
        for a, b in doc.transitions
    )
    record(
        actor=actor,
        verb="pipeline.created",
        obj=pipeline,
        data={"default": is_default, "document": doc.model_dump(mode="json")},
    )
    return pipeline


def create_pipeline(
    team_id: int, document: PipelineDocument, *, actor: User, make_default: bool = False
) -> Pipeline:
    """The head of sales sets up a pipeline for his team (the team's first one becomes its
    default); the stages and allowed moves come from the document."""
    if not policies.can_edit_pipelines(actor, team_id):
        raise Forbidden(_("Only the head of sales sets up pipelines."), code="not_head_of_sales")
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(_("Team not found."), code="team_not_found")
    try:
        with transaction.atomic():
            has_default = Pipeline.objects.filter(team_id=team_id, is_default=True).exists()
            if make_default and has_default:
                Pipeline.objects.filter(team_id=team_id, is_default=True).update(
                    is_default=False, updated_at=clock.now()
                )
            return _build(
                team_id, document, actor=actor, is_default=make_default or not has_default
            )
    except IntegrityError as err:
        raise Conflict(
            _("The team already has a pipeline with this name."), code="pipeline_exists"
        ) from err


def ensure_default_pipeline(team_id: int, *, actor: User | None = None) -> Pipeline:
    """The team's default pipeline; a team without one gets the standard conveyor. Safe to
    call from several processes at once: one default per team is a database constraint."""
    existing = Pipeline.objects.filter(team_id=team_id, is_default=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _build(team_id, DEFAULT_PIPELINE, actor=actor, is_default=True)
    except IntegrityError as err:
        # Another process created it a moment ago (or a pipeline has the standard name).
        created = Pipeline.objects.filter(team_id=team_id, is_default=True).first()
        if created is None:
            raise Conflict(
                _("The team already has a pipeline with this name."), code="pipeline_exists"
            ) from err
        return created
