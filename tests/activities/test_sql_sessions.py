"""The set-based judge on a database session with a past: what an earlier transaction of the
same connection did (and undid) does not break the next one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction

from otdel.activities.calls import record_calls
from otdel.activities.models import Call
from otdel.activities.verdicts import judge_calls
from otdel.core import clock
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord
from tests.activities.calls import make_call
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL judge is PostgreSQL's"),
]


def test_judging_after_a_rolled_back_ingestion_on_the_same_connection_works(frozen_clock):
    """The rolled-back ingestion used temporary tables: PostgreSQL forgets their schema but
    keeps their buffers, and then refuses to resize them; the judge keeps the default size."""
    team = make_team("Телефония")
    head = make_head(team)
    person = make_user("hunter", team=team)
    PhoneAccount.objects.create(source="pbx", account="101", user=person)
    client = make_client(head, team=team, owner=person, phones=["+74951234567"])
    frozen_clock.advance(dt.timedelta(hours=2))
    connection.close()  # a fresh session: no temporary tables used yet
    record = CallRecord(
        source="pbx",
        external_id="c-1",
        started_at=clock.now() - dt.timedelta(hours=1),
        direction="out",
        disposition="answered",
        talk_seconds=200,
        account="101",
        their_number="+74951234567",
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        record_calls([record])
        raise RuntimeError("the import failed after storing")
    assert not Call.objects.exists()

    call = make_call(user=person, client=client, at=clock.now() - dt.timedelta(minutes=30))
    judge_calls([call.pk])
    call.refresh_from_db()
    assert call.effective is True
