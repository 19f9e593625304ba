"""Shared fixtures: a team with its head and managers, and a movable clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from otdel.core import clock
from otdel.people.models import Role
from tests.factories import make_head, make_team, make_user


@pytest.fixture
def frozen_clock() -> Iterator[type[clock]]:
    """Freeze the clock at a Wednesday morning in Moscow; tests move it with clock.advance."""
    clock.freeze(dt.datetime(2026, 11, 18, 10, 0, tzinfo=clock.MOSCOW))
    yield clock
    clock.unfreeze()


@pytest.fixture
def team(db):
    return make_team("Отдел продаж")


@pytest.fixture
def head(team):
    return make_head(team, username="head")


@pytest.fixture
def manager(team):
    return make_user(
        Role.HUNTER, team=team, username="ivanov", last_name="Иванов", first_name="Иван"
    )


@pytest.fixture
def other_manager(team):
    return make_user(
        Role.ACCOUNT_MANAGER, team=team, username="petrova", last_name="Петрова", first_name="Анна"
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.5 s per user on a loaded 2-core machine; tests need no real hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
