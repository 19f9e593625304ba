"""Import fixtures: files built by the tests themselves, media in a temporary folder, the
background task run immediately, progress in a local cache."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

HEADERS_RU = ["Компания", "ИНН", "КПП", "Контакт", "Должность", "ЛПР", "Телефон", "E-mail"]


@pytest.fixture(autouse=True)
def import_settings(tmp_path) -> Iterator[None]:
    with override_settings(
        MEDIA_ROOT=str(tmp_path / "media"),
        TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    ):
        yield


def csv_bytes(
    rows: list[list[str]],
    *,
    headers: list[str] = HEADERS_RU,
    delimiter: str = ";",
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], *, headers: list[str] = HEADERS_RU) -> bytes:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Клиенты")
    ws.append(headers)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(content: bytes, name: str = "clients.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")
