"""Plausible Russian data for the demo department: companies, people, regions, phones, ИНН."""

from __future__ import annotations

import random
from dataclasses import dataclass

# (region, city, ИНН/КПП region code, landline area codes)
REGIONS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("Москва", "Москва", "77", ("495", "499")),
    ("Москва", "Москва", "77", ("495", "499")),
    ("Москва", "Москва", "77", ("495", "499")),
    ("Санкт-Петербург", "Санкт-Петербург", "78", ("812",)),
    ("Санкт-Петербург", "Санкт-Петербург", "78", ("812",)),
    ("Московская область", "Подольск", "50", ("496",)),
    ("Московская область", "Химки", "50", ("498",)),
    ("Свердловская область", "Екатеринбург", "66", ("343",)),
    ("Новосибирская область", "Новосибирск", "54", ("383",)),
    ("Республика Татарстан", "Казань", "16", ("843",)),
    ("Нижегородская область", "Нижний Новгород", "52", ("831",)),
    ("Самарская область", "Самара", "63", ("846",)),
    ("Ростовская область", "Ростов-на-Дону", "61", ("863",)),
    ("Краснодарский край", "Краснодар", "23", ("861",)),
    ("Челябинская область", "Челябинск", "74", ("351",)),
    ("Пермский край", "Пермь", "59", ("342",)),
    ("Республика Башкортостан", "Уфа", "02", ("347",)),
    ("Воронежская область", "Воронеж", "36", ("473",)),
    ("Красноярский край", "Красноярск", "24", ("391",)),
    ("Тюменская область", "Тюмень", "72", ("345",)),
]

INDUSTRIES = [
    "Машиностроение",
    "Металлообработка",
    "Строительство",
    "Пищевое производство",
    "Логистика и склады",
    "Оптовая торговля",
    "Энергетика",
    "Нефтегазовый сервис",
    "Химическая промышленность",
    "Сельское хозяйство",
    "Деревообработка",
    "Горнодобывающая промышленность",
    "Коммунальное хозяйство",
    "Медицина",
    "Упаковка и полиграфия",
]

_ROOTS = [
    "Тех", "Строй", "Снаб", "Пром", "Энерго", "Мет", "Агро", "Лог", "Трейд", "Сиб", "Урал",
    "Волга", "Север", "Балт", "Гидро", "Термо", "Авто", "Инж", "Спец", "Транс", "Электро",
    "Нефте", "Хим", "Маш", "Стан", "Лес", "Дор", "Мост", "Кран", "Вент",
]  # fmt: skip
_STEMS = [
    "снаб", "строй", "маш", "комплект", "торг", "пром", "сервис", "монтаж", "лит", "прибор",
    "мех", "ресурс", "деталь", "арм", "трейд", "терм", "пласт", "сталь", "прокат", "тех",
]  # fmt: skip
_SUFFIXES = ["", "", "", "", " Групп", " Плюс", "-М", " Холдинг", "-Центр", " Инжиниринг", "-Юг"]
_FORMS = ["ООО", "ООО", "ООО", "ООО", "АО", "АО", "ПАО", "ЗАО"]

_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            *"abvgdee",
            "zh",
            *"ziyklmnoprstufh",
            "ts",
            "ch",
            "sh",
            "sch",
            "-",
            "y",
            "-",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)

MALE_FIRST = [
    "Александр", "Алексей", "Андрей", "Сергей", "Дмитрий", "Игорь", "Михаил", "Николай",
    "Владимир", "Евгений", "Павел", "Олег", "Виктор", "Роман", "Константин", "Максим",
]  # fmt: skip
MALE_PATRONYMIC = [
    "Александрович", "Сергеевич", "Викторович", "Игоревич", "Николаевич", "Владимирович",
    "Андреевич", "Петрович", "Михайлович", "Евгеньевич",
]  # fmt: skip
FEMALE_FIRST = [
    "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Анна", "Мария", "Юлия",
    "Екатерина", "Марина", "Анастасия",
]  # fmt: skip
FEMALE_PATRONYMIC = [
    "Александровна", "Сергеевна", "Викторовна", "Игоревна", "Николаевна", "Владимировна",
    "Андреевна", "Петровна", "Михайловна",
]  # fmt: skip
LAST_NAMES = [
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков",
    "Морозов", "Петров", "Волков", "Соловьёв", "Васильев", "Зайцев", "Павлов", "Семёнов",
    "Голубев", "Виноградов", "Богданов", "Воробьёв", "Фёдоров", "Михайлов", "Беляев",
    "Тарасов", "Белов", "Комаров", "Орлов", "Киселёв", "Макаров", "Андреев",
]  # fmt: skip
POSITIONS = [
    ("Генеральный директор", True),
    ("Коммерческий директор", True),
    ("Главный инженер", True),
    ("Начальник отдела снабжения", True),
    ("Менеджер по закупкам", False),
    ("Специалист по закупкам", False),
    ("Главный механик", False),
    ("Бухгалтер", False),
    ("Офис-менеджер", False),
]
MOBILE_CODES = ("903", "905", "906", "909", "915", "916", "917", "925", "926", "977", "985")


