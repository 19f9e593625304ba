"""Inbound fixtures: a desk of three specialists (besides the head and the two managers of the
shared conftest), a client owned by Petrova, and helpers to post a request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from otdel.core import clock
from otdel.inbound import services
from otdel.inbound.models import Channel, InboundRequest
from otdel.inbound.schemas import RequestIn
from otdel.people.models import Role, User
from tests.api.conftest import api_as  # noqa: F401  (the API fixture, shared)
from tests.factories import make_client, make_user

# A Wednesday at 10:00 in Moscow: everyone is within working hours.
WEDNESDAY_10 = dt.datetime(2026, 11, 18, 10, 0, tzinfo=clock.MOSCOW)


@pytest.fixture
def desk(team, frozen_clock) -> list[User]:
    """Three specialists of the team, all on shift."""
    return [
        make_user(
            Role.HUNTER, team=team, username=f"spec{i}", last_name=f"Спец{i}", first_name="Иван"
        )
        for i in range(1, 4)
    ]


@pytest.fixture
def owned_client(other_manager, head):
    """A client in Petrova's base, known by its phone and e-mail."""
    return make_client(
        head,
        owner=other_manager,
        phones=["+74950001122"],
        email="zakupki@zavod.ru",
        name="ООО Завод",
    )


def post(
    team_id: int, *, channel: str = Channel.WEB, external_id: str = "", **fields: Any
) -> InboundRequest:
    """A request arrives through the real intake service."""
    fields.setdefault("name", "Покупатель")
    if not (fields.get("phone") or fields.get("email")):
        fields["email"] = f"buyer{InboundRequest.objects.count() + 1}@example.org"
    received = services.receive(
        RequestIn(**fields), team_id=team_id, channel=channel, external_id=external_id
    )
    received.request.refresh_from_db()
    return received.request
