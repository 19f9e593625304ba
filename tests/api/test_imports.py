"""Import over HTTP: upload → preview with row errors → commit, all or nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from otdel.clients.models import Client
from otdel.people.services import issue_api_token
from tests.factories import valid_inn

pytestmark = pytest.mark.django_db

HEADERS = "Компания;ИНН;Контакт;Телефон"


@pytest.fixture(autouse=True)
def _import_settings(tmp_path):
    with override_settings(
        MEDIA_ROOT=str(tmp_path / "media"),
        TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    ):
        yield


def _csv(rows: list[str]) -> bytes:
    return ("\r\n".join([HEADERS, *rows]) + "\r\n").encode("cp1251")


def _upload(user, content: bytes, **form: str):
    _, secret = issue_api_token(user, name="import")
    from django.test import Client as HttpClient

    response = HttpClient().post(
        "/api/imports",
        {"file": SimpleUploadedFile("база.csv", content), **form},
        headers={"Authorization": f"Bearer {secret}"},
    )
    return response, json.loads(response.content)


def test_upload_previews_then_commit_imports_into_the_pool(head, api_as):
    rows = [f"ООО Импорт {i};{valid_inn(500 + i)};Контакт {i};+7495700000{i}" for i in range(3)]
    response, job = _upload(head, _csv(rows), owner_mode="pool")
    assert response.status_code == 201, job
    assert job["status"] == "previewed"
    assert job["total_rows"] == 3 and job["valid_rows"] == 3 and job["error_rows"] == 0
    assert Client.objects.count() == 0
    api = api_as(head)
    committed = api.post(f"/api/imports/{job['id']}/commit", {})
    assert committed.status_code == 202, committed.content
    done = api.get(f"/api/imports/{job['id']}").data
    assert done["status"] == "done" and done["created_count"] == 3
    assert Client.objects.filter(owner__isnull=True).count() == 3


def test_bad_inn_row_is_reported_and_blocks_the_commit(head, api_as):
    good = valid_inn(601)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    response, job = _upload(head, _csv([f"ООО Хорошее;{good};;", f"ООО Плохое;{bad};;"]))
    assert response.status_code == 201
    assert job["error_rows"] == 1
    assert any("ИНН" in e["message"] for e in job["errors"])
    refused = api_as(head).post(f"/api/imports/{job['id']}/commit", {})
    assert refused.status_code == 422 and refused.data["code"] == "import_has_errors"
    assert Client.objects.count() == 0


def test_non_spreadsheet_is_422_and_nothing_kept(head):
    response, body = _upload(head, b"%PDF-1.4 not a table")
    assert response.status_code == 422
    assert body["code"]
    assert Client.objects.count() == 0


def test_manager_cannot_import(manager):
    response, body = _upload(manager, _csv([f"ООО Х;{valid_inn(700)};;"]))
    assert response.status_code == 403 and body["code"] == "cannot_import"


def test_someone_elses_import_looks_missing(head, manager, api_as):
    _, job = _upload(head, _csv([f"ООО Х;{valid_inn(701)};;"]))
    assert api_as(manager).get(f"/api/imports/{job['id']}").status_code == 404
    assert api_as(manager).post(f"/api/imports/{job['id']}/commit", {}).status_code == 404
    assert api_as(head).get("/api/imports/987654").status_code == 404


def test_anonymous_upload_is_401():
    from django.test import Client as HttpClient

    response = HttpClient().post(
        "/api/imports", {"file": SimpleUploadedFile("a.csv", _csv(["ООО;1;;"]))}
    )
    assert response.status_code == 401
