"""Build the demo department: people, a base of ~2,000 clients and six months of history.

Everything about ownership goes through otdel.ownership.services and the sweep, with the clock
moved back day by day, so the ledger, the audit trail and the notifications are exactly what the
product would have written. Only data that does not touch ownership (the imported clients' rows,
legal entities, contacts, colleagues' notes) is inserted in bulk, for speed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from otdel.activities.calls import record_calls
from otdel.activities.models import Activity
from otdel.activities.services import log_activity
from otdel.clients.models import Client, Contact, ContactPhone, LegalEntity, Site
from otdel.clients.normalize import domain_of_email, domain_of_website, normalize_name
from otdel.clients.schemas import ClientIn, ContactIn, LegalEntityIn
from otdel.clients.services import create_client, set_locked
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.demo.inbound_demo import build_inbound
from otdel.demo.names import Company, Generator
from otdel.demo.sales_demo import build_sales
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind, TransferRequest, TransferStatus
from otdel.ownership.policy_document import OwnershipPolicyDocument
from otdel.ownership.sweep import run_sweep
from otdel.people.models import Notification, Role, Team, User
from otdel.planning.cadences import run_cadences
from otdel.planning.models import Task, TaskStatus
from otdel.planning.services import commit_day_plan
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord

DEMO_PBX = "asterisk:office"

DEMO_PASSWORD = "demo12345"  # noqa: S105 — the demo's published password
TEAM_NAME = "Отдел продаж"
HISTORY_DAYS = 180


@dataclass(frozen=True)
class Person:
    """A demo login, and how this person works his base."""

    username: str
    last: str
    first: str
    patronymic: str
    role: str
    target: int = 0  # clients he ends up owning
    touch_after: int = 20  # days after which he calls a client again
    neglect: float = 0.03  # share of his clients he forgets (they go back to the pool)


PEOPLE = [
    Person("head", "Соколов", "Андрей", "Викторович", Role.HEAD_OF_SALES),
    Person("director", "Беляев", "Николай", "Петрович", Role.DIRECTOR),
    Person("orlov", "Орлов", "Максим", "Игоревич", Role.HUNTER, 192, 23, 0.04),
    Person("zaitseva", "Зайцева", "Анна", "Сергеевна", Role.HUNTER, 188, 23, 0.03),
    Person("volkov", "Волков", "Дмитрий", "Александрович", Role.ACCOUNT_MANAGER, 150, 22, 0.02),
    Person("morozova", "Морозова", "Елена", "Николаевна", Role.ACCOUNT_MANAGER, 125, 23, 0.03),
    Person("kozlov", "Козлов", "Павел", "Андреевич", Role.ACCOUNT_MANAGER, 100, 24, 0.12),
    Person("tarasov", "Тарасов", "Игорь", "Владимирович", Role.ORDER_MANAGER, 60, 21, 0.02),
    Person("belova", "Белова", "Марина", "Евгеньевна", Role.COORDINATOR, 35, 23, 0.05),
    Person("fedorova", "Фёдорова", "Ольга", "Михайловна", Role.DB_OPERATOR),
    Person("pavlov", "Павлов", "Роман", "Олегович", Role.DOC_CLERK),
]

POLICY_V1 = OwnershipPolicyDocument(
    default_cap=200,
    role_caps={Role.ORDER_MANAGER: 120, Role.COORDINATOR: 80},
    daily_claim_limit=20,
    protection_days=14,
    cooldown_days=30,
    return_after_idle_days=30,
    warn_days_before=3,
).model_dump()
POLICY_V2 = {**POLICY_V1, "protection_days": 10, "cooldown_days": 21}
POLICY_V3 = {**POLICY_V2, "daily_claim_limit": 15}

RELEASE_REASONS = [
    "Не наш профиль: оборудование не используют",
    "Компания закрылась",
    "Нет потребности, перезвонить через год",
    "Работают напрямую с заводом",
    "Ушли к конкуренту, цена не устраивает",
    "Дубль филиала, работаем через головную компанию",
]
TRANSFER_REASONS = [
    "Пришла заявка от клиента на запчасти, счёт готов",
    "Клиент сам позвонил мне, есть заказ на поставку",
    "Веду их головную компанию, есть тендер на группу",
    "Есть заказ от клиента через сайт, владелец не отвечает клиенту",
]
CALL_SUBJECTS = [
    "Уточнил потребность на квартал",
    "Отправил КП, договорились созвониться",
    "Напомнил о сервисном обслуживании",
    "Обсудили отгрузку и сроки",
    "Выяснил ЛПР, назначил встречу",
    "Клиент просит прайс на ЗИП",
]
MEETING_SUBJECTS = ["Встреча на объекте", "Презентация оборудования", "Переговоры по договору"]
EMAIL_SUBJECTS = ["Коммерческое предложение", "Прайс-лист", "Договор поставки на согласование"]
NOTE_TEXTS = [
    "Реквизиты сверены с ЕГРЮЛ",
    "Клиент просил не звонить до конца месяца",
    "Бухгалтерия просит акт сверки",
    "Поменялся снабженец, новый контакт добавлен",
]


@dataclass
class Stats:
    """What the loader made, for the printout."""

    clients: int = 0
    activities: int = 0
    claims: int = 0
    releases: int = 0
    transfers: int = 0
    assigns: int = 0
    returned: int = 0
    warned: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class DemoBuilder:
    """Runs the six months of the demo department's life through the real services."""

    def __init__(self, *, clients: int = 2000, seed: int = 7, log: Callable[[str], None]) -> None:
        self.rnd = random.Random(seed)
        self.gen = Generator(seed)
        self.n_clients = clients
        self.log = log
        self.stats = Stats()
        self.users: dict[str, User] = {}
        self.plans: dict[str, Person] = {p.username: p for p in PEOPLE}
        self.neglected: set[int] = set()
        self.due_set: dict[int, tuple[str, dt.date]] = {}
        self.pending: list[tuple[dt.date, int, str]] = []  # (day, transfer id, action)
        self.buffer: list[Activity] = []
        self.calls: list[CallRecord] = []
        self.extensions: dict[int, str] = {}
        self.phones: dict[int, str] = {}
        self.today = clock.today()
        self.start = self.today - dt.timedelta(days=HISTORY_DAYS)

    # --- time -----------------------------------------------------------------------------

    def at(self, day: dt.date, hour: float) -> dt.datetime:
        """A moment of a past local day; the clock stops there."""
        moment = clock.start_of_day(day) + dt.timedelta(hours=hour)
        clock.freeze(moment)
        return moment

    def try_(self, fn: Callable[[], object]) -> bool:
        """Call a service; a refusal (cap, cooldown, limit) is part of life, not an error."""
        try:
            fn()
            return True
        except DomainError as err:
            self.stats.refused[err.code] = self.stats.refused.get(err.code, 0) + 1
            return False

    # --- the build ------------------------------------------------------------------------

    def build(self) -> Stats:
        real_now = clock.now()
        try:
            self.people()
            self.import_base()
            for offset in range(HISTORY_DAYS):
                self.live_day(self.start + dt.timedelta(days=offset))
            self.last_touches(real_now)
        finally:
            clock.unfreeze()
        self.finish(real_now)
        return self.stats

    def people(self) -> None:
        self.at(self.start - dt.timedelta(days=2), 9)
        team = Team.objects.create(name=TEAM_NAME)
        for p in PEOPLE:
            self.users[p.username] = User.objects.create_user(
                username=p.username,
                password=DEMO_PASSWORD,
                first_name=p.first,
                last_name=p.last,
                patronymic=p.patronymic,
                role=p.role,
                team=team,
                email=f"{p.username}@otdel-demo.ru",
            )
        self.team = team
        # Every person who keeps a base has an extension on the office PBX: his calls arrive as
        # facts from it (see log_work), not as self-reports.
        for number, p in enumerate(PEOPLE, start=101):
            PhoneAccount.objects.create(
                source=DEMO_PBX, account=str(number), user=self.users[p.username]
            )
        ownership.publish_policy(
            team.pk,
            document=POLICY_V1,
            effective_from=clock.now(),
            actor=self.users["head"],
            comment="Правила закрепления при запуске системы",
        )

    def import_base(self) -> None:
        """The database operator loads the base from the old spreadsheet: all into the pool."""
        moment = self.at(self.start - dt.timedelta(days=1), 11)
        operator = self.users["fedorova"]
        companies = [self.gen.company() for _ in range(self.n_clients)]
        with transaction.atomic():
            clients = Client.objects.bulk_create(
                Client(
                    name=c.legal_name,
                    normalized_name=normalize_name(c.legal_name),
                    team=self.team,
                    website=f"https://www.{c.domain}",
                    web_domain=domain_of_website(c.domain),
                    region=c.region,
                    industry=c.industry,
                    created_by=operator,
                    created_at=moment,
                    updated_at=moment,
                )
                for c in companies
            )
            if clients[0].pk is None:  # backends that do not return ids from bulk inserts
                clients = list(Client.objects.order_by("pk"))
            self._children(list(zip(clients, companies, strict=True)))
            for client in clients:
                ownership.establish_owner(
                    client,
                    owner=None,
                    actor=operator,
                    kind=EventKind.IMPORT,
                    reason="Загрузка базы из таблицы «Клиенты 2023.xlsx»",
                )
        self.stats.clients = len(clients)
        self.clients = {c.pk: c.name for c in clients}
        self.companies = {c.pk: comp for c, comp in zip(clients, companies, strict=True)}

    def _children(self, pairs: list[tuple[Client, Company]]) -> None:
        LegalEntity.objects.bulk_create(
            LegalEntity(
                client=c,
                name=comp.legal_name,
                inn=comp.inn,
                kpp=comp.kpp,
                ogrn=comp.ogrn,
                address=comp.address,
            )
            for c, comp in pairs
        )
        Site.objects.bulk_create(
            Site(
                client=c,
                name="Головной офис",
                address=comp.address,
                city=comp.city,
                region=comp.region,
            )
            for c, comp in pairs
        )
        contacts = Contact.objects.bulk_create(
            Contact(
                client=c,
                full_name=name,
                position=position,
                is_decision_maker=dm,
                email=email,
                email_domain=domain_of_email(email),
            )
            for c, comp in pairs
            for name, position, dm, email, _phones in comp.contacts
        )
        if contacts and contacts[0].pk is None:
            contacts = list(Contact.objects.order_by("pk"))
        phones = [p for _c, comp in pairs for ct in comp.contacts for p in [ct[4]]]
        ContactPhone.objects.bulk_create(
            ContactPhone(
                contact=contact,
                client_id=contact.client_id,
                e164=e164,
                raw=e164,
                is_mobile=e164.startswith("+79"),
            )
            for contact, numbers in zip(contacts, phones, strict=True)
            for e164 in numbers
        )

    # --- one day of the department --------------------------------------------------------

    def owners(self) -> list[Person]:
        return [p for p in PEOPLE if p.target]

    def live_day(self, day: dt.date) -> None:
        offset = (day - self.start).days
        self.at(day, 6)
        swept = run_sweep()
        self.stats.returned += swept["returned"]
        self.stats.warned += swept["warned"]
        ownership.process_transfer_deadlines()
        if day.weekday() >= 5:
            return
        if offset == 0:
            self.first_distribution(day)
        if offset == 90:
            self.at(day, 8.5)
            ownership.publish_policy(
                self.team.pk,
                document=POLICY_V2,
                effective_from=clock.now(),
                actor=self.users["head"],
                comment="Защита после захвата 10 дней, повторный захват через 21 день",
            )
        if offset == HISTORY_DAYS - 30:
            self.choose_due_this_week(day)
        self.do_pending(day)
        self.head_decides(day)
        pool_ids = list(Client.objects.in_pool().values_list("pk", flat=True))
        self.rnd.shuffle(pool_ids)
        for person in self.owners():
            user = self.users[person.username]
            self.claims(day, offset, person, user, pool_ids)
            self.touches(day, person, user)
            if self.rnd.random() < 0.06:
                self.release(day, user)
        if offset % 5 == 2:
            self.transfer(day)
        if offset % 7 == 3:
            self.assign_inbound(day)
        if offset in (40, 75, 120):
            self.lock_key_clients(day)
        if HISTORY_DAYS - 12 <= offset <= HISTORY_DAYS - 4 and offset % 2 == 0:
            self.duplicate(day)
        self.flush_activities()

    def first_distribution(self, day: dt.date) -> None:
        """On day one the head of sales hands the old customers to the account managers."""
        head = self.users["head"]
        pool_ids = list(Client.objects.in_pool().order_by("pk").values_list("pk", flat=True))
        start = 0
        for username, count in (("volkov", 110), ("morozova", 85), ("kozlov", 80), ("tarasov", 30)):
            user = self.users[username]
            for i, client_id in enumerate(pool_ids[start : start + count]):
                self.at(day, 9 + i / 60)
                if self.try_(
                    lambda c=client_id, u=user: ownership.assign(
                        c, to_user=u, actor=head, reason="Распределение действующих клиентов"
                    )
                ):
                    self.stats.assigns += 1
                    self.forget_maybe(client_id, username)
            start += count

    def forget_maybe(self, client_id: int, username: str) -> None:
        if self.rnd.random() < self.plans[username].neglect:
            self.neglected.add(client_id)

    def claims(
        self, day: dt.date, offset: int, person: Person, user: User, pool_ids: list[int]
    ) -> None:
        ramp = min(1.0, 0.15 + offset / 110)
        owned = Client.objects.live().filter(owner=user).count()
        want = int(person.target * ramp) - owned
        if want <= 0:
            return
        for i in range(min(want, self.rnd.randint(6, 18))):
            if not pool_ids:
                return
            client_id = pool_ids.pop()
            self.at(day, 9.5 + i * 0.1 + self.rnd.random() * 0.05)
            if self.try_(lambda c=client_id: ownership.claim(c, actor=user)):
                self.stats.claims += 1
                self.forget_maybe(client_id, person.username)
                self.log_work(day, user, client_id, 9.6 + i * 0.1)

    def touches(self, day: dt.date, person: Person, user: User) -> None:
        """Calls, e-mails and meetings on the clients whose clock is getting old."""
        cutoff = clock.start_of_day(day) - dt.timedelta(days=person.touch_after)
        due = list(
            Client.objects.live()
            .filter(owner=user, activity_clock_at__lt=cutoff)
            .order_by("activity_clock_at")
            .values_list("pk", flat=True)[:40]
        )
        done = 0
        for client_id in due:
            if client_id in self.neglected:
                continue
            plan = self.due_set.get(client_id)
            if plan is not None and plan[1] != day:
                continue
            self.log_work(day, user, client_id, 12 + done * 0.08)
            done += 1
        for client_id, (username, last_day) in self.due_set.items():
            if username == person.username and last_day == day and client_id not in due:
                self.log_work(day, user, client_id, 17.5)

    def log_work(self, day: dt.date, user: User, client_id: int, hour: float) -> None:
        """One piece of qualifying work by the owner; it restarts his clock through the
        ownership service. Most rows are buffered and inserted in bulk at the end of the day
        (speed); every tenth goes through log_activity, as a person would log it."""
        moment = self.at(day, min(hour, 19.5))
        roll = self.rnd.random()
        if roll < 0.7:
            kind, subject = "call", self.rnd.choice(CALL_SUBJECTS)
            direction, talk = "out", self.rnd.randint(30, 900)
        elif roll < 0.9:
            kind, subject, direction, talk = "email", self.rnd.choice(EMAIL_SUBJECTS), "out", None
        else:
            kind, subject, direction, talk = "meeting", self.rnd.choice(MEETING_SUBJECTS), "", None
        self.stats.activities += 1
        if self.rnd.random() < 0.1:
            self.try_(
                lambda: log_activity(
                    client_id,
                    actor=user,
                    kind=kind,
                    subject=subject,
                    direction=direction,
                    talk_seconds=talk,
                )
            )
            return
        if kind == "call":
            # The PBX reports the call; its verdict and the owner's clock follow from the
            # team's call policy, exactly as in production.
            self.calls.append(
                CallRecord(
                    source=DEMO_PBX,
                    external_id=f"demo-{len(self.calls) + self.stats.activities}-{client_id}",
                    started_at=moment,
                    direction="out",
                    disposition="answered",
                    talk_seconds=talk or 0,
                    account=self.extension_of(user),
                    their_number=self.phone_of(client_id),
                )
            )
            return
        self.buffer.append(
            Activity(
                client_id=client_id,
                author=user,
                kind=kind,
                occurred_at=moment,
                subject=subject,
                direction=direction,
                talk_seconds=talk,
                source="manual",
                created_at=moment,
            )
        )
        ownership.note_qualifying_activity(client_id, user_id=user.pk, kind=kind, at=moment)

    def extension_of(self, user: User) -> str:
        if not self.extensions:
            self.extensions = dict(
                PhoneAccount.objects.filter(source=DEMO_PBX).values_list("user_id", "account")
            )
        return self.extensions.get(user.pk, "")

    def phone_of(self, client_id: int) -> str:
        if client_id not in self.phones:
            self.phones[client_id] = (
                ContactPhone.objects.filter(client_id=client_id)
                .order_by("id")
                .values_list("e164", flat=True)
                .first()
                or ""
            )
        return self.phones[client_id]

    def flush_activities(self) -> None:
        Activity.objects.bulk_create(self.buffer)
        self.buffer = []
        if self.calls:
            record_calls(self.calls)
            self.calls = []

    def release(self, day: dt.date, user: User) -> None:
        client_id = (
            Client.objects.live()
            .filter(owner=user)
            .order_by("?")
            .values_list("pk", flat=True)
            .first()
        )
        if client_id is None or client_id in self.due_set:
            return
        self.at(day, 16 + self.rnd.random())
        reason = self.rnd.choice(RELEASE_REASONS)
        if self.try_(lambda: ownership.release_to_pool(client_id, actor=user, reason=reason)):
            self.stats.releases += 1

    def transfer(
        self, day: dt.date, *, outcome: str | None = None, moment: dt.datetime | None = None
    ) -> TransferRequest | None:
        """Someone has an order from a colleague's client; the owner, the head or the deadline decides."""
        owners = [self.users[p.username] for p in self.owners()]
        requester = self.rnd.choice(owners)
        client_id = (
            Client.objects.live()
            .filter(owner__in=owners)
            .exclude(owner=requester)
            .exclude(pk__in=list(self.due_set))
            .order_by("?")
            .values_list("pk", flat=True)
            .first()
        )
        if client_id is None:
            return None
        if moment is None:
            self.at(day, 11 + self.rnd.random() * 3)
        else:
            clock.freeze(moment)
        reason = self.rnd.choice(TRANSFER_REASONS)
        request: list[TransferRequest] = []
        if not self.try_(
            lambda: request.append(
                ownership.request_transfer(client_id, requester=requester, reason=reason)
            )
        ):
            return None
        self.stats.transfers += 1
        outcome = outcome or self.rnd.choice(["agree", "object_approve", "object_deny", "silence"])
        next_day = day + dt.timedelta(days=1 if day.weekday() < 4 else 3)
        if outcome == "agree":
            self.pending.append((next_day, request[0].pk, "agree"))
        elif outcome.startswith("object"):
            self.pending.append((next_day, request[0].pk, outcome))
        # "silence": the deadline task escalates it or approves it if the owner was idle.
        return request[0]

    def do_pending(self, day: dt.date) -> None:
        for item in [p for p in self.pending if p[0] <= day]:
            self.pending.remove(item)
            self.answer(day, item[1], item[2])

    def answer(self, day: dt.date, request_id: int, action: str) -> None:
        """The owner answers a request the next day; if he objects, the head decides."""
        request = TransferRequest.objects.get(pk=request_id)
        if request.status != TransferStatus.AWAITING_OWNER:
            return
        owner = User.objects.get(pk=request.owner_id)
        self.at(day, 10 + self.rnd.random())
        agree = action == "agree"
        comment = (
            "Забирай, у меня по ним тишина"
            if agree
            else "Я веду этого клиента, на прошлой неделе отправлял КП"
        )
        answered = self.try_(
            lambda: ownership.answer_transfer(request_id, actor=owner, agree=agree, comment=comment)
        )
        if agree or not answered:
            return
        self.at(day, 15 + self.rnd.random())
        approve = action == "object_approve"
        self.try_(
            lambda: ownership.decide_transfer(
                request_id,
                actor=self.users["head"],
                approve=approve,
                comment="Заказ ведёт тот, кто его принёс"
                if approve
                else "Клиент в работе у владельца, оставляем",
            )
        )

    def assign_inbound(self, day: dt.date) -> None:
        """An inbound request from a pool client: the head gives it to the order manager."""
        head, om = self.users["head"], self.users["tarasov"]
        for client_id in Client.objects.in_pool().order_by("?").values_list("pk", flat=True)[:2]:
            self.at(day, 10.5 + self.rnd.random())
            if self.try_(
                lambda c=client_id: ownership.assign(
                    c, to_user=om, actor=head, reason="Входящая заявка с сайта"
                )
            ):
                self.stats.assigns += 1

    def lock_key_clients(self, day: dt.date) -> None:
        head = self.users["head"]
        ids = Client.objects.live().filter(owner=self.users["volkov"], is_locked=False)
        for client_id in ids.order_by("?").values_list("pk", flat=True)[:4]:
            self.at(day, 13)
            self.try_(lambda c=client_id: set_locked(c, locked=True, actor=head))

    def choose_due_this_week(self, day: dt.date) -> None:
        """Pick clients whose owners will call them one last time 24–29 days before today."""
        recent = clock.start_of_day(day) - dt.timedelta(days=8)
        for person in self.owners():
            ids = list(
                Client.objects.live()
                .filter(owner=self.users[person.username], activity_clock_at__gte=recent)
                .exclude(pk__in=list(self.neglected))
                .order_by("?")
                .values_list("pk", flat=True)[:6]
            )
            for client_id in ids:
                last_call = self.today - dt.timedelta(days=self.rnd.randint(24, 29))
                while last_call.weekday() >= 5:
                    last_call -= dt.timedelta(days=1)
                self.due_set[client_id] = (person.username, last_call)

    def duplicate(self, day: dt.date) -> None:
        """A hunter enters a client another manager already has (same ИНН or phone)."""
        hunters = [self.users["orlov"], self.users["zaitseva"], self.users["belova"]]
        actor = self.rnd.choice(hunters)
        original = (
            Client.objects.live()
            .filter(owner__isnull=False)
            .exclude(owner=actor)
            .order_by("?")
            .first()
        )
        if original is None:
            return
        comp = self.companies.get(original.pk)
        if comp is None:
            return
        by_inn = self.rnd.random() < 0.5
        last, first, patronymic = self.gen.person()
        data = ClientIn(
            name=f"{comp.name} ({comp.city})" if by_inn else f"ТД {comp.name}",
            region=comp.region,
            industry=comp.industry,
            legal_entities=[
                LegalEntityIn(
                    name=comp.legal_name,
                    inn=comp.inn if by_inn else self.gen.company().inn,
                    kpp=comp.kpp[:4] + "43" + comp.kpp[6:] if by_inn else "",
                )
            ],
            contacts=[
                ContactIn(
                    full_name=f"{last} {first} {patronymic}",
                    position="Менеджер по закупкам",
                    phones=[self.gen.phone() if by_inn else comp.contacts[0][4][0]],
                )
            ],
        )
        self.at(day, 12.25)
        if self.try_(lambda: create_client(data, actor=actor, owner=actor, allow_duplicates=True)):
            self.stats.clients += 1

    def last_touches(self, real_now: dt.datetime) -> None:
        """Today: one transfer request waits for its owner, one (objected) for the head."""
        self.transfer(self.today, outcome="silence", moment=real_now - dt.timedelta(hours=3))
        request = self.transfer(
            self.today, outcome="silence", moment=real_now - dt.timedelta(hours=5)
        )
        if request is not None:
            clock.freeze(real_now - dt.timedelta(hours=1))
            owner = User.objects.get(pk=request.owner_id)
            self.try_(
                lambda: ownership.answer_transfer(
                    request.pk,
                    actor=owner,
                    agree=False,
                    comment="Это мой клиент, на этой неделе у нас встреча",
                )
            )

    def head_decides(self, day: dt.date) -> None:
        """The head of sales clears the requests waiting for his decision."""
        head = self.users["head"]
        waiting = TransferRequest.objects.filter(
            status=TransferStatus.AWAITING_DECISION, created_at__lt=clock.start_of_day(day)
        ).values_list("pk", flat=True)
        for request_id in list(waiting):
            self.at(day, 17 + self.rnd.random())
            approve = self.rnd.random() < 0.6
            self.try_(
                lambda r=request_id, a=approve: ownership.decide_transfer(
                    r,
                    actor=head,
                    approve=a,
                    comment="Владелец не ответил вовремя, заказ у заявителя"
                    if a
                    else "Оставляем у владельца",
                )
            )

    def finish(self, real_now: dt.datetime) -> None:
        """Colleagues' notes in bulk; old notifications read; clocks running again."""
        ids = list(Client.objects.live().values_list("pk", flat=True))
        staff = [self.users["fedorova"], self.users["pavlov"], self.users["director"]]
        notes = []
        for client_id in self.rnd.sample(ids, min(600, len(ids))):
            when = real_now - dt.timedelta(days=self.rnd.randint(1, HISTORY_DAYS - 1))
            notes.append(
                Activity(
                    client_id=client_id,
                    author=self.rnd.choice(staff),
                    kind="note",
                    occurred_at=when,
                    subject=self.rnd.choice(NOTE_TEXTS),
                    source="manual",
                    created_at=when,
                )
            )
        Activity.objects.bulk_create(notes)
        self.stats.activities += len(notes)
        Notification.objects.filter(
            read_at__isnull=True, created_at__lt=real_now - dt.timedelta(days=7)
        ).update(read_at=real_now)
        clock.freeze(real_now)
        try:
            ownership.publish_policy(
                self.team.pk,
                document=POLICY_V3,
                effective_from=clock.start_of_day(
                    (self.today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
                ),
                actor=self.users["head"],
                comment="С 1-го числа — не больше 15 захватов из копилки в день",
            )
            self.plan_today()
            build_sales(self.users, self.team, real_now)
            build_inbound(self.users, self.team, real_now)
        finally:
            clock.unfreeze()

    def plan_today(self) -> None:
        """Today's tasks from the cadence rules, and the morning plan of two managers (the
        others have not committed theirs yet: the daily review shows who is behind)."""
        run_cadences()
        for username in ("orlov", "volkov"):
            user = self.users[username]
            task_ids = list(
                Task.objects.filter(assignee=user, status=TaskStatus.OPEN, due_date__lte=self.today)
                .order_by("due_date", "pk")
                .values_list("pk", flat=True)[:12]
            )
            self.try_(
                lambda u=user, t=task_ids: commit_day_plan(actor=u, task_ids=t, calls_target=25)
            )
