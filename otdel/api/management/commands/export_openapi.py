"""Write the API's OpenAPI schema to a file, or check that the committed one matches the code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from otdel.api.main import api


class Command(BaseCommand):
    help = "Export the OpenAPI schema (--check: fail if the committed file differs)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", nargs="?", default="docs/openapi.json")
        parser.add_argument("--check", action="store_true")

    def handle(self, *args: Any, path: str, check: bool, **options: Any) -> None:
        schema = api.get_openapi_schema(path_prefix="/api/")
        text = json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        target = Path(path)
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                raise CommandError(
                    f"{path} is out of date: run `.venv/bin/python manage.py export_openapi {path}`"
                )
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
