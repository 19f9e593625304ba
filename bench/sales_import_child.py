"""Time a 1С export of N shipment lines through the import wizard's real steps, in the sales
bench department; print JSON. Run by bench/sales.py in a child process, so its peak memory is
the import's own: resident memory (VmRSS, and VmHWM reset between steps through
/proc/self/clear_refs) is read before and after each step.

The file: N lines of N/4 shipment documents (4 SKUs each), cp1251, «;», as 1С writes them,
for clients of the department, dated in the month before the generation moment. Steps: upload
(`start_import`), mapping (`set_columns`), preview (every row checked, nothing written), commit
(queued; the task runs at once in this process — `OTDEL_TASKS_BACKEND` is the immediate
backend here — so the time is the worker's: every row checked again and written in one
transaction), then the same file again (a re-import: everything the same, nothing written).
Afterwards the imported facts are deleted, so every run starts from the same data.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

import _env

SOURCE = "1c:benchimport"


def _status() -> dict[str, int]:
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) // 1024
    return found


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _inn(g: int) -> str:
    d = f"50{g:07d}"
    check = sum(w * int(c) for w, c in zip((2, 4, 10, 3, 5, 9, 4, 6, 8), d, strict=True))
    return d + str(check % 11 % 10)


def make_csv(path: Path, lines: int, moment: dt.datetime) -> None:
    """N/4 documents of 4 lines, spread over the 28 days before `moment`."""
    from sales import CLIENTS, PRODUCTS

    docs = lines // 4
    with path.open("w", encoding="cp1251", newline="") as fh:
        fh.write("Номер;Дата;ИНН;КПП;Контрагент;Артикул;Количество;Сумма без НДС\r\n")
        for n in range(1, docs + 1):
            client = 1 + (n * 7919) % CLIENTS
            at = moment - dt.timedelta(days=28) + dt.timedelta(seconds=n * (27 * 86400 // docs))
            stamp = f"{at:%d.%m.%Y %H:%M:%S}"
            for i in range(1, 5):
                sku = f"BS-{1 + (n * 4 + i) * 13 % PRODUCTS:04d}"
                qty = 1 + (n + i) % 7
                amount = f"{qty * (150 + (n * i) % 900)},{(n + i) % 100:02d}"
                fh.write(
                    f"ИМП-{n};{stamp};{_inn(client)};500101001;ООО «Заказчик {client}»;"
                    f"{sku};{qty};{amount}\r\n"
                )


def _run(path: Path, head: Any) -> dict[str, Any]:
    from django.core.files import File

    from otdel.sales import import_1c

    out: dict[str, Any] = {}
    _reset_peak()
    t0 = time.perf_counter()
    with path.open("rb") as fh:
        upload = File(fh, name=path.name)
        job = import_1c.start_import(upload, kind="shipments", source=SOURCE, actor=head)
    job = import_1c.set_columns(job, job.columns, actor=head)
    t1 = time.perf_counter()
    job = import_1c.preview(job, actor=head)
    t2 = time.perf_counter()
    out["upload_s"] = round(t1 - t0, 1)
    out["preview_s"] = round(t2 - t1, 1)
    out["preview_peak_rss_mb"] = _status()["VmHWM"]
    assert job.report["error_count"] == 0, job.report["errors"][:3]
    _reset_peak()
    t3 = time.perf_counter()
    job = import_1c.commit(job.pk, actor=head)
    t4 = time.perf_counter()
    job.refresh_from_db()
    assert import_1c.state_of(job) == "done", (job.status, job.failure)
    out["commit_s"] = round(t4 - t3, 1)
    out["commit_peak_rss_mb"] = _status()["VmHWM"]
    out["written"] = job.report["written"]
    out["total_s"] = round(t4 - t0, 1)
    return out


def main() -> None:
    lines = int(sys.argv[1])
    _env.setup()
    from django.db import connection
    from sales import team_now

    from otdel.people.models import User
    from otdel.sales.models import MoneyImport

    head = User.objects.get(username="sales_head")
    moment = team_now().astimezone(dt.timezone(dt.timedelta(hours=3))).replace(tzinfo=None)
    path = _env.ROOT / "var" / "bench" / f"sales-import-{lines}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    make_csv(path, lines, moment)
    _cleanup(connection)
    before = _status()
    first = _run(path, head)
    again = _run(path, head)
    result = {
        "lines": lines,
        "documents": lines // 4,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "rss_before_mb": before["VmRSS"],
        "import": first,
        "lines_per_s_commit": round(lines / first["commit_s"]),
        "lines_per_s_total": round(lines / first["total_s"]),
        "reimport": again,
        "peak_rss_mb_process": max(
            first["preview_peak_rss_mb"],
            first["commit_peak_rss_mb"],
            again["preview_peak_rss_mb"],
            again["commit_peak_rss_mb"],
        ),
    }
    _cleanup(connection)
    for job in MoneyImport.objects.filter(source=SOURCE):
        job.file.delete(save=False)
        job.delete()
    print(json.dumps(result, ensure_ascii=False))


def _cleanup(connection: Any) -> None:
    """Delete what an earlier run imported (facts, unresolved rows), so runs compare."""
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM sales_shipmentline WHERE shipment_id IN "
            "(SELECT id FROM sales_shipment WHERE source = %s)",
            [SOURCE],
        )
        cur.execute("DELETE FROM sales_shipment WHERE source = %s", [SOURCE])
        cur.execute("DELETE FROM sales_unresolvedrow WHERE source = %s", [SOURCE])


if __name__ == "__main__":
    main()
