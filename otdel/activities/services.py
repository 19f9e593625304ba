"""Logging activities on clients; qualifying work by the owner restarts his idle clock."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from otdel.activities.calls import judge_new_calls
from otdel.activities.models import (
    Activity,
    ActivityKind,
    Call,
    CallDirection,
    CallDisposition,
    Direction,
)
from otdel.audit.services import record
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Invalid, NotFound
from otdel.ownership import services as ownership
from otdel.people.models import User


def log_activity(
    client_id: int,
    *,
    actor: User,
    kind: str,
    occurred_at: dt.datetime | None = None,
    subject: str = "",
    body: str = "",
    direction: str = "",
    talk_seconds: int | None = None,
) -> Activity:
    """A person logs a call, meeting, e-mail or note (self-reported) on any client he can see;
    a logged call is also a self-reported call fact, judged by the team's call policy."""
    if kind not in ActivityKind.values:
        raise Invalid(_("Unknown activity kind."), code="bad_kind")
    if direction and direction not in Direction.values:
        raise Invalid(_("Unknown direction."), code="bad_direction")
    now = clock.now()
    when = occurred_at or now
    if when > now + dt.timedelta(minutes=5):
        raise Invalid(_("An activity cannot be logged in the future."), code="future_activity")
    if talk_seconds is not None and talk_seconds < 0:
        raise Invalid(_("Talk time cannot be negative."), code="bad_talk_time")
    if kind == ActivityKind.NOTE and not (subject.strip() or body.strip()):
        raise Invalid(_("A note needs some text."), code="empty_note")
    with transaction.atomic():
        if not Client.objects.live().filter(pk=client_id).exists():
            raise NotFound(_("Client not found."), code="client_not_found")
        activity = Activity.objects.create(
            client_id=client_id,
            author=actor,
            kind=kind,
            occurred_at=when,
            subject=subject,
            body=body,
            direction=direction,
            talk_seconds=talk_seconds,
            source="manual",
            self_reported=True,
            created_at=now,
        )
        if kind == ActivityKind.CALL:
            # A call typed in by a person is a self-reported fact: judged like any call, and it
            # restarts the owner's clock only if the team's call policy counts it.
            call = Call.objects.create(
                source="manual",
                external_id=f"activity-{activity.pk}",
                started_at=when,
                direction=direction or CallDirection.OUTBOUND,
                disposition=CallDisposition.ANSWERED if talk_seconds else CallDisposition.NO_ANSWER,
                talk_seconds=talk_seconds or 0,
                user=actor,
                client_id=client_id,
                self_reported=True,
                activity=activity,
                created_at=now,
            )
            restarted = judge_new_calls([call.pk]) > 0
        else:
            restarted = ownership.note_qualifying_activity(
                client_id, user_id=actor.pk, kind=kind, at=when
            )
        record(
            actor=actor,
            verb="activity.logged",
            obj=activity,
            data={"client": client_id, "kind": kind, "restarted_clock": restarted},
        )
    return activity
