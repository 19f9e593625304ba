"""Importing a client base: encodings, delimiters, XLSX, bad input, duplicates, owners, re-import."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import translation

from otdel.clients.importer import services
from otdel.clients.models import Client, Contact, ContactPhone, LegalEntity
from otdel.clients.models_import import ImportStatus
from otdel.core.errors import Conflict, Forbidden, Invalid
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.people.models import Role
from tests.factories import make_client, make_user, valid_inn
from tests.imports.conftest import csv_bytes, upload, xlsx_bytes

pytestmark = pytest.mark.django_db


def rows(n: int, start: int = 1, owner: str | None = None) -> list[list[str]]:
    out = []
    for i in range(start, start + n):
        row = [
            f'ООО "Ромашка {i}"',
            valid_inn(10_000 + i),
            "",
            f"Петров Пётр {i}",
            "Директор",
            "да",
            f"8 (495) {100 + i:03d}-11-22",
            f"info{i}@romashka{i}.ru",
        ]
        if owner is not None:
            row.append(owner)
        out.append(row)
    return out


def run(content: bytes, name: str, actor, *, owner_mode: str = "pool", skip_invalid=False):
    """Upload → confirm the guessed mapping → preview → commit (the task runs immediately)."""
    job = services.start_import(upload(content, name), actor=actor)
    services.set_mapping(job, job.mapping, owner_mode)
    services.build_preview(job)
    if job.error_rows and not skip_invalid:
        return job
    services.commit_import(job, actor=actor, skip_invalid=skip_invalid)
    job.refresh_from_db()
    return job


def test_cp1251_csv_with_semicolons_is_read_and_imported(head):
    content = csv_bytes(rows(3), encoding="cp1251", delimiter=";")
    job = run(content, "база.csv", head)
    assert (job.encoding, job.delimiter) == ("cp1251", ";")
    assert job.status == ImportStatus.DONE and job.created_count == 3
    client = Client.objects.get(name='ООО "Ромашка 1"')
    assert client.owner is None
    contact = Contact.objects.get(client=client)
    assert contact.full_name == "Петров Пётр 1" and contact.is_decision_maker
    assert ContactPhone.objects.get(client=client).e164 == "+74951011122"
    assert LegalEntity.objects.get(client=client).inn == valid_inn(10_001)


def test_utf8_bom_csv_with_commas_is_read_and_imported(head):
    content = b"\xef\xbb\xbf" + csv_bytes(rows(2), delimiter=",")
    job = run(content, "base.csv", head)
    assert (job.encoding, job.delimiter) == ("utf-8-sig", ",")
    assert job.headers[0] == "Компания"  # the BOM is not part of the first header
    assert job.created_count == 2


def test_xlsx_with_numeric_inn_and_phone_cells_is_imported(head):
    data = [
        [f"АО Вектор {i}", int(valid_inn(20_000 + i)), None, "Иван", "", "", 79161234500 + i, ""]
        for i in range(5)
    ]
    job = run(xlsx_bytes(data), "clients.xlsx", head)
    assert job.kind == "xlsx" and job.status == ImportStatus.DONE
    assert job.created_count == 5
    assert LegalEntity.objects.filter(inn=valid_inn(20_003)).exists()
    assert ContactPhone.objects.filter(e164="+79161234503").exists()


def test_missing_required_columns_is_a_file_level_error(head):
    content = csv_bytes([["Иванов", "Директор"]], headers=["Контакт", "Должность"])
    job = services.start_import(upload(content), actor=head)
    with pytest.raises(Invalid) as err:
        services.set_mapping(job, job.mapping, "pool")
    assert err.value.code == "import_missing_columns"
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED
    assert Client.objects.count() == 0


def test_bad_inn_is_a_row_error_and_blocks_the_commit(head):
    data = rows(3)
    data[1][1] = "7707083890"  # wrong check digit
    data[2][6] = "12"  # not a phone
    job = services.start_import(upload(csv_bytes(data)), actor=head)
    services.set_mapping(job, job.mapping, "pool")
    services.build_preview(job)
    assert (job.valid_rows, job.error_rows) == (1, 2)
    by_row = {e["row"]: e for e in job.errors}
    assert by_row[3]["column"] == "ИНН" and "7707083890" in by_row[3]["message"]
    assert by_row[4]["column"] == "Телефон"
    with pytest.raises(Invalid) as err:
        services.commit_import(job, actor=head)
    assert err.value.code == "import_has_errors"
    assert Client.objects.count() == 0
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED


def test_skip_invalid_rows_imports_only_the_valid_ones(head):
    data = rows(3)
    data[1][1] = "7707083890"
    job = run(csv_bytes(data), "base.csv", head, skip_invalid=True)
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.skipped_count) == (2, 1)
    assert not LegalEntity.objects.filter(inn="7707083890").exists()


def test_duplicate_rows_in_the_file_are_reported_and_created_once(head):
    data = rows(2) + rows(1)  # row 4 repeats row 2's ИНН
    job = services.start_import(upload(csv_bytes(data)), actor=head)
    services.set_mapping(job, job.mapping, "pool")
    services.build_preview(job)
    assert job.duplicate_rows == 1
    assert job.duplicates[0]["row"] == 4 and job.duplicates[0]["first_row"] == 2
    services.commit_import(job, actor=head)
    job.refresh_from_db()
    assert job.created_count == 2
    assert LegalEntity.objects.filter(inn=valid_inn(10_001)).count() == 1


def test_reimporting_the_same_file_creates_nothing_new(head):
    content = csv_bytes(rows(4))
    first = run(content, "base.csv", head)
    assert first.created_count == 4
    counts = (Client.objects.count(), Contact.objects.count(), OwnershipEvent.objects.count())
    second = services.start_import(upload(content, "base.csv"), actor=head)
    assert services.earlier_imports(second) == [first]
    services.set_mapping(second, second.mapping, "pool")
    services.build_preview(second)
    assert second.existing_rows == 4 and second.valid_rows == 0
    services.commit_import(second, actor=head)
    second.refresh_from_db()
    assert second.status == ImportStatus.DONE and second.created_count == 0
    assert (
        Client.objects.count(),
        Contact.objects.count(),
        OwnershipEvent.objects.count(),
    ) == counts


def test_rows_without_inn_are_recognised_by_phone_on_reimport(head):
    data = [["ИП Сидоров", "", "", "Сидоров", "", "", "+7 916 555-44-33", ""]]
    run(csv_bytes(data), "a.csv", head)
    again = run(csv_bytes(data), "a.csv", head)
    assert again.existing_rows == 1 and again.created_count == 0
    assert Client.objects.count() == 1


def test_client_already_in_the_base_is_skipped_and_similar_name_is_a_warning(head):
    existing = make_client(head, inn=valid_inn(10_001))
    make_client(head, name='ООО "Ромашка 2"')
    job = services.start_import(upload(csv_bytes(rows(2))), actor=head)
    services.set_mapping(job, job.mapping, "pool")
    services.build_preview(job)
    assert job.existing_rows == 1
    base = next(d for d in job.duplicates if d["kind"] == "base")
    assert base["row"] == 2 and base["client_id"] == existing.pk
    assert job.warning_rows == 1 and job.warnings[0]["row"] == 3


def test_file_over_the_size_limit_is_refused_and_nothing_is_written(head):
    # ~21 MB: 2,200 rows, each with a long note.
    headers = ["Компания", "ИНН", "Телефон", "Примечание"]
    data = [[f"ООО Большой {i}", valid_inn(30_000 + i), "", "x" * 9_900] for i in range(2_200)]
    content = csv_bytes(data, headers=headers)
    assert len(content) > 20 * 1024 * 1024
    with override_settings(OTDEL_IMPORT_MAX_BYTES=10 * 1024 * 1024), pytest.raises(Invalid) as err:
        services.start_import(upload(content, "big.csv"), actor=head)
    assert err.value.code == "import_too_big" and "10" in err.value.message
    assert Client.objects.count() == 0
    with override_settings(OTDEL_IMPORT_MAX_BYTES=25 * 1024 * 1024):
        job = run(content, "big.csv", head)
    assert job.status == ImportStatus.DONE and job.created_count == 2_200
    assert Client.objects.count() == 2_200


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20,
        bytes((i * 37 + 11) % 256 for i in range(5000)),
    ],
    ids=["png", "random-bytes"],
)
def test_non_spreadsheet_renamed_xlsx_is_refused_clearly(head, content):
    with pytest.raises(Invalid) as err:
        services.start_import(upload(content, "clients.xlsx"), actor=head)
    assert err.value.code == "import_not_spreadsheet"
    assert "clients.xlsx" in err.value.message
    assert Client.objects.count() == 0


def test_owner_column_with_a_known_login_gives_him_the_client_with_an_import_event(head, manager):
    data = rows(1, owner="ivanov") + rows(1, start=2, owner="Иванов Иван")
    job = run(csv_bytes(data, headers=[*HEADERS, "Менеджер"]), "o.csv", head, owner_mode="column")
    assert job.status == ImportStatus.DONE and job.created_count == 2
    for client in Client.objects.all():
        assert client.owner == manager
        event = OwnershipEvent.objects.get(client=client)
        assert event.kind == EventKind.IMPORT and event.to_user == manager and event.actor == head


def test_unknown_owner_is_a_row_error(head, manager):
    data = rows(1, owner="nobody")
    job = run(csv_bytes(data, headers=[*HEADERS, "Владелец"]), "o.csv", head, owner_mode="column")
    assert job.error_rows == 1 and job.errors[0]["column"] == "Владелец"
    assert "nobody" in job.errors[0]["message"]
    assert Client.objects.count() == 0


def test_owner_over_his_cap_is_a_row_error(head, manager):
    manager.client_cap = 2
    manager.save()
    make_client(head, owner=manager)
    data = rows(3, owner="ivanov")
    job = run(csv_bytes(data, headers=[*HEADERS, "Владелец"]), "o.csv", head, owner_mode="column")
    assert (job.valid_rows, job.error_rows) == (1, 2)
    assert [e["row"] for e in job.errors] == [3, 4]
    assert "cap" in job.errors[0]["message"] or "лимит" in job.errors[0]["message"]
    assert Client.objects.count() == 1


def test_cap_reached_between_preview_and_commit_rolls_everything_back(head, manager):
    manager.client_cap = 2
    manager.save()
    data = rows(2, owner="ivanov")
    job = services.start_import(upload(csv_bytes(data, headers=[*HEADERS, "Владелец"])), actor=head)
    services.set_mapping(job, job.mapping, "column")
    services.build_preview(job)
    assert job.error_rows == 0
    make_client(head, owner=manager)  # the cap fills up meanwhile
    with translation.override("en"):
        services.commit_import(job, actor=head)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.failure.startswith("Nothing was imported")
    assert "Row 3" in job.failure
    assert Client.objects.count() == 1
    assert not LegalEntity.objects.filter(inn=valid_inn(10_001)).exists()


def test_pool_mode_puts_everything_into_the_pool_even_with_an_owner_column(head, manager):
    data = rows(2, owner="ivanov")
    job = run(csv_bytes(data, headers=[*HEADERS, "Владелец"]), "o.csv", head, owner_mode="pool")
    assert job.created_count == 2
    assert not Client.objects.filter(owner__isnull=False).exists()
    assert set(OwnershipEvent.objects.values_list("kind", "to_user")) == {(EventKind.IMPORT, None)}


def test_manager_cannot_import(manager):
    with pytest.raises(Forbidden):
        services.start_import(upload(csv_bytes(rows(1))), actor=manager)
    assert Client.objects.count() == 0


def test_database_operator_may_import(team):
    operator = make_user(Role.DB_OPERATOR, team=team)
    job = run(csv_bytes(rows(1)), "a.csv", operator)
    assert job.created_count == 1


def test_commit_twice_queues_once(head):
    job = run(csv_bytes(rows(1)), "a.csv", head)
    with pytest.raises(Conflict):
        services.commit_import(job, actor=head)
    assert services.run_import(job.pk) == {"skipped": True}
    assert Client.objects.count() == 1


def test_database_backend_queues_the_task_for_the_worker(head):
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        job = services.start_import(upload(csv_bytes(rows(2))), actor=head)
        services.set_mapping(job, job.mapping, "pool")
        services.build_preview(job)
        services.commit_import(job, actor=head)
    assert job.status == ImportStatus.QUEUED and job.task_result_id
    assert Client.objects.count() == 0
    services.run_import(job.pk)  # what the worker does
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and Client.objects.count() == 2
    assert services.progress_of(job)["percent"] == 100


HEADERS = ["Компания", "ИНН", "КПП", "Контакт", "Должность", "ЛПР", "Телефон", "E-mail"]
