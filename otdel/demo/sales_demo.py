"""The demo's catalogue and conveyor: a few products with costs, the team's default pipeline and
deals at every step (a handoff waiting for the order manager, one in the queue, one returned,
deals in the order manager's stages, a completed one back with its account manager, a lost
one) — all through the sales services, with the clock moved back, so the timelines are real."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.ownership import services as ownership
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


def _claim_one(user: User, team: Team) -> Client:
    """Everything the person had went back to the pool in the demo's history (it can happen,
    returns are random): he claims a pool client, as he would, within the rules."""
    for client in Client.objects.live().filter(team=team, owner__isnull=True).order_by("pk")[:50]:
        try:
            return ownership.claim(client.pk, actor=user, reason="Демо: новый клиент для сделки")
        except DomainError:
            continue  # a cooldown on this one, say: the next
    raise RuntimeError(f"the demo found no client for {user.username}")


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
        if not owned:
            owned = [_claim_one(users[username], team)]
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
    build_proposals_and_tenders(users, real_now)
    clock.freeze(real_now)
    return 8


def _pending(deal_id: int) -> int:
    return Handoff.objects.get(deal_id=deal_id, status=HandoffStatus.PENDING).pk


# --- proposals and a tender ----------------------------------------------------------------------


def _inn_with_check_digit(first_nine: str) -> str:
    """A company ИНН: nine digits and their check digit."""
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(int(d) * w for d, w in zip(first_nine, weights, strict=True)) % 11 % 10
    return f"{first_nine}{check}"


def build_proposals_and_tenders(users: dict[str, User], real_now: dt.datetime) -> None:
    """A КП accepted on the order manager's deal; a tender in which a hunter's and an account
    manager's clients bid: the conflict, the lead manager the head assigns, the floor he sets,
    and the account manager's bid at that floor."""
    from otdel.sales.models import Deal, Product, TenderParticipant
    from otdel.sales.proposals import ProposalIn
    from otdel.sales.schemas import InvoiceLineIn
    from otdel.sales.tenders import LotIn, TenderFloorIn, TenderIn

    head, orlov, volkov, tarasov = users["head"], users["orlov"], users["volkov"], users["tarasov"]
    sku = {p.sku: p.pk for p in Product.objects.all()}

    # The order manager's КП on the modernisation deal, sent and accepted.
    _at(real_now - dt.timedelta(days=3))
    modernisation = Deal.objects.get(title="Модернизация компрессорной", responsible=tarasov)
    kp = services.create_proposal(
        modernisation.pk,
        ProposalIn(
            lines=[
                InvoiceLineIn(
                    product_id=sku["VK-15"], quantity=Decimal(2), unit_price=Decimal("820000")
                ),
                InvoiceLineIn(
                    product_id=sku["PNR-1"], quantity=Decimal(1), unit_price=Decimal("45000")
                ),
            ],
            terms="Оплата 50 % аванс, 50 % по факту поставки. Поставка 30 дней.",
        ),
        actor=tarasov,
    )
    clock.advance(dt.timedelta(hours=1))
    services.send_proposal(kp.pk, actor=tarasov)
    clock.advance(dt.timedelta(days=1))
    services.accept_proposal(kp.pk, actor=tarasov, note="Согласовано с главным инженером")

    # A tender: the hunter registers it with his client, the account manager links his own.
    _at(real_now - dt.timedelta(hours=10))
    hunter_deal = Deal.objects.get(title="Поставка компрессора ВК-15", responsible=orlov)
    keeper_deal = Deal.objects.get(title="Второй компрессор на склад", responsible=volkov)
    tender = services.create_tender(
        TenderIn(
            registry_number="0373200041526000417",
            title="Поставка компрессорного оборудования и ЗИП",
            platform="РТС-тендер",
            customer_name="ГБУ «Мосводоканал-сервис»",
            customer_inn=_inn_with_check_digit("770184512"),
            submission_deadline=real_now + dt.timedelta(days=6),
            lots=[
                LotIn(name="Компрессоры винтовые, 2 шт.", max_price=Decimal("2000000")),
                LotIn(name="ЗИП на год", max_price=Decimal("150000")),
            ],
            participants=[hunter_deal.client_id],
        ),
        actor=orlov,
    )
    clock.advance(dt.timedelta(hours=2))
    services.add_participant(tender.pk, keeper_deal.client_id, actor=volkov)
    # The head of sales resolves the conflict: the hunter leads our bids.
    clock.advance(dt.timedelta(hours=1))
    services.assign_lead_manager(tender.pk, orlov.pk, actor=head)
    clock.advance(dt.timedelta(hours=1))
    theirs = TenderParticipant.objects.get(tender=tender, client_id=keeper_deal.client_id)
    services.set_tender_floor(
        tender.pk,
        TenderFloorIn(
            participant_id=theirs.pk,
            lot_id=tender.lots.get(number=1).pk,
            min_margin_percent=Decimal("20"),
        ),
        actor=orlov,
    )
    # The account manager bids at the floor and sends it.
    clock.advance(dt.timedelta(hours=2))
    bid = services.create_proposal(
        keeper_deal.pk,
        ProposalIn(
            lines=[
                InvoiceLineIn(
                    product_id=sku["VK-15"], quantity=Decimal(2), unit_price=Decimal("790000")
                )
            ],
            tender_id=tender.pk,
            lot_id=tender.lots.get(number=1).pk,
        ),
        actor=volkov,
    )
    clock.advance(dt.timedelta(minutes=30))
    services.send_proposal(bid.pk, actor=volkov)
