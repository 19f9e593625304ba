"""Transfer requests: the owner's deadline in working days, answers, decisions, auto-approval."""

from __future__ import annotations

import datetime as dt

import pytest

from otdel.activities.services import log_activity
from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.ownership import services
from otdel.ownership.models import EventKind, OwnershipEvent, TransferRequest, TransferStatus
from otdel.people.models import Notification
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db


def test_request_gives_owner_two_working_days_over_a_weekend(head, manager, other_manager):
    # Friday 2026-11-20 15:00 Moscow → Tuesday 2026-11-24 15:00.
    clock.freeze(dt.datetime(2026, 11, 20, 15, 0, tzinfo=clock.MOSCOW))
    try:
        client = make_client(head, owner=manager)
        request = services.request_transfer(client.pk, requester=other_manager, reason="есть заказ")
        assert request.owner_deadline == dt.datetime(2026, 11, 24, 15, 0, tzinfo=clock.MOSCOW)
        assert request.status == TransferStatus.AWAITING_OWNER
        assert Notification.objects.filter(recipient=manager, kind="transfer_requested").exists()
        assert Notification.objects.filter(recipient=head, kind="transfer_requested").exists()
    finally:
        clock.unfreeze()


def test_deadline_skips_russian_holiday(head, manager, other_manager):
    # Tuesday 2026-11-03 12:00; 4 November is a holiday → due Thursday 5 November.
    clock.freeze(dt.datetime(2026, 11, 3, 12, 0, tzinfo=clock.MOSCOW))
    try:
        client = make_client(head, owner=manager)
        request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
        assert request.owner_deadline == dt.datetime(2026, 11, 6, 12, 0, tzinfo=clock.MOSCOW)
    finally:
        clock.unfreeze()


def test_head_approves_and_client_moves_to_requester(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    services.answer_transfer(request.pk, actor=manager, agree=False, comment="я веду переговоры")
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.AWAITING_DECISION
    services.decide_transfer(request.pk, actor=head, approve=True, comment="заказ важнее")
    assert Client.objects.get(pk=client.pk).owner == other_manager
    event = OwnershipEvent.objects.get(client=client, kind=EventKind.TRANSFER)
    assert (event.from_user, event.to_user, event.actor) == (manager, other_manager, head)


def test_head_denies_and_nothing_moves(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    services.decide_transfer(request.pk, actor=head, approve=False, comment="нет")
    assert Client.objects.get(pk=client.pk).owner == manager
    assert not OwnershipEvent.objects.filter(client=client, kind=EventKind.TRANSFER).exists()
    with pytest.raises(Conflict):
        services.decide_transfer(request.pk, actor=head, approve=True)
    assert Client.objects.get(pk=client.pk).owner == manager


def test_owner_agreeing_hands_over_at_once(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    services.answer_transfer(request.pk, actor=manager, agree=True)
    assert Client.objects.get(pk=client.pk).owner == other_manager
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.APPROVED


def test_requester_cannot_decide_and_nothing_changes(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    with pytest.raises(Forbidden):
        services.decide_transfer(request.pk, actor=other_manager, approve=True)
    with pytest.raises(Forbidden):
        services.answer_transfer(request.pk, actor=other_manager, agree=True)
    assert Client.objects.get(pk=client.pk).owner == manager
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.AWAITING_OWNER


def test_objection_needs_a_comment(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    with pytest.raises(Invalid):
        services.answer_transfer(request.pk, actor=manager, agree=False, comment=" ")
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.AWAITING_OWNER


def test_idle_owner_loses_client_automatically_at_deadline(
    head, manager, other_manager, frozen_clock
):
    client = make_client(head, owner=manager)
    frozen_clock.advance(dt.timedelta(days=20))  # the owner did nothing for 20 days (> 14)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    frozen_clock.advance(dt.timedelta(days=1))
    assert services.process_transfer_deadlines() == {"auto_approved": 0, "escalated": 0}
    frozen_clock.freeze(request.owner_deadline)
    assert services.process_transfer_deadlines() == {"auto_approved": 1, "escalated": 0}
    assert Client.objects.get(pk=client.pk).owner == other_manager
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.AUTO_APPROVED
    # Running again changes nothing.
    assert services.process_transfer_deadlines() == {"auto_approved": 0, "escalated": 0}
    assert OwnershipEvent.objects.filter(client=client, kind=EventKind.TRANSFER).count() == 1


def test_active_owner_silence_escalates_to_head(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    log_activity(client.pk, actor=manager, kind="meeting", subject="встреча")
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    frozen_clock.freeze(request.owner_deadline + dt.timedelta(minutes=1))
    assert services.process_transfer_deadlines() == {"auto_approved": 0, "escalated": 1}
    assert Client.objects.get(pk=client.pk).owner == manager
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.AWAITING_DECISION
    assert Notification.objects.filter(recipient=head, kind="transfer_deadline").exists()


def test_release_makes_open_requests_obsolete(head, manager, other_manager, frozen_clock):
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=other_manager, reason="заказ")
    services.release_to_pool(client.pk, actor=manager, reason="отдаю")
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.OBSOLETE


def test_cannot_request_own_or_pool_client(head, manager, frozen_clock):
    mine = make_client(head, owner=manager)
    pooled = make_client(head)
    with pytest.raises(Conflict):
        services.request_transfer(mine.pk, requester=manager, reason="x")
    with pytest.raises(Conflict):
        services.request_transfer(pooled.pk, requester=manager, reason="x")
    assert TransferRequest.objects.count() == 0


def test_head_approval_respects_requesters_cap(head, manager, team, frozen_clock):
    small = make_user("hunter", team=team, cap=1)
    make_client(head, owner=small)
    client = make_client(head, owner=manager)
    request = services.request_transfer(client.pk, requester=small, reason="заказ")
    with pytest.raises(Conflict) as err:
        services.decide_transfer(request.pk, actor=head, approve=True)
    assert err.value.code == "over_cap"
    assert Client.objects.get(pk=client.pk).owner == manager
    assert TransferRequest.objects.get(pk=request.pk).status == TransferStatus.AWAITING_OWNER
    services.decide_transfer(request.pk, actor=head, approve=True, override_cap=True)
    assert Client.objects.get(pk=client.pk).owner == small
