"""Writes about pipelines: create one from a document, edit it, make it the default or archive
it; give a team its default conveyor."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Count, ProtectedError
from django.utils.translation import gettext as _

from otdel.audit.services import record
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, NotFound
from otdel.people.models import Team, User
from otdel.sales import policies, selectors
from otdel.sales.models import Deal, Pipeline, Stage, StageKind, StageTransition
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


# --- editing --------------------------------------------------------------------------------


def _locked_pipeline(pipeline_id: int, actor: User) -> Pipeline:
    """The pipeline, locked for this transaction (edits of one pipeline go one at a time)."""
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
    if pipeline is None:
        raise NotFound(_("Pipeline not found."), code="pipeline_not_found")
    if not policies.can_edit_pipelines(actor, pipeline.team_id):
        raise Forbidden(_("Only the head of sales edits pipelines."), code="not_head_of_sales")
    return pipeline


def _deals_by_stage(stages: list[Stage]) -> dict[int, int]:
    counts = (
        Deal.objects.filter(stage__in=stages)
        .values_list("stage_id")
        .annotate(n=Count("pk"))
        .values_list("stage_id", "n")
    )
    return dict(counts)


def update_pipeline(pipeline_id: int, document: PipelineDocument, *, actor: User) -> Pipeline:
    """The head of sales renames the pipeline and its stages, changes who works a stage and
    the brief it requires, adds, reorders and removes stages, and replaces the allowed moves.
    A stage's code is its identity: deals stay in their stage across edits. A stage with deals
    in it is neither removed nor turned into another kind."""
    try:
        with transaction.atomic():
            pipeline = _locked_pipeline(pipeline_id, actor)
            before = selectors.pipeline_document_of(pipeline).model_dump(mode="json")
            wanted = {spec.code: spec for spec in document.stages}
            current = {s.code: s for s in Stage.objects.filter(pipeline=pipeline)}
            # Lock the stages that go: a deal moving into one waits for us, then fails.
            gone = list(
                Stage.objects.select_for_update()
                .filter(pipeline=pipeline)
                .exclude(code__in=wanted)
                .order_by("position")
            )
            held = _deals_by_stage(gone)
            busy = [s for s in gone if held.get(s.pk)]
            if busy:
                raise Conflict(
                    _("Stage «%(stage)s» still has deals (%(count)d); move them first.")
                    % {"stage": busy[0].name, "count": held[busy[0].pk]},
                    code="stage_has_deals",
                    stage=busy[0].code,
                    count=held[busy[0].pk],
                )
            changed_kind = [
                s for code, s in current.items() if code in wanted and wanted[code].kind != s.kind
            ]
            kept_counts = _deals_by_stage(changed_kind)
            for s in changed_kind:
                if kept_counts.get(s.pk):
                    raise Conflict(
                        _(
                            "Stage «%(stage)s» has deals (%(count)d): its kind (open, "
                            "completed, lost) cannot change."
                        )
                        % {"stage": s.name, "count": kept_counts[s.pk]},
                        code="stage_kind_has_deals",
                        stage=s.code,
                        count=kept_counts[s.pk],
                    )
            StageTransition.objects.filter(pipeline=pipeline).delete()
            stages: dict[str, Stage] = {}
            for index, spec in enumerate(document.stages):
                stage = current.get(spec.code) or Stage(pipeline=pipeline, code=spec.code)
                stage.name = spec.name
                stage.position = (index + 1) * 10
                stage.kind = spec.kind
                stage.roles = spec.roles
                stage.brief_required = spec.brief_required
                stage.save()
                stages[spec.code] = stage
            for old in gone:
                try:
                    old.delete()
                except ProtectedError as err:
                    # Past moves and handoffs name the stage: the timeline must keep it.
                    raise Conflict(
                        _(
                            "Stage «%(stage)s» appears in the history of deals and cannot be "
                            "removed; take away the moves into it instead."
                        )
                        % {"stage": old.name},
                        code="stage_has_history",
                        stage=old.code,
                    ) from err
            StageTransition.objects.bulk_create(
                StageTransition(pipeline=pipeline, from_stage=stages[a], to_stage=stages[b])
                for a, b in document.transitions
            )
            pipeline.name = document.name
            pipeline.handoff_hours = document.handoff_hours
            pipeline.updated_at = clock.now()
            pipeline.save(update_fields=["name", "handoff_hours", "updated_at"])
            record(
                actor=actor,
                verb="pipeline.updated",
                obj=pipeline,
                data={"before": before, "after": document.model_dump(mode="json")},
            )
            return pipeline
    except IntegrityError as err:
        raise Conflict(
            _("The team already has a pipeline with this name, or a deal moved meanwhile."),
            code="pipeline_conflict",
        ) from err


def set_default_pipeline(pipeline_id: int, *, actor: User) -> Pipeline:
    """The head of sales names the pipeline new deals go to unless told otherwise (one per
    team)."""
    with transaction.atomic():
        pipeline = _locked_pipeline(pipeline_id, actor)
        if not pipeline.active:
            raise Conflict(_("The pipeline is archived."), code="pipeline_archived")
        if pipeline.is_default:
            return pipeline
        now = clock.now()
        # Clear the old default first: one default per team is a database constraint.
        Pipeline.objects.filter(team_id=pipeline.team_id, is_default=True).update(
            is_default=False, updated_at=now
        )
        pipeline.is_default = True
        pipeline.updated_at = now
        pipeline.save(update_fields=["is_default", "updated_at"])
        record(actor=actor, verb="pipeline.made_default", obj=pipeline)
        return pipeline


def archive_pipeline(pipeline_id: int, *, actor: User) -> Pipeline:
    """The head of sales retires a pipeline nobody works in any more: not the default one and
    not one with open deals (its closed deals keep their history)."""
    with transaction.atomic():
        pipeline = _locked_pipeline(pipeline_id, actor)
        if not pipeline.active:
            return pipeline
        if pipeline.is_default:
            raise Conflict(
                _("Make another pipeline the default before archiving this one."),
                code="pipeline_is_default",
            )
        open_deals = Deal.objects.filter(pipeline=pipeline, stage__kind=StageKind.OPEN).count()
        if open_deals:
            raise Conflict(
                _("The pipeline still has open deals (%(count)d).") % {"count": open_deals},
                code="pipeline_has_open_deals",
                count=open_deals,
            )
        pipeline.active = False
        pipeline.updated_at = clock.now()
        pipeline.save(update_fields=["active", "updated_at"])
        record(actor=actor, verb="pipeline.archived", obj=pipeline)
        return pipeline
