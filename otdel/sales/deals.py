"""Writes about deals themselves: opening one (its source set by the rules) and the head of
sales changing its source. Stage moves and handoffs are in otdel.sales.moves."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from otdel.clients.selectors import client_for
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.people.models import User
from otdel.people.services import notify
from otdel.sales import policies
from otdel.sales.events import write_event
from otdel.sales.models import Deal, DealEventKind, DealSource, Pipeline, Stage, StageKind
from otdel.sales.pipelines import ensure_default_pipeline
from otdel.sales.schemas import DealIn
from otdel.sales.sources import source_for


def deal_url(deal_id: int) -> str:
    return reverse("sales:deal_detail", args=[deal_id])


def _responsible(data: DealIn, *, actor: User, owner_id: int, team_id: int) -> User:
    """Me by default; the head of sales opens deals for the client's owner or anyone of the team."""
    wanted = data.responsible_id
    if wanted is None:
        wanted = actor.pk if actor.pk == owner_id else owner_id
    if wanted == actor.pk:
        return actor
    if not policies.can_edit_pipelines(actor, team_id):
        raise Forbidden(
            _("Only the head of sales opens deals for someone else."), code="not_head_of_sales"
        )
    person = User.objects.filter(pk=wanted, is_active=True, team_id=team_id).first()
    if person is None:
        raise Invalid(
            _("Pick an active person of the client's team."),
            code="invalid_responsible",
            field="responsible_id",
        )
    return person


def _pipeline(data: DealIn, *, team_id: int, actor: User) -> Pipeline:
    if data.pipeline_id is None:
        return ensure_default_pipeline(team_id, actor=actor)
    pipeline = Pipeline.objects.filter(pk=data.pipeline_id, team_id=team_id, active=True).first()
    if pipeline is None:
        raise Invalid(
            _("The client's team runs no such pipeline."),
            code="invalid_pipeline",
            field="pipeline_id",
        )
    return pipeline


def create_deal(data: DealIn, *, actor: User, for_inbound_request: bool = False) -> Deal:
    """The client's owner (or the head of sales) opens a deal in the pipeline's first stage;
    its source is set from how it arose (see otdel.sales.sources) and recorded with the reason.
    The specialist an inbound request was routed to opens it too (`for_inbound_request`: the
    inbound service has checked that he holds the request; the owner is told)."""
    client = client_for(actor, data.client_id)
    if client.owner_id is None:
        raise Conflict(
            _("This client is in the pool: claim it before opening a deal."), code="client_in_pool"
        )
    if not (for_inbound_request or policies.can_create_deal(actor, client)):
        raise Forbidden(
            _("Only the client's owner or the head of sales opens deals on it."), code="not_owner"
        )
    responsible = _responsible(data, actor=actor, owner_id=client.owner_id, team_id=client.team_id)
    now = clock.now()
    with transaction.atomic():
        pipeline = _pipeline(data, team_id=client.team_id, actor=actor)
        first = (
            Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN)
            .order_by("position")
            .first()
        )
        if first is None:
            raise Conflict(_("The pipeline has no open stage."), code="pipeline_has_no_stage")
        verdict = source_for(client, responsible.pk, inbound=data.inbound, at=now)
        deal = Deal.objects.create(
            team_id=client.team_id,
            client=client,
            pipeline=pipeline,
            stage=first,
            title=data.title,
            amount_estimate=data.amount_estimate,
            currency=data.currency,
            responsible=responsible,
            source=verdict.source,
            source_reason=verdict.reason,
            created_by=actor,
            created_at=now,
            updated_at=now,
            stage_entered_at=now,
        )
        write_event(
            deal,
            DealEventKind.CREATED,
            actor=actor,
            at=now,
            to_stage=first,
            to_user=responsible,
            data={
                "title": deal.title,
                "amount": str(deal.amount_estimate),
                "currency": deal.currency,
                "source": verdict.source,
                "source_reason": verdict.reason,
            },
        )
        if responsible.pk != actor.pk:
            transaction.on_commit(
                partial(
                    notify,
                    [responsible],
                    kind="deal_assigned",
                    client_id=client.pk,
                    url=deal_url(deal.pk),
                    text=_("%(who)s opened the deal «%(deal)s» for you")
                    % {"who": actor.display_name, "deal": deal.title},
                )
            )
    return deal


def change_source(deal_id: int, *, source: str, actor: User, reason: str) -> Deal:
    """Only the head of sales changes a deal's source, with a reason; the old source and its
    rule stay in the timeline and the audit trail."""
    reason = (reason or "").strip()
    if source not in DealSource.values:
        raise Invalid(_("Unknown source."), code="invalid_source", field="source")
    with transaction.atomic():
        deal = Deal.objects.select_related("stage").filter(pk=deal_id).first()
        if deal is None or not policies.can_view_deal(actor, deal):
            raise NotFound(_("Deal not found."), code="deal_not_found")
        if not policies.can_change_source(actor, deal):
            raise Forbidden(
                _("Only the head of sales changes a deal's source."), code="not_head_of_sales"
            )
        if not reason:
            raise Invalid(_("Say why the source changes."), code="reason_required", field="reason")
        if source == deal.source:
            raise Invalid(_("The deal already has this source."), code="same_source")
        previous, previous_reason = deal.source, deal.source_reason
        now = clock.now()
        new_reason = {
            "rule": "set_by_head_of_sales",
            "reason": reason,
            "previous": previous,
            "previous_reason": previous_reason,
        }
        # Conditional: a concurrent change of the source makes this one fail, not overwrite it.
        if not Deal.objects.filter(pk=deal.pk, source=previous).update(
            source=source, source_reason=new_reason, updated_at=now
        ):
            raise Conflict(
                _("Someone changed this deal a moment ago. Reload and try again."),
                code="deal_changed",
            )
        deal.source, deal.source_reason, deal.updated_at = source, new_reason, now
        write_event(
            deal,
            DealEventKind.SOURCE_CHANGED,
            actor=actor,
            at=now,
            data={"from": previous, "to": source, "reason": reason},
        )
    return deal
