"""Small builders for tests: real rows through the real services, valid ИНН and phones."""

from __future__ import annotations

import itertools
import random

from otdel.clients.models import Client
from otdel.clients.schemas import ClientIn, ContactIn, LegalEntityIn
from otdel.clients.services import create_client
from otdel.people.models import Role, Team, User

_seq = itertools.count(1)


def valid_inn(seed: int | None = None) -> str:
    """A 10-digit company ИНН with correct check digit."""
    rnd = random.Random(seed if seed is not None else next(_seq) * 7919)
    digits = [rnd.randint(0, 9) for _ in range(9)]
    digits[0] = digits[0] or 7
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 % 10
    return "".join(map(str, digits)) + str(check)


def phone(n: int | None = None) -> str:
    n = n if n is not None else next(_seq)
    return f"+7495{n % 10_000_000:07d}"


def make_team(name: str | None = None) -> Team:
    return Team.objects.create(name=name or f"Отдел {next(_seq)}")


def make_user(
    role: str = Role.HUNTER,
    *,
    team: Team | None = None,
    username: str | None = None,
    password: str = "pass-Word-123",
    cap: int | None = None,
    **extra: object,
) -> User:
    n = next(_seq)
    user = User.objects.create_user(
        username=username or f"user{n}",
        password=password,
        role=role,
        team=team,
        first_name=extra.pop("first_name", f"Имя{n}"),
        last_name=extra.pop("last_name", f"Фамилия{n}"),
        client_cap=cap,
        **extra,
    )
    return user


def make_head(team: Team, **kw: object) -> User:
    return make_user(Role.HEAD_OF_SALES, team=team, **kw)


def make_client(
    actor: User,
    *,
    team: Team | None = None,
    owner: User | None = None,
    name: str | None = None,
    inn: str | None = None,
    phones: list[str] | None = None,
    email: str = "",
    allow_duplicates: bool = True,
) -> Client:
    """A client created through the service, in `owner`'s base or the pool."""
    n = next(_seq)
    data = ClientIn(
        name=name or f"ООО Клиент {n}",
        legal_entities=[LegalEntityIn(name=name or f"ООО Клиент {n}", inn=inn or valid_inn(n))],
        contacts=[
            ContactIn(
                full_name=f"Контакт {n}",
                phones=phones if phones is not None else [phone(n)],
                email=email,
            )
        ],
    )
    return create_client(
        data, actor=actor, team=team, owner=owner, allow_duplicates=allow_duplicates
    )
