"""Routing under load on the real database (SQLite file or PostgreSQL): 1,000 requests posted
by 16 concurrent posters are each assigned exactly once, nobody goes over capacity, the round
robin stays even, owners get their clients' requests first, nobody offline gets anything."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from otdel.core import clock
from otdel.inbound import services
from otdel.inbound.models import Channel, EventKind, InboundRequest, RequestEvent, Status
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.inbound.schemas import RequestIn
from otdel.people.models import Availability, Role
from tests.factories import make_client, make_head, make_team, make_user
from tests.inbound.conftest import WEDNESDAY_10

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

POSTERS = 16
REQUESTS = 1000
CAPACITY = 100


def test_a_thousand_requests_from_sixteen_posters_are_routed_exactly_once_and_fairly():
    clock.freeze(WEDNESDAY_10)
    try:
        team = make_team("Входящие под нагрузкой")
        head = make_head(team)
        owner = make_user(Role.ACCOUNT_MANAGER, team=team, username="owner")
        desk = [make_user(Role.HUNTER, team=team, username=f"d{i}") for i in range(8)]
        offline = [make_user(Role.HUNTER, team=team, username=f"off{i}") for i in range(2)]
        for person in offline:
            services.set_availability(person.pk, status=Availability.AWAY, actor=person)
        services.set_specialist(owner.pk, actor=head, takes_requests=False)
        services.publish_routing_policy(
            team.pk,
            document=RoutingPolicyDocument(strategy="round_robin", default_capacity=CAPACITY),
            effective_from=clock.now(),
            actor=head,
        )
        owned = [
            make_client(head, owner=owner, email=f"buyer@owned{i}.ru", name=f"ООО Своя {i}")
            for i in range(20)
        ]
        owned_emails = [f"buyer@owned{i}.ru" for i in range(20)]

        payloads = [
            {"name": f"Клиент {n}", "email": owned_emails[n] if n < 20 else f"c{n}@load.ru"}
            for n in range(REQUESTS)
        ]
        barrier = threading.Barrier(POSTERS)
        failures: list[BaseException] = []

        def poster(index: int) -> None:
            try:
                barrier.wait()
                for n in range(index, REQUESTS, POSTERS):
                    services.receive(
                        RequestIn(**payloads[n]),
                        team_id=team.pk,
                        channel=Channel.WEB,
                        external_id=f"load-{n}",
                    )
            except BaseException as exc:  # re-raised below
                failures.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=poster, args=(i,)) for i in range(POSTERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not failures, failures[0]

        assert InboundRequest.objects.filter(team=team).count() == REQUESTS
        assignments = Counter(
            RequestEvent.objects.filter(kind=EventKind.ASSIGNED).values_list(
                "request_id", flat=True
            )
        )
        assert max(assignments.values()) == 1  # nobody assigned twice

        assigned = InboundRequest.objects.filter(status=Status.ASSIGNED)
        per_person = Counter(assigned.values_list("assignee_id", flat=True))
        # Owner first: each of his clients' requests went to him, whatever the round robin.
        assert per_person[owner.pk] == 20
        assert set(
            InboundRequest.objects.filter(client__in=owned).values_list("assignee_id", flat=True)
        ) == {owner.pk}
        # Nobody offline got anything; nobody over capacity; the round robin is even.
        assert not any(per_person[p.pk] for p in offline)
        desk_counts = [per_person[p.pk] for p in desk]
        assert max(desk_counts) <= CAPACITY
        assert max(desk_counts) - min(desk_counts) <= 1
        assert sum(desk_counts) == 8 * CAPACITY
        # The rest waits in the queue, none lost.
        assert InboundRequest.objects.filter(status=Status.NEW, assignee__isnull=True).count() == (
            REQUESTS - 20 - 8 * CAPACITY
        )
    finally:
        clock.unfreeze()
