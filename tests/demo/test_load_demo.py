"""The demo department loads through the real services and respects every ownership rule."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db.models import Count

from otdel.clients.models import Client
from otdel.clients.normalize import clean_inn
from otdel.core import clock
from otdel.ownership.models import EventKind, OwnershipEvent, TransferRequest
from otdel.ownership.policy import policy_in_force
from otdel.ownership.selectors import with_returns_at
from otdel.ownership.services import cap_for
from otdel.people.models import User

pytestmark = pytest.mark.django_db


def test_demo_department_is_realistic_and_consistent():
    call_command("load_demo", clients=300, seed=3, stdout=io.StringIO())
    assert User.objects.filter(username__in=["head", "director"]).count() == 2
    assert User.objects.filter(role__in=["hunter", "account_manager"]).count() >= 4
    live = Client.objects.live()
    assert live.filter(owner__isnull=True).exists() and live.filter(owner__isnull=False).exists()
    # Every owned client got its owner through a ledger event naming that owner.
    for client in live.filter(owner__isnull=False).only("pk", "owner_id")[:100]:
        last = (
            OwnershipEvent.objects.filter(client=client)
            .exclude(kind=EventKind.WARNING)
            .order_by("-at", "-id")
            .first()
        )
        assert last is not None and last.to_user_id == client.owner_id
    # Nobody is over his cap.
    for row in live.filter(owner__isnull=False).values("owner").annotate(n=Count("id")):
        owner = User.objects.get(pk=row["owner"])
        assert row["n"] <= cap_for(owner, policy_in_force(owner.team_id))
    # Every ИНН is valid; some clients return to the pool within a week.
    for inn in live.values_list("legal_entities__inn", flat=True)[:200]:
        if inn:
            assert clean_inn(inn) == inn
    team_ids = set(live.values_list("team_id", flat=True))
    soon = with_returns_at(live.filter(owner__isnull=False), team_ids).filter(
        returns_at__lte=clock.now() + dt.timedelta(days=7)
    )
    assert soon.exists()
    assert TransferRequest.objects.exists()
    # Today is planned: tasks from the cadence rules, and some people committed their plan.
    from otdel.planning.models import DayPlan, Task

    assert Task.objects.filter(status="open").exists()
    assert DayPlan.objects.filter(date=clock.today()).exists()
    # The conveyor: a handoff waits for the order manager, a completed deal is back with its
    # account manager, the catalogue has costs with history.
    from otdel.sales.models import Deal, Handoff, ProductCost

    assert Handoff.objects.filter(status="pending", offered_to__username="tarasov").exists()
    completed = Deal.objects.get(stage__code="completed")
    assert completed.responsible.username == "morozova"
    assert ProductCost.objects.values("product").distinct().count() < ProductCost.objects.count()
    # The inbound desk: requests from several channels, one converted to an inbound deal, one
    # past the away owner Kozlov with the reason, some waiting for room, a breach escalated.
    from otdel.inbound.models import InboundRequest
    from otdel.inbound.routing import explain

    requests = InboundRequest.objects.all()
    assert set(requests.values_list("channel", flat=True)) >= {"web", "manual"}
    converted = requests.get(status="converted")
    assert converted.deal is not None and converted.deal.source == "inbound"
    assert requests.filter(status="new").exists()
    assert requests.filter(escalated_at__isnull=False).exists()
    past_owner = requests.filter(assigned_why__owner__state="away").first()
    assert past_owner is not None and "Козлов" in explain(past_owner.assigned_why)
    # Loading again changes nothing.
    before = Client.objects.count()
    call_command("load_demo", clients=300, seed=3, stdout=io.StringIO())
    assert Client.objects.count() == before
