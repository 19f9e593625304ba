"""Tenders and proposals racing on the real database (SQLite file or PostgreSQL): owners linking
their clients at once raise one conflict naming all of them; two answers to one proposal, or
two invoices from it, leave one outcome."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from otdel.core import clock
from otdel.people.models import Role
from otdel.sales import services
from otdel.sales.models import (
    Invoice,
    ProductCategory,
    Proposal,
    TenderConflict,
    TenderParticipant,
)
from otdel.sales.proposals import ProposalIn
from otdel.sales.schemas import InvoiceLineIn
from otdel.sales.tenders import TenderIn
from tests.factories import make_head, make_team, make_user
from tests.sales.conftest import open_deal
from tests.sales.money_helpers import product
from tests.sales.test_concurrency import _race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_owners_linking_at_once_raise_one_conflict_naming_all_of_them():
    team = make_team("Тендерная гонка")
    make_head(team)
    first = make_user(Role.HUNTER, team=team)
    others = [make_user(Role.ACCOUNT_MANAGER, team=team) for _ in range(4)]
    tender = services.create_tender(
        TenderIn(
            registry_number="0100000000026000001",
            platform="РТС-тендер",
            customer_name="ГБУ «Заказчик»",
            submission_deadline=clock.now() + dt.timedelta(days=5),
            participants=[open_deal(first).client_id],
        ),
        actor=first,
    )
    deals = [open_deal(u) for u in others]

    wins, codes = _race(
        [
            lambda u=u, d=d: services.add_participant(tender.pk, d.client_id, actor=u)  # type: ignore[misc]
            for u, d in zip(others, deals, strict=True)
        ]
    )
    assert (wins, codes) == (4, [])
    assert TenderParticipant.objects.filter(tender=tender).count() == 5
    conflict = TenderConflict.objects.get(tender=tender)
    assert conflict.is_open
    assert conflict.owners == sorted([first.pk, *(u.pk for u in others)])


def _sent(name: str) -> tuple[Proposal, object, object]:
    team = make_team(name)
    head = make_head(team)
    manager = make_user(Role.HUNTER, team=team)
    clerk = make_user(Role.DOC_CLERK, team=team)
    # A transactional test starts from an empty database: the seeded categories are gone.
    ProductCategory.objects.get_or_create(
        code="equipment",
        defaults={"name": "Оборудование", "created_at": clock.now(), "updated_at": clock.now()},
    )
    kmp = product(head, sku=f"RACE-{team.pk}")
    p = services.create_proposal(
        open_deal(manager).pk,
        ProposalIn(
            lines=[InvoiceLineIn(product_id=kmp.pk, quantity=Decimal(1), unit_price=Decimal(1000))]
        ),
        actor=manager,
    )
    services.send_proposal(p.pk, actor=manager)
    return p, manager, clerk


def test_two_answers_to_one_proposal_leave_one():
    p, manager, clerk = _sent("Гонка ответов")
    wins, codes = _race(
        [
            lambda: services.accept_proposal(p.pk, actor=manager),  # type: ignore[arg-type]
            lambda: services.decline_proposal(p.pk, actor=clerk, reason="Передумали"),  # type: ignore[arg-type]
        ]
    )
    assert wins == 1 and codes == ["illegal_move"]
    p.refresh_from_db()
    assert (p.status == "accepted") == (p.reason == "")


def test_two_invoices_from_one_proposal_at_once_issue_one():
    p, manager, clerk = _sent("Гонка счетов")
    services.accept_proposal(p.pk, actor=manager)  # type: ignore[arg-type]
    wins, codes = _race(
        [
            lambda: services.invoice_from_proposal(p.pk, actor=manager),  # type: ignore[arg-type]
            lambda: services.invoice_from_proposal(p.pk, actor=clerk),  # type: ignore[arg-type]
        ]
    )
    assert wins == 1 and codes == ["already_invoiced"]
    assert Invoice.objects.count() == 1
    assert Proposal.objects.get(pk=p.pk).invoice_id == Invoice.objects.get().pk
