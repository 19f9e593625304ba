"""A deal's source is set by the rules from how it arose, with the reason; only the head of
sales changes it, with a reason of his own, and the change is in the timeline and the audit."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.models import Activity
from otdel.audit.models import AuditEvent
from otdel.core import clock
from otdel.core.errors import Forbidden, Invalid
from otdel.ownership import services as ownership
from otdel.sales import services
from otdel.sales.models import Deal, DealEvent, DealEventKind, DealSource, Handoff
from tests.activities.calls import make_call
from tests.factories import make_client
from tests.sales.conftest import hand_to_order_manager, open_deal

pytestmark = pytest.mark.django_db


def _activity(client, author, at) -> None:
    Activity.objects.create(
        client=client, author=author, kind="call", occurred_at=at, created_at=at, direction="out"
    )


def test_a_client_the_person_created_makes_a_new_hunt(manager, pipeline, frozen_clock):
    client = make_client(manager, owner=manager)
    deal = open_deal(manager, client=client)
    assert deal.source == DealSource.NEW_HUNT
    assert deal.source_reason["rule"] == "created_the_client"
    created = DealEvent.objects.get(deal=deal, kind=DealEventKind.CREATED)
    assert created.data["source"] == "new_hunt"


def test_a_client_claimed_from_the_pool_makes_a_pool_deal(head, manager, pipeline, frozen_clock):
    client = make_client(head)  # into the pool
    ownership.claim(client.pk, actor=manager)
    deal = open_deal(manager, client=client)
    assert deal.source == DealSource.POOL
    assert deal.source_reason["rule"] == "claimed_from_the_pool"
    assert deal.source_reason["ownership_event"]


def test_an_inbound_request_is_inbound_whoever_created_the_client(manager, pipeline, frozen_clock):
    client = make_client(manager, owner=manager)
    deal = open_deal(manager, client=client, inbound=True)
    assert deal.source == DealSource.INBOUND


def test_an_assigned_live_client_is_the_owner_s_base(head, other_manager, pipeline, frozen_clock):
    client = make_client(head, owner=other_manager)
    frozen_clock.advance(dt.timedelta(days=100))
    _activity(client, other_manager, clock.now() - dt.timedelta(days=30))
    deal = open_deal(other_manager, client=client)
    assert deal.source == DealSource.OWN_BASE


def test_a_call_the_phone_system_reported_is_a_sign_of_life(
    head, other_manager, pipeline, frozen_clock
):
    """A phone-system call is its own timeline entry (no activity is written for it): a month-old
    one still keeps the client out of reactivation."""
    client = make_client(head, owner=other_manager, phones=["+74951112233"])
    frozen_clock.advance(dt.timedelta(days=100))
    make_call(user=other_manager, client=client, at=clock.now() - dt.timedelta(days=30))
    assert not Activity.objects.filter(client=client).exists()
    deal = open_deal(other_manager, client=client)
    assert deal.source == DealSource.OWN_BASE


def test_a_client_silent_for_the_cadence_days_makes_a_reactivation(
    head, other_manager, pipeline, frozen_clock
):
    client = make_client(head, owner=other_manager)
    frozen_clock.advance(dt.timedelta(days=100))
    # This week's call is the reactivation itself: it does not make the client look alive.
    _activity(client, other_manager, clock.now() - dt.timedelta(days=2))
    deal = open_deal(other_manager, client=client)
    assert deal.source == DealSource.REACTIVATION
    assert deal.source_reason["dormant_days"] == 90  # the team's cadence rule (default)
    last_sign = dt.datetime.fromisoformat(deal.source_reason["last_sign_of_life"])
    assert last_sign == client.created_at


def test_after_the_first_completed_deal_the_hunter_s_client_is_his_base(
    manager, order_manager, pipeline, frozen_clock
):
    client = make_client(manager, owner=manager)
    first = open_deal(manager, client=client)
    hand_to_order_manager(first, manager, order_manager)
    services.accept_handoff(Handoff.objects.get().pk, actor=order_manager)
    for code in ("estimate", "contract", "act", "completed"):
        services.move_deal(first.pk, to_stage=code, actor=order_manager)
    second = open_deal(manager, client=client, title="Повторный заказ")
    assert first.source == DealSource.NEW_HUNT
    assert second.source == DealSource.OWN_BASE


def test_only_the_head_changes_the_source_with_a_reason(head, manager, pipeline, frozen_clock):
    deal = open_deal(manager, client=make_client(manager, owner=manager))
    audit_before = AuditEvent.objects.count()
    with pytest.raises(Forbidden) as refused:
        services.change_source(deal.pk, source="own_base", actor=manager, reason="хочу")
    assert refused.value.code == "not_head_of_sales"
    with pytest.raises(Invalid) as no_reason:
        services.change_source(deal.pk, source="own_base", actor=head, reason=" ")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(Invalid) as same:
        services.change_source(deal.pk, source="new_hunt", actor=head, reason="так и есть")
    assert same.value.code == "same_source"
    with pytest.raises(Invalid):
        services.change_source(deal.pk, source="friendship", actor=head, reason="x")
    deal.refresh_from_db()
    assert deal.source == DealSource.NEW_HUNT
    assert AuditEvent.objects.count() == audit_before
    assert not DealEvent.objects.filter(kind=DealEventKind.SOURCE_CHANGED).exists()

    services.change_source(
        deal.pk, source="inbound", actor=head, reason="Клиент пришёл с сайта, заявка потерялась"
    )
    deal.refresh_from_db()
    assert deal.source == DealSource.INBOUND
    assert deal.source_reason["previous"] == "new_hunt"
    assert deal.source_reason["previous_reason"]["rule"] == "created_the_client"
    event = DealEvent.objects.get(kind=DealEventKind.SOURCE_CHANGED)
    assert (
        event.actor == head and event.data["from"] == "new_hunt" and event.data["to"] == "inbound"
    )
    audit = AuditEvent.objects.get(verb="deal.source_changed")
    assert audit.actor == head and audit.object_id == deal.pk
    assert Deal.objects.get().source == "inbound"