def transliterate(text: str) -> str:
    """Latin letters for a domain or a mailbox."""
    out = "".join(_TRANSLIT.get(ch, ch) for ch in text.lower())
    return "".join(ch for ch in out if ch.isascii() and (ch.isalnum() or ch == "-")).strip("-")


def inn_check(digits9: str) -> str:
    """A 10-digit company ИНН: nine digits plus the check digit."""
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(int(d) * w for d, w in zip(digits9, weights, strict=True)) % 11 % 10
    return digits9 + str(check)


def ogrn_for(region_code: str, serial: int, rnd: random.Random) -> str:
    """A 13-digit ОГРН with a correct check digit."""
    year = rnd.randint(2, 22)
    body = f"1{year:02d}{region_code}{rnd.randint(10, 99)}{serial % 10_000_000:06d}"[:12]
    body = body.ljust(12, "0")
    return body + str(int(body) % 11 % 10)


@dataclass
class Company:
    """One generated company with its legal entity and contacts."""

    name: str
    legal_name: str
    domain: str
    region: str
    city: str
    industry: str
    inn: str
    kpp: str
    ogrn: str
    address: str
    contacts: list[tuple[str, str, bool, str, list[str]]]  # name, position, ЛПР, e-mail, phones


class Generator:
    """Deterministic generator: the same seed gives the same department."""

    def __init__(self, seed: int = 2024) -> None:
        self.rnd = random.Random(seed)
        self._names: set[str] = set()
        self._serial = 0
        self._phones: set[str] = set()
        self._domains: set[str] = set()

    def person(self, female: bool | None = None) -> tuple[str, str, str]:
        """(last name, first name, patronymic)."""
        rnd = self.rnd
        if female is None:
            female = rnd.random() < 0.4
        last = rnd.choice(LAST_NAMES)
        if female:
            return last + "а", rnd.choice(FEMALE_FIRST), rnd.choice(FEMALE_PATRONYMIC)
        return last, rnd.choice(MALE_FIRST), rnd.choice(MALE_PATRONYMIC)

    def phone(self, area: str | None = None) -> str:
        """A unique valid Russian number in E.164: a landline in the area or a mobile."""
        while True:
            code = area or self.rnd.choice(MOBILE_CODES)
            number = f"+7{code}{self.rnd.randint(2_000_000, 9_899_999):07d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def company_name(self) -> tuple[str, str]:
        """(display name, brand word) — unique within a run."""
        rnd = self.rnd
        for attempt in range(30):
            word = rnd.choice(_ROOTS) + rnd.choice(_STEMS)
            word = word.replace("Снабснаб", "Снаб")
            brand = word + rnd.choice(_SUFFIXES)
            if attempt == 29:  # the combinations run out in very large bases: number them
                brand = f"{brand}-{self._serial}"
            if brand not in self._names:
                self._names.add(brand)
                return brand, word
        raise AssertionError("unreachable")

    def company(self) -> Company:
        rnd = self.rnd
        self._serial += 1
        region, city, code, areas = rnd.choice(REGIONS)
        brand, word = self.company_name()
        form = rnd.choice(_FORMS)
        legal = f"{form} «{brand}»"
        domain = transliterate(brand) + rnd.choice([".ru", ".ru", ".ru", ".com", ".su"])
        if domain in self._domains:
            domain = f"{transliterate(word)}-{transliterate(city)[:3]}{self._serial}.ru"
        self._domains.add(domain)
        inspection = f"{rnd.randint(1, 46):02d}"
        inn = inn_check(f"{code}{self._serial % 10_000_000:07d}")
        kpp = f"{code}{inspection}01001"
        contacts = []
        for i in range(rnd.choice((1, 1, 2, 2, 2, 3))):
            last, first, patronymic = self.person()
            position, dm = POSITIONS[0] if i == 0 and rnd.random() < 0.5 else rnd.choice(POSITIONS)
            box = f"{transliterate(first)[0]}.{transliterate(last)}"
            email = f"{box}@{domain}" if rnd.random() < 0.85 else f"info@{domain}"
            phones = [self.phone(rnd.choice(areas))]
            if rnd.random() < 0.6:
                phones.append(self.phone())
            contacts.append((f"{last} {first} {patronymic}", position, dm, email, phones))
        street = rnd.choice(["Промышленная", "Заводская", "Ленина", "Мира", "Садовая", "Лесная"])
        return Company(
            name=brand,
            legal_name=legal,
            domain=domain,
            region=region,
            city=city,
            industry=rnd.choice(INDUSTRIES),
            inn=inn,
            kpp=kpp,
            ogrn=ogrn_for(code, self._serial, rnd),
            address=f"г. {city}, ул. {street}, д. {rnd.randint(1, 120)}",
            contacts=contacts,
        )
