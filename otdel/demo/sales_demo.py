"""The demo's catalogue and conveyor: a few products with costs, the team's default pipeline and
deals at every step (a handoff waiting for the order manager, one in the queue, one returned,
deals in the order manager's stages, a completed one back with its account manager, a lost
one) — all through the sales services, with the clock moved back, so the timelines are real."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from otdel.clients.models import Client
from otdel.core import clock
from otdel.people.models import Team, User
from otdel.sales import services
from otdel.sales.models import Handoff, HandoffStatus, ProductCategory
from otdel.sales.schemas import DealIn, ProductIn

PRODUCTS = [
    # (category code, name, sku, unit, list price, cost a month ago, cost now)
    ("equipment", "Компрессор винтовой ВК-15", "VK-15", "шт", "845000", "590000", "612000"),
    ("equipment", "Осушитель воздуха ОВ-2", "OV-2", "шт", "164000", "118000", "118000"),
    ("spare_parts", "Фильтр масляный ФМ-15", "FM-15", "шт", "6400", "3900", "4200"),
    ("spare_parts", "Ремкомплект клапана РК-7", "RK-7", "компл", "18900", "11800", "12500"),
    ("services", "Пусконаладочные работы", "PNR-1", "усл", "45000", "21000", "21000"),
    ("services", "Техническое обслуживание", "TO-1", "ч", "3500", "1400", "1500"),
    ("consumables", "Масло компрессорное КМ-46, 20 л", "KM-46", "шт", "12900", "8100", "8600"),
]

BRIEF = {
    "needs": "Замена двух компрессоров на участке окраски, ЗИП на год",
    "terms": "Отсрочка 30 дней, доставка за наш счёт",
    "decision_maker": "Главный инженер, решение согласует с финдиректором",
    "budget": "До 2 млн ₽ в этом квартале",
    "deadlines": "Поставка до конца месяца",
    "promises": "Бесплатная пусконаладка",
    "risks": "Конкурент предлагает скидку",
    "next_step": "Согласовать спецификацию",
}


def _at(moment: dt.datetime) -> None:
    clock.freeze(moment)


def build_sales(users: dict[str, User], team: Team, real_now: dt.datetime) -> int:
    """Build the demo's sales part; returns the number of deals opened."""
    head = users["head"]
    _at(real_now - dt.timedelta(days=35))
    categories = {c.code: c.pk for c in ProductCategory.objects.all()}
    products = []
    for code, name, sku, unit, price, old_cost, _cost in PRODUCTS:
        products.append(
            services.create_product(
                ProductIn(
                    name=name,
                    sku=sku,
                    unit=unit,
                    category_id=categories[code],
                    list_price=Decimal(price),
                    cost=Decimal(old_cost),
                ),
                actor=head,
            )
        )
    _at(real_now - dt.timedelta(days=7))
    for product, row in zip(products, PRODUCTS, strict=True):
        if row[6] != row[5]:
            services.change_cost(
                product.pk, amount=Decimal(row[6]), actor=head, comment="Новый прайс поставщика"
            )
    services.ensure_default_pipeline(team.pk, actor=head)

    def client_of(username: str, index: int) -> Client:
        # The base the demo history left this person may be small (returns to the pool are
        # random): take the index-th of his clients, wrapping around.
        owned = list(Client.objects.live().filter(owner=users[username]).order_by("pk")[:10])
        return owned[index % len(owned)]

    def deal(username: str, index: int, title: str, amount: str, days_ago: float) -> int:
        _at(real_now - dt.timedelta(days=days_ago))
        user = users[username]
        opened = services.create_deal(
            DealIn(
                client_id=client_of(username, index).pk,
                title=title,
                amount_estimate=Decimal(amount),
            ),
            actor=user,
        )
        return opened.pk

    def step(
        deal_id: int,
        stage: str,
        actor: User,
        hours: float,
        *,
        brief: dict[str, str] | None = None,
        offer_to: int | None = None,
        comment: str = "",
    ) -> None:
        clock.advance(dt.timedelta(hours=hours))
        services.move_deal(
            deal_id, to_stage=stage, actor=actor, brief=brief, offer_to=offer_to, comment=comment
        )

    orlov, zaitseva, volkov = users["orlov"], users["zaitseva"], users["volkov"]
    morozova, tarasov = users["morozova"], users["tarasov"]

    # A hunter's deal waits for the order manager's acceptance.
    d1 = deal("orlov", 0, "Поставка компрессора ВК-15", "845000", 2)
    step(d1, "intent", orlov, 3)
    step(d1, "specification", orlov, 20, brief=BRIEF, offer_to=tarasov.pk)
    # Another one offered to the order managers' queue.
    d2 = deal("zaitseva", 0, "ЗИП на год", "126000", 1)
    step(d2, "intent", zaitseva, 2)
    step(d2, "specification", zaitseva, 2, brief=BRIEF)
    # An account manager's deal the order manager took and works on.
    d3 = deal("volkov", 0, "Модернизация компрессорной", "1640000", 6)
    step(d3, "intent", volkov, 4)
    step(d3, "specification", volkov, 20, brief=BRIEF, offer_to=tarasov.pk)
    clock.advance(dt.timedelta(hours=2))
    services.accept_handoff(_pending(d3), actor=tarasov)
    step(d3, "estimate", tarasov, 22)
    step(d3, "contract", tarasov, 24)
    # A completed deal: back with the account manager, with the summary.
    d4 = deal("morozova", 0, "Сервисное обслуживание на квартал", "84000", 12)
    step(d4, "intent", morozova, 2)
    step(d4, "specification", morozova, 4, brief=BRIEF, offer_to=tarasov.pk)
    clock.advance(dt.timedelta(hours=1))
    services.accept_handoff(_pending(d4), actor=tarasov)
    for stage in ("estimate", "contract", "act", "completed"):
        step(d4, stage, tarasov, 30)
    # A handoff returned for a missing detail, and a lost deal.
    d5 = deal("orlov", 1, "Осушитель для цеха", "164000", 4)
    step(d5, "intent", orlov, 1)
    step(d5, "specification", orlov, 3, brief=BRIEF, offer_to=tarasov.pk)
    clock.advance(dt.timedelta(hours=3))
    services.return_handoff(
        _pending(d5), actor=tarasov, reason="Нет контакта ЛПР и точного бюджета"
    )
    d6 = deal("zaitseva", 1, "Масло и фильтры", "38000", 9)
    step(d6, "lost", zaitseva, 26, comment="Купили у дистрибьютора дешевле")
    # Fresh prospects.
    deal("volkov", 1, "Второй компрессор на склад", "845000", 0.5)
    deal("morozova", 1, "Расходники на полгода", "52000", 0.2)
    clock.freeze(real_now)
    return 8


def _pending(deal_id: int) -> int:
    return Handoff.objects.get(deal_id=deal_id, status=HandoffStatus.PENDING).pk
