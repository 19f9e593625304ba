"""Time one XLSX import of N rows (preview + commit) in a fresh database; print JSON.

Run by bench.py in a child process, so the peak memory (ru_maxrss) is the import's own.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env


def make_xlsx(path: Path, rows: int) -> None:
    """A client base as people keep it: name, ИНН, КПП, region, contact, phone, e-mail."""
    from openpyxl import Workbook

    sys.path.insert(0, str(_env.ROOT))
    from otdel.demo.names import Generator

    gen = Generator(seed=99)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Клиенты")
    sheet.append(["Наименование", "ИНН", "КПП", "Регион", "Контактное лицо", "Телефон", "E-mail"])
    for _ in range(rows):
        c = gen.company()
        name, _position, _dm, email, phones = c.contacts[0]
        sheet.append([c.legal_name, c.inn, c.kpp, c.region, name, phones[0], email])
    book.save(path)


def main() -> None:
    rows = int(sys.argv[1])
    import psycopg

    with psycopg.connect(f"{_env.SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_env.BENCH_DB}" WITH (FORCE)')
    _env.setup()
    from django.core.files import File
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from otdel.clients.importer import services
    from otdel.clients.models import Client
    from otdel.people.models import Role, Team, User

    team = Team.objects.create(name="Bench import")
    operator = User.objects.create_user(username="operator", role=Role.DB_OPERATOR, team=team)
    path = _env.ROOT / "var" / "bench" / f"import-{rows}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        make_xlsx(path, rows)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with path.open("rb") as fh:
        upload = File(fh, name=path.name)
        upload.size = path.stat().st_size
        started = time.perf_counter()
        job = services.start_import(upload, actor=operator, team=team)
    job = services.set_mapping(job, job.mapping, "pool")
    t_preview = time.perf_counter()
    job = services.build_preview(job)
    t_commit = time.perf_counter()
    job = services.commit_import(job, actor=operator, skip_invalid=True)
    t_run = time.perf_counter()
    result = services.run_import(job.pk)
    finished = time.perf_counter()
    created = Client.objects.filter(team=team).count()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": rows,
                "file_mb": round(path.stat().st_size / 2**20, 1),
                "created": created,
                "upload_s": round(t_preview - started, 1),
                "preview_s": round(t_commit - t_preview, 1),
                "commit_s": round(finished - t_run, 1),
                "total_s": round(finished - started, 1),
                "rows_per_s_commit": round(rows / (finished - t_run)),
                "rows_per_s_total": round(rows / (finished - started)),
                "peak_rss_mb": round(peak_mb),
                "rss_before_mb": round(base_rss / 1024),
                "result": {k: v for k, v in result.items() if isinstance(v, int | str)},
            }
        )
    )


if __name__ == "__main__":
    main()
