"""Creating clients with duplicate detection, and merging duplicates without losing anything."""

from __future__ import annotations

import pytest

from otdel.activities.models import Activity
from otdel.activities.services import log_activity
from otdel.audit.models import AuditEvent
from otdel.clients.dedup import Candidate, find_duplicates
from otdel.clients.models import Client, Contact, LegalEntity
from otdel.clients.schemas import ClientIn, ContactIn, LegalEntityIn
from otdel.clients.services import PossibleDuplicates, create_client, merge_clients
from otdel.core.errors import Conflict, Forbidden
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.ownership.selectors import history
from tests.factories import make_client, valid_inn

pytestmark = pytest.mark.django_db


def _data(name="ООО Ромашка", inn=None, phone="+74951112233", email="") -> ClientIn:
    return ClientIn(
        name=name,
        legal_entities=[LegalEntityIn(name=name, inn=inn or valid_inn(7))],
        contacts=[ContactIn(full_name="Пётр Петров", phones=[phone], email=email)],
    )


def test_creation_in_own_base_writes_client_owner_and_ledger(manager, frozen_clock):
    client = create_client(_data(), actor=manager, owner=manager)
    assert client.owner == manager
    event = OwnershipEvent.objects.get(client=client)
    assert event.kind == EventKind.CREATED and event.to_user == manager
    assert AuditEvent.objects.filter(verb="client.created", object_id=client.pk).exists()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("inn", "same-inn", "inn"),
        ("phone", "8 (495) 111-22-33", "phone"),
        ("email", "boss@romashka.ru", "domain"),
    ],
)
def test_duplicate_under_another_owner_is_shown_and_nothing_written(
    manager, other_manager, field, value, reason
):
    inn = valid_inn(11)
    create_client(
        _data(inn=inn, email="sales@romashka.ru"), actor=other_manager, owner=other_manager
    )
    kwargs = {"name": "ООО Другое имя", "inn": valid_inn(12), "phone": "+74959998877"}
    if field == "inn":
        kwargs["inn"] = inn
    elif field == "phone":
        kwargs["phone"] = value
    else:
        kwargs["email"] = value
    before = Client.objects.count()
    with pytest.raises(PossibleDuplicates) as err:
        create_client(_data(**kwargs), actor=manager, owner=manager)
    match = err.value.matches[0]
    assert reason in match.reasons and match.client.owner == other_manager
    assert Client.objects.count() == before


def test_public_mail_domain_is_not_a_duplicate(manager, other_manager):
    create_client(_data(email="a@mail.ru"), actor=other_manager, owner=other_manager)
    assert find_duplicates(Candidate(name="Совсем другое", emails=["b@mail.ru"])) == []


def test_similar_name_is_a_weak_match(manager):
    create_client(_data(name="ООО «Строймаш»"), actor=manager, owner=manager)
    matches = find_duplicates(Candidate(name='АО "СТРОЙМАШ"'))
    assert [m.reasons for m in matches] == [{"name"}]
    assert not matches[0].strong


def test_confirmed_duplicate_is_created(manager, other_manager):
    inn = valid_inn(21)
    create_client(_data(inn=inn), actor=other_manager, owner=other_manager)
    client = create_client(_data(inn=inn), actor=manager, owner=manager, allow_duplicates=True)
    assert client.owner == manager


def test_creation_over_cap_writes_nothing(manager):
    manager.client_cap = 0
    manager.save()
    with pytest.raises(Conflict) as err:
        create_client(_data(), actor=manager, owner=manager)
    assert err.value.code == "over_cap"
    assert Client.objects.count() == 0 and LegalEntity.objects.count() == 0


def test_merge_moves_everything_and_keeps_history(head, manager, other_manager, frozen_clock):
    survivor = make_client(head, owner=manager, name="ООО Альфа")
    duplicate = make_client(head, owner=other_manager, name="Альфа ООО")
    log_activity(duplicate.pk, actor=other_manager, kind="call", talk_seconds=60)
    dup_events = OwnershipEvent.objects.filter(client=duplicate).count()
    merged = merge_clients(survivor.pk, duplicate.pk, actor=head, keep_owner_id=other_manager.pk)
    assert merged.owner == other_manager
    assert LegalEntity.objects.filter(client=survivor).count() == 2
    assert Contact.objects.filter(client=survivor).count() == 2
    assert Activity.objects.filter(client=survivor).count() == 1
    dup = Client.objects.get(pk=duplicate.pk)
    assert dup.merged_into_id == survivor.pk and dup.owner is None
    # The duplicate's own ledger rows stay and are shown on the survivor's history.
    assert history(head, merged).filter(client=duplicate).count() == dup_events + 1
    assert OwnershipEvent.objects.filter(client=survivor, kind=EventKind.MERGE).exists()
    assert AuditEvent.objects.filter(verb="client.merged", object_id=survivor.pk).exists()
    # A merged client no longer appears anywhere as live.
    assert not Client.objects.live().filter(pk=duplicate.pk).exists()


def test_manager_cannot_merge_and_nothing_changes(head, manager, other_manager):
    a = make_client(head, owner=manager)
    b = make_client(head, owner=manager)
    with pytest.raises(Forbidden):
        merge_clients(a.pk, b.pk, actor=manager)
    assert Client.objects.get(pk=b.pk).merged_into_id is None
    assert Contact.objects.filter(client=b).count() == 1


def test_merged_client_cannot_be_claimed(head, manager):
    a = make_client(head)
    b = make_client(head)
    merge_clients(a.pk, b.pk, actor=head)
    with pytest.raises(Exception) as err:
        ownership.claim(b.pk, actor=manager)
    assert getattr(err.value, "code", "") == "client_not_found"


def test_duplicate_groups_join_reasons_for_the_same_clients(head, manager, other_manager):
    from otdel.clients.dedup import duplicate_groups

    a = make_client(head, owner=manager, name="ООО Стройпласт", phones=["+74957770011"])
    b = make_client(head, owner=other_manager, name="ТД Стройпласт", phones=["+74957770011"])
    make_client(head, name="ООО Другое")
    groups = duplicate_groups()
    assert len(groups) == 1
    assert {c.pk for c in groups[0].clients} == {a.pk, b.pk}
    assert {r for r, _ in groups[0].reasons} == {"phone", "name"}
    assert groups[0].strong
