"""Writing the deal's timeline: one DealEvent and one audit event, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from otdel.audit.services import record
from otdel.people.models import User
from otdel.sales.models import Deal, DealEvent, Handoff, Stage


def write_event(
    deal: Deal,
    kind: str,
    *,
    actor: User | None,
    at: dt.datetime,
    from_stage: Stage | None = None,
    to_stage: Stage | None = None,
    from_user: User | None = None,
    to_user: User | None = None,
    handoff: Handoff | None = None,
    data: dict[str, Any] | None = None,
) -> DealEvent:
    """Append one event to the deal's timeline and the same fact to the audit trail; the
    responsible person's role at that moment is kept with it (credit is split by role)."""
    data = dict(data or {})
    if to_user is not None:
        data.setdefault("to_role", to_user.role)
    from_user_id = from_user.pk if from_user else None
    to_user_id = to_user.pk if to_user else None
    event = DealEvent.objects.create(
        deal=deal,
        kind=kind,
        at=at,
        actor=actor if actor is not None and actor.pk else None,
        from_stage=from_stage,
        to_stage=to_stage,
        from_user_id=from_user_id,
        to_user_id=to_user_id,
        handoff=handoff,
        data=data,
    )
    record(
        actor=actor,
        verb=f"deal.{kind}",
        obj=deal,
        data={
            "from_stage": from_stage.code if from_stage else None,
            "to_stage": to_stage.code if to_stage else None,
            "from_user": from_user_id,
            "to_user": to_user_id,
            "handoff": handoff.pk if handoff else None,
            **data,
        },
    )
    return event
