"""The source of a deal, from how it arose: the rules and the facts they read.

In order (the first that applies wins):

1. **inbound** — the deal comes from an inbound request (the caller says so);
2. while the client has never completed a deal (its first order is still being won):
   **new_hunt** — the person the deal is for created the client;
   **pool** — he got the client by a claim from the pool (the last owner change was his claim);
3. **reactivation** — the client showed no sign of life for N days (the team's cadence rule
   "N days without a shipment"): no shipment, no completed deal, no activity or call; contacts of the
   last REVIVAL_DAYS do not count, since they are the reactivation itself;
4. **own_base** — otherwise.

The verdict carries the rule and the facts it used, so a person can be told why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Max

from otdel.activities.models import Activity, Call
from otdel.clients.models import Client
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.planning.cadences import cadence_in_force
from otdel.sales.models import Deal, DealSource, StageKind

# Contacts this recent revive a dormant client rather than prove it was alive.
REVIVAL_DAYS = 14


@dataclass(frozen=True)
class SourceVerdict:
    """A deal's source and why (the rule's code and its facts, stored on the deal)."""

    source: str
    reason: dict[str, Any]


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def source_for(client: Client, person_id: int, *, inbound: bool, at: dt.datetime) -> SourceVerdict:
    """The source of a new deal on `client` for the person `person_id` at the moment `at`."""
    if inbound:
        return SourceVerdict(DealSource.INBOUND, {"rule": "inbound_request"})
    last_won = Deal.objects.filter(
        client=client, stage__kind=StageKind.WON, closed_at__isnull=False
    ).aggregate(at=Max("closed_at"))["at"]
    if last_won is None:
        if client.created_by_id == person_id:
            return SourceVerdict(
                DealSource.NEW_HUNT,
                {"rule": "created_the_client", "client_created_at": _iso(client.created_at)},
            )
        last_change = (
            OwnershipEvent.objects.filter(client=client)
            .exclude(kind=EventKind.WARNING)
            .order_by("-at", "-id")
            .first()
        )
        if (
            last_change is not None
            and last_change.kind == EventKind.CLAIM
            and last_change.to_user_id == person_id
        ):
            return SourceVerdict(
                DealSource.POOL,
                {
                    "rule": "claimed_from_the_pool",
                    "ownership_event": last_change.pk,
                    "claimed_at": _iso(last_change.at),
                },
            )
    days = cadence_in_force(client.team_id, at).doc.reactivation_after_days
    before = at - dt.timedelta(days=REVIVAL_DAYS)
    last_activity = Activity.objects.filter(client=client, occurred_at__lt=before).aggregate(
        at=Max("occurred_at")
    )["at"]
    # A call the phone system reported is its own timeline entry, not an activity.
    last_call = Call.objects.filter(client=client, started_at__lt=before).aggregate(
        at=Max("started_at")
    )["at"]
    signs = [
        m
        for m in (client.created_at, client.last_shipment_at, last_won, last_activity, last_call)
        if m
    ]
    last_sign = max(signs) if signs else None
    if last_sign is None or last_sign < at - dt.timedelta(days=days):
        return SourceVerdict(
            DealSource.REACTIVATION,
            {
                "rule": "dormant_client",
                "dormant_days": days,
                "revival_days": REVIVAL_DAYS,
                "last_sign_of_life": _iso(last_sign),
            },
        )
    return SourceVerdict(
        DealSource.OWN_BASE, {"rule": "own_base", "last_sign_of_life": _iso(last_sign)}
    )
