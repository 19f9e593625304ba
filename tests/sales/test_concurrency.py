"""Moves and handoff answers racing each other on the real database (SQLite file or
PostgreSQL): conditional updates let exactly one win, the others get a clear conflict."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from otdel.core.errors import DomainError
from otdel.people.models import Role
from otdel.sales import services
from otdel.sales.models import Deal, DealEvent, DealEventKind, Handoff, HandoffStatus
from tests.factories import make_head, make_team, make_user
from tests.sales.conftest import FULL_BRIEF, open_deal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def _race(jobs: list[Callable[[], None]]) -> tuple[int, list[str]]:
    """Start all jobs at once, each on its own connection: (wins, refusal codes)."""
    barrier = threading.Barrier(len(jobs))
    wins: list[int] = []
    codes: list[str] = []
    unexpected: list[BaseException] = []

    def wrap(job: Callable[[], None]) -> None:
        try:
            barrier.wait()
            job()
            wins.append(1)
        except DomainError as err:
            codes.append(err.code)
        except BaseException as exc:  # re-raised below
            unexpected.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if unexpected:
        raise unexpected[0]
    return len(wins), codes


def test_six_order_managers_take_one_queue_offer_and_one_wins():
    team = make_team("Гонка")
    make_head(team)
    hunter = make_user(Role.HUNTER, team=team)
    takers = [make_user(Role.ORDER_MANAGER, team=team) for _ in range(6)]
    deal = open_deal(hunter)
    services.move_deal(deal.pk, to_stage="intent", actor=hunter)
    services.move_deal(deal.pk, to_stage="specification", actor=hunter, brief=FULL_BRIEF)
    handoff = Handoff.objects.get()

    wins, codes = _race(
        [lambda u=u: services.accept_handoff(handoff.pk, actor=u) for u in takers]  # type: ignore[misc]
    )
    assert wins == 1
    assert set(codes) <= {"handoff_answered"}, codes
    handoff.refresh_from_db()
    deal.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED
    assert deal.responsible_id == handoff.answered_by_id
    assert DealEvent.objects.filter(kind=DealEventKind.HANDOFF_ACCEPTED).count() == 1


def test_a_return_and_an_accept_at_once_leave_one_consistent_outcome():
    team = make_team("Гонка 2")
    make_head(team)
    hunter = make_user(Role.HUNTER, team=team)
    takers = [make_user(Role.ORDER_MANAGER, team=team) for _ in range(2)]
    deal = open_deal(hunter)
    services.move_deal(deal.pk, to_stage="intent", actor=hunter)
    services.move_deal(deal.pk, to_stage="specification", actor=hunter, brief=FULL_BRIEF)
    handoff = Handoff.objects.get()

    wins, codes = _race(
        [
            lambda: services.accept_handoff(handoff.pk, actor=takers[0]),
            lambda: services.return_handoff(handoff.pk, actor=takers[1], reason="не наш"),
        ]
    )
    assert wins == 1 and codes == ["handoff_answered"]
    handoff.refresh_from_db()
    deal = Deal.objects.select_related("stage").get(pk=deal.pk)
    if handoff.status == HandoffStatus.ACCEPTED:
        assert (deal.stage.code, deal.responsible_id) == ("specification", takers[0].pk)
    else:
        assert (deal.stage.code, deal.responsible_id) == ("intent", hunter.pk)


def test_two_people_moving_the_deal_they_both_saw_make_one_move():
    team = make_team("Гонка 3")
    head = make_head(team)
    hunter = make_user(Role.HUNTER, team=team)
    deal = open_deal(hunter)
    seen = deal.stage_id
    wins, codes = _race(
        [
            lambda: services.move_deal(
                deal.pk, to_stage="intent", actor=hunter, expected_stage=seen
            ),
            lambda: services.move_deal(
                deal.pk, to_stage="lost", actor=head, comment="дубль", expected_stage=seen
            ),
        ]
    )
    assert wins == 1, codes
    assert set(codes) <= {"deal_changed", "move_not_allowed", "stage_changed"}, codes
    assert DealEvent.objects.filter(deal=deal, kind=DealEventKind.MOVED).count() == 1
