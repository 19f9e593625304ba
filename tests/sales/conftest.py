"""Sales fixtures: a conveyor team (hunter, account manager, order managers, head) on the
default pipeline, and small builders for deals in a given stage."""

from __future__ import annotations

from typing import Any

import pytest

from otdel.people.models import Role, User
from otdel.sales import services
from otdel.sales.models import Deal, Pipeline, Stage
from otdel.sales.schemas import DealIn
from tests.factories import make_client, make_user

FULL_BRIEF = {
    "needs": "Два компрессора и ЗИП на год",
    "terms": "Отсрочка 30 дней",
    "decision_maker": "Главный инженер Сидоров, +7 495 000-00-00",
    "budget": "до 3 млн ₽",
    "deadlines": "Поставка до конца квартала",
    "promises": "Пусконаладка бесплатно",
    "risks": "Конкурент даёт скидку 5 %",
    "next_step": "Согласовать спецификацию до пятницы",
}


@pytest.fixture
def order_manager(team) -> User:
    return make_user(
        Role.ORDER_MANAGER, team=team, username="tarasov", last_name="Тарасов", first_name="Игорь"
    )


@pytest.fixture
def second_order_manager(team) -> User:
    return make_user(
        Role.ORDER_MANAGER, team=team, username="sergeev", last_name="Сергеев", first_name="Олег"
    )


@pytest.fixture
def pipeline(team) -> Pipeline:
    return services.ensure_default_pipeline(team.pk)


def stage(pipeline: Pipeline, code: str) -> Stage:
    return Stage.objects.get(pipeline=pipeline, code=code)


def open_deal(actor: User, *, client: Any = None, owner: User | None = None, **kw: Any) -> Deal:
    """A deal opened through the service on a client of `owner` (the actor by default)."""
    if client is None:
        client = make_client(actor, owner=owner or actor)
    data = DealIn(client_id=client.pk, title=kw.pop("title", "Поставка компрессоров"), **kw)
    return services.create_deal(data, actor=actor)


def hand_to_order_manager(deal: Deal, actor: User, receiver: User | None = None) -> Deal:
    """Prospect → intent → specification with the full brief, offered to `receiver`."""
    services.move_deal(deal.pk, to_stage="intent", actor=actor)
    return services.move_deal(
        deal.pk,
        to_stage="specification",
        actor=actor,
        brief=FULL_BRIEF,
        offer_to=receiver.pk if receiver else None,
    )
