"""On PostgreSQL the references of calls and timeline entries are checked set-based instead of
by row-by-row foreign keys (migration activities 0008): a call can still never point at a
client, contact, person or timeline entry that does not exist, and such a row can
still never be deleted from under a call — also when the delete races an ingestion."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction

from otdel.activities.calls import record_calls
from otdel.activities.models import Activity, Call
from otdel.clients.models import Contact
from otdel.core import clock
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord
from tests.activities.calls import make_call
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="set-based references are PostgreSQL's"
)

MISSING = 2**40


def _check_deferred() -> None:
    """Run the checks a commit would run (the test's transaction is never committed)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.mark.django_db
def test_a_call_pointing_at_a_missing_client_is_refused_and_nothing_is_written(manager):
    with pytest.raises(IntegrityError, match="client_id"), transaction.atomic():
        Call.objects.create(
            source="pbx", external_id="x", started_at=clock.now(), direction="out",
            disposition="answered", user=manager, client_id=MISSING, created_at=clock.now(),
        )  # fmt: skip
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_one_bad_reference_refuses_the_whole_batch(head, manager):
    client = make_client(head, owner=manager)

    def call(n: int, **refs: object) -> Call:
        return Call(
            source="pbx", external_id=f"b{n}", started_at=clock.now(), direction="out",
            disposition="answered", created_at=clock.now(), **refs,
        )  # fmt: skip

    batch = [call(1, client=client, user=manager), call(2, client=client, user_id=MISSING)]
    with pytest.raises(IntegrityError, match="user_id"), transaction.atomic():
        Call.objects.bulk_create(batch)
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_a_timeline_entry_pointing_at_a_missing_person_is_refused(head, manager):
    client = make_client(head, owner=manager)
    with pytest.raises(IntegrityError, match="author_id"), transaction.atomic():
        Activity.objects.create(
            client=client, author_id=MISSING, kind="note", occurred_at=clock.now(),
            created_at=clock.now(),
        )  # fmt: skip
    assert not Activity.objects.exists()


@pytest.mark.django_db
def test_moving_a_call_to_a_missing_client_or_contact_is_refused(head, manager):
    call = make_call(user=manager, client=make_client(head, owner=manager))
    with pytest.raises(IntegrityError, match="client_id"), transaction.atomic():
        Call.objects.filter(pk=call.pk).update(client_id=MISSING)
    with pytest.raises(IntegrityError, match="contact_id"), transaction.atomic():
        Call.objects.filter(pk=call.pk).update(contact_id=MISSING)
    call.refresh_from_db()
    assert call.client_id is not None and call.contact_id is None


@pytest.mark.django_db
def test_a_row_calls_point_at_cannot_be_deleted_behind_djangos_back(team, head, manager):
    client = make_client(head, owner=manager)
    contact = Contact.objects.create(client=client, full_name="Иван")
    call = make_call(user=manager, client=client)
    Call.objects.filter(pk=call.pk).update(contact=contact)
    with pytest.raises(IntegrityError, match="violates foreign key"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM clients_contact WHERE id = %s", [contact.pk])
        _check_deferred()
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.django_db
def test_deleting_a_contact_through_django_takes_it_off_its_calls(head, manager):
    client = make_client(head, owner=manager)
    contact = Contact.objects.create(client=client, full_name="Иван")
    call = make_call(user=manager, client=client)
    Call.objects.filter(pk=call.pk).update(contact=contact)
    contact.delete()  # the call's contact is SET_NULL
    _check_deferred()
    call.refresh_from_db()
    assert call.contact_id is None and call.client_id == client.pk


@pytest.mark.django_db
def test_the_calls_tables_have_no_row_by_row_foreign_keys_to_their_parents():
    """A later AlterField of one of these fields would make Django add a foreign key back:
    still correct, but each call would lock its client, contact and person again."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
               WHERE contype = 'f'
                 AND conrelid IN ('activities_call'::regclass, 'activities_activity'::regclass)"""
        )
        assert cursor.fetchall() == []
        cursor.execute(
            """SELECT tgrelid::regclass::text, tgname FROM pg_trigger
               WHERE tgname LIKE 'otdel_ref%' ORDER BY 1, 2"""
        )
        triggers = set(cursor.fetchall())
    assert ("activities_call", "otdel_refs_inserted") in triggers
    assert ("clients_client", "otdel_ref_guard") in triggers


def _race(
    deletes: list[str], params: list[object], write: Callable[[], object]
) -> dict[str, object]:
    """A deleter runs `deletes` behind Django's back (no SET_NULL) and waits before committing
    while a writer, started once the rows are deleted, runs `write` in its own transaction and
    holds it open while the deleter commits. Returns what each ended with (the result or the
    exception; "committed" for a delete that went through)."""
    deleted, written = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def delete() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    for statement in deletes:
                        cursor.execute(statement, params)
                deleted.set()
                written.wait(10)
            outcome["delete"] = "committed"
        except IntegrityError as exc:
            outcome["delete"] = exc
        finally:
            deleted.set()
            connection.close()

    def writer() -> None:
        try:
            deleted.wait(10)
            with transaction.atomic():
                outcome["write"] = write()
                written.set()
                time.sleep(0.5)  # the deleter is committing meanwhile
        except BaseException as exc:
            outcome["write"] = exc
        finally:
            written.set()
            connection.close()

    threads = [threading.Thread(target=delete), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcome


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_a_call_that_points_at_the_row_fails_and_the_call_keeps_it():
    """The deleter's check waits for the writer of calls to commit, then sees its call."""
    team = make_team("Гонка")
    head = make_head(team)
    person = make_user("hunter", team=team)
    client = make_client(head, team=team, owner=person)
    contact = Contact.objects.create(client=client, full_name="Иван")

    def record_call() -> int:
        call = make_call(user=person, client=client)
        Call.objects.filter(pk=call.pk).update(contact_id=contact.pk)
        return call.pk

    outcome = _race(["DELETE FROM clients_contact WHERE id = %s"], [contact.pk], record_call)
    assert isinstance(outcome["delete"], IntegrityError)
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert Call.objects.get(pk=outcome["write"]).contact_id == contact.pk


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_call_pointing_at_a_row_deleted_a_moment_ago_is_refused():
    team = make_team("Гонка")
    head = make_head(team)
    person = make_user("hunter", team=team)
    client = make_client(head, team=team, owner=person)
    contact = Contact.objects.create(client=client, full_name="Иван")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM clients_contact WHERE id = %s", [contact.pk])
    with pytest.raises(IntegrityError, match="contact_id"), transaction.atomic():
        Call.objects.create(
            source="pbx", external_id="late", started_at=clock.now(), direction="out",
            disposition="answered", user=person, client=client, contact_id=contact.pk,
            created_at=clock.now(),
        )  # fmt: skip
    assert not Call.objects.exists()


def _record(number: str) -> CallRecord:
    return CallRecord(
        source="pbx", external_id=f"r-{number}", started_at=clock.now(), direction="out",
        disposition="answered", talk_seconds=200, account="101", their_number=number,
    )  # fmt: skip


@pytest.mark.django_db
def test_an_ingestion_leaves_the_checks_on_for_the_rest_of_its_transaction(head, manager):
    """The ingestion's insert skips the statement check (its references were read under the
    lock); a later insert in the same transaction is checked again."""
    make_client(head, owner=manager, phones=["+74951234567"])
    PhoneAccount.objects.create(source="pbx", account="101", user=manager)
    with pytest.raises(IntegrityError, match="contact_id"), transaction.atomic():
        assert record_calls([_record("+74951234567")]).created == 1
        Call.objects.create(
            source="pbx", external_id="after", started_at=clock.now(), direction="out",
            disposition="answered", user=manager, contact_id=MISSING, created_at=clock.now(),
        )  # fmt: skip
    assert not Call.objects.exists()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_an_ingestion_that_matched_the_row_fails_and_the_call_keeps_it():
    """The ingester matched a contact whose delete is not committed yet; the delete's check
    waits for the ingester's lock, then sees its call."""
    team = make_team("Гонка")
    head = make_head(team)
    person = make_user("hunter", team=team)
    PhoneAccount.objects.create(source="pbx", account="101", user=person)
    client = make_client(head, team=team, owner=person, phones=["+74951234567"])
    contact = client.contacts.get()
    outcome = _race(
        [
            "DELETE FROM clients_contactphone WHERE contact_id = %s",
            "DELETE FROM clients_contact WHERE id = %s",
        ],
        [contact.pk],
        lambda: record_calls([_record("+74951234567")]).created,
    )
    assert outcome["write"] == 1
    assert isinstance(outcome["delete"], IntegrityError)
    assert Call.objects.get().contact_id == contact.pk
    assert Contact.objects.filter(pk=contact.pk).exists()
