"""The import wizard in the browser's terms: upload → mapping → preview → status page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from otdel.clients.models import Client
from otdel.clients.models_import import ImportJob, ImportStatus
from tests.factories import valid_inn
from tests.imports.conftest import csv_bytes, upload

pytestmark = pytest.mark.django_db


def _rows(n: int) -> list[list[str]]:
    return [
        [f"ООО Альфа {i}", valid_inn(40_000 + i), "", "Иван", "", "", f"+7 495 200-00-{i:02d}", ""]
        for i in range(n)
    ]


def test_head_imports_a_file_through_the_wizard(client, head):
    client.force_login(head)
    response = client.post(reverse("clients_import:start"), {"file": upload(csv_bytes(_rows(3)))})
    job = ImportJob.objects.get()
    assert response.url == reverse("clients_import:mapping", args=[job.pk])
    page = client.get(response.url)
    assert page.status_code == 200 and "Компания" in page.content.decode()
    form = {f"col_{i}": f for i, f in enumerate(job.mapping)} | {"owner_mode": "pool"}
    response = client.post(reverse("clients_import:mapping", args=[job.pk]), form)
    assert response.url == reverse("clients_import:preview", args=[job.pk])
    page = client.get(response.url)
    assert page.status_code == 200 and "ООО Альфа 0" in page.content.decode()
    response = client.post(reverse("clients_import:preview", args=[job.pk]), {})
    assert response.url == reverse("clients_import:status", args=[job.pk])
    page = client.get(response.url)
    assert page.status_code == 200
    fragment = client.get(reverse("clients_import:progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and fragment["HX-Refresh"] == "true"
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and Client.objects.count() == 3


def test_refused_upload_shows_the_reason_and_creates_nothing(client, head):
    client.force_login(head)
    response = client.post(
        reverse("clients_import:start"),
        {"file": upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "base.xlsx")},
        follow=True,
    )
    assert response.status_code == 200
    assert "base.xlsx" in response.content.decode()
    assert ImportJob.objects.count() == 0 and Client.objects.count() == 0


def test_preview_with_errors_refuses_the_commit_unless_skipping(client, head):
    client.force_login(head)
    rows = _rows(2)
    rows[0][1] = "1234567890"
    client.post(reverse("clients_import:start"), {"file": upload(csv_bytes(rows))})
    job = ImportJob.objects.get()
    form = {f"col_{i}": f for i, f in enumerate(job.mapping)} | {"owner_mode": "pool"}
    client.post(reverse("clients_import:mapping", args=[job.pk]), form)
    response = client.post(reverse("clients_import:preview", args=[job.pk]), {})
    assert response.status_code == 200 and Client.objects.count() == 0
    client.post(reverse("clients_import:preview", args=[job.pk]), {"skip_invalid": "on"})
    assert Client.objects.count() == 1


def test_manager_cannot_open_the_import_or_someone_elses_job(client, head, manager):
    client.force_login(manager)
    assert client.get(reverse("clients_import:start")).status_code == 403
    job_page = reverse("clients_import:status", args=[999])
    assert client.get(job_page).status_code == 404


@pytest.mark.django_db(transaction=True)  # the worker closes connections between tasks
def test_rows_are_checked_by_the_worker_while_the_page_waits(client, head):
    from django.core.management import call_command
    from django.test import override_settings

    client.force_login(head)
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        client.post(reverse("clients_import:start"), {"file": upload(csv_bytes(_rows(4)))})
        job = ImportJob.objects.get()
        form = {f"col_{i}": f for i, f in enumerate(job.mapping)} | {"owner_mode": "pool"}
        client.post(reverse("clients_import:mapping", args=[job.pk]), form)
        job.refresh_from_db()
        assert job.status == ImportStatus.CHECKING
        waiting = client.get(reverse("clients_import:preview", args=[job.pk]))
        assert b'data-testid="rows-checked"' in waiting.content
        fragment = client.get(
            reverse("clients_import:checking", args=[job.pk]), HTTP_HX_REQUEST="true"
        )
        assert "HX-Refresh" not in fragment
        call_command("db_worker", batch=True, no_startup_delay=True, interval=0.01, verbosity=0)
        job.refresh_from_db()
        assert job.status == ImportStatus.PREVIEWED and job.valid_rows == 4
        fragment = client.get(
            reverse("clients_import:checking", args=[job.pk]), HTTP_HX_REQUEST="true"
        )
        assert fragment["HX-Refresh"] == "true"
        assert (
            "ООО Альфа 3"
            in client.get(reverse("clients_import:preview", args=[job.pk])).content.decode()
        )
    # Checking wrote nothing to the base.
    assert Client.objects.count() == 0
