"""The demo's inbound desk: a routing policy, who takes requests (with skills), a web form for
the site, Kozlov away, and requests from every channel on the last working day — one went to
its owner, one past its away owner to the least loaded, one waits because nobody had room, one
was converted, one closed, one escalated — all through the inbound services, with the clock
moved, so every assignment carries its real reason."""

from __future__ import annotations

import datetime as dt

from otdel.clients.models import Client
from otdel.core import clock
from otdel.core.calendar import is_working_day
from otdel.inbound import deadlines, services
from otdel.inbound.models import Channel
from otdel.inbound.policy_document import RoutingPolicyDocument
from otdel.inbound.schemas import RequestIn
from otdel.people.models import Availability, Team, User
from otdel.sales.models import ProductCategory

SITE = "https://otdel-demo.ru"


def _last_working_day(real_now: dt.datetime) -> dt.date:
    """The working day before today (today's requests are for the people who run the demo)."""
    day = real_now.astimezone(clock.MOSCOW).date() - dt.timedelta(days=1)
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def _at(day: dt.date, hour: int, minute: int = 0) -> None:
    clock.freeze(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.MOSCOW))


def _email_of(client: Client) -> str:
    contact = client.contacts.exclude(email="").first()
    return contact.email if contact else ""


def build_inbound(users: dict[str, User], team: Team, real_now: dt.datetime) -> int:
    """Build the demo's inbound part; returns the number of requests made."""
    head = users["head"]
    day = _last_working_day(real_now)
    _at(day, 8, 30)
    categories = {c.code: c.pk for c in ProductCategory.objects.all()}
    services.publish_routing_policy(
        team.pk,
        document=RoutingPolicyDocument(strategy="least_loaded", default_capacity=2),
        effective_from=clock.now(),
        actor=head,
        comment="Сначала владелец (30 рабочих минут), затем наименее загруженный",
    )
    services.set_specialist(
        users["orlov"].pk, actor=head, category_ids=[categories["equipment"]], regions=["Москва"]
    )
    services.set_specialist(users["zaitseva"].pk, actor=head, capacity=2)
    services.set_specialist(users["belova"].pk, actor=head, capacity=3, weight=2)
    services.set_specialist(users["tarasov"].pk, actor=head, takes_requests=False)
    services.create_web_form(team.pk, name="Сайт otdel-demo.ru", actor=head, allowed_origins=[SITE])
    services.set_availability(users["kozlov"].pk, status=Availability.AWAY, actor=head)

    made = 0

    def post(hour: int, minute: int, channel: str = Channel.WEB, **fields: str) -> int:
        nonlocal made
        _at(day, hour, minute)
        received = services.receive(RequestIn(**fields), team_id=team.pk, channel=channel)
        made += 1
        return received.request.pk

    volkov_client = Client.objects.filter(owner=users["volkov"]).exclude(contacts__email="").first()
    kozlov_client = Client.objects.filter(owner=users["kozlov"]).exclude(contacts__email="").first()
    if volkov_client is not None:
        owner_first = post(
            9,
            40,
            name="Снабжение",
            email=_email_of(volkov_client),
            message="Повторите, пожалуйста, прошлый заказ фильтров ФМ-15, 20 шт.",
        )
        services.take(owner_first, actor=users["volkov"])
    if kozlov_client is not None:
        post(
            10,
            5,
            name="Главный механик",
            email=_email_of(kozlov_client),
            message="Нужен осушитель ОВ-2 на новый участок, пришлите КП.",
        )
    converted = post(
        10,
        30,
        name="Сергей Лебедев",
        company="ООО «Пищекомбинат Заречный»",
        phone="+7 916 555-12-34",
        email="lebedev@zarechny-food.ru",
        subject="Компрессор для линии розлива",
        message="Ищем винтовой компрессор 15 кВт, поставка в течение месяца.",
    )
    person = _assignee(converted)
    services.take(converted, actor=person)
    services.convert_to_deal(converted, actor=person, title="ВК-15 для линии розлива")
    closed = post(
        11, 0, name="Реклама", email="promo@seo-mega.example", message="Продвижение сайта"
    )
    services.close(closed, actor=_assignee(closed), reason="Спам: реклама услуг")
    post(
        11,
        20,
        channel=Channel.MANUAL,
        name="Ирина",
        company="ИП Кравец",
        phone="+7 903 111-22-33",
        message="Заходила в офис: нужен ремкомплект клапана РК-7.",
    )
    for n, (who, what) in enumerate(
        [
            ("Отдел закупок ТЭЦ-3", "Масло КМ-46, 40 канистр"),
            ("Алексей", "Сколько стоит ТО компрессора?"),
            ("ООО «СтройДеталь»", "Нужен счёт на осушитель"),
            ("Марина", "Пусконаладка оборудования в Туле"),
            ("АО «Металлист»", "Запрос ТКП на два компрессора"),
            ("Виктор", "Есть ли фильтры в наличии?"),
            ("ООО «ТеплоСервис»", "Договор на обслуживание"),
            ("Наталья", "Перезвоните по поводу заказа"),
            ("ГУП «Водоканал»", "Участие в закупке: компрессорная станция"),
            ("ООО «Агро-Юг»", "Цена на ВК-15 с доставкой"),
            ("Павел", "Нужна консультация инженера"),
            ("ООО «ЛКМ-Завод»", "Ремкомплекты, 10 штук"),
        ]
    ):
        post(13 + n // 4, (n % 4) * 15, name=who, email=f"zapros{n + 1}@example.org", message=what)
    # The evening sweep: missed first responses go to the head of sales.
    _at(day, 17, 30)
    deadlines.sweep()
    return made


def _assignee(request_id: int) -> User:
    from otdel.inbound.models import InboundRequest

    request = InboundRequest.objects.select_related("assignee").get(pk=request_id)
    assert request.assignee is not None, "the demo's desk has room at this hour"
    return request.assignee
