"""otdel benchmarks on PostgreSQL: sweep vs bare UPDATE, pages, dedup, import, API claims,
call ingestion and classification, and the sales department's import, board and report
(bench/sales.py).

Usage: bench/run [all|sweep|pages|dedup|import|claims|calls|sales] [--runs N]
       [--import-rows N] [--call-rows N] [--call-jobs N] [--report-runs N] [--board-runs N] [--import-lines N]
Figures are medians (and p95) of several runs; the data is generated once and kept.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env

RESULTS = _env.ROOT / "var" / "bench"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def bench_now() -> dt.datetime:
    """The moment the data was generated: the clocks were set relative to it, so the same
    clients are due on every run, whatever day the benchmark runs."""
    from otdel.people.models import Team

    return Team.objects.get(name="Bench").created_at


# --- (a) the sweep vs a bare UPDATE ----------------------------------------------------------


def bench_sweep(runs: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from otdel.ownership import sweep
    from otdel.ownership.policy import policy_in_force
    from otdel.people.models import Team

    team = Team.objects.get(name="Bench")
    now = bench_now()
    policy = policy_in_force(team.pk, now)
    condition, params = sweep._due_condition(policy, now, horizon=dt.timedelta(0))
    params["team_id"] = team.pk
    params = sweep._adapt(params)
    bare_sql = f"""
        UPDATE {sweep.CLIENTS} SET owner_id = NULL, owned_since = NULL, protected_until = NULL,
            activity_clock_at = NULL, shipment_clock_at = NULL, return_warned_at = NULL,
            released_at = %(now)s, updated_at = %(now)s
        WHERE {condition}
    """

    def run_sweep() -> tuple[float, int]:
        with transaction.atomic():
            started = time.perf_counter()
            result = sweep.return_due_clients(team, now=now)
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)  # the same clients are due on the next run
        return elapsed, result.returned

    def run_bare() -> tuple[float, int]:
        with transaction.atomic(), connection.cursor() as cur:
            started = time.perf_counter()
            cur.execute(bare_sql, params)
            elapsed = time.perf_counter() - started
            rows = cur.rowcount
            transaction.set_rollback(True)
        return elapsed, rows

    run_sweep(), run_bare()  # warm the caches; not counted
    sweeps, bares, returned, updated = [], [], 0, 0
    for _ in range(runs):
        t, returned = run_sweep()
        sweeps.append(t)
        t, updated = run_bare()
        bares.append(t)
    explain = explain_sweep(team, now)
    (RESULTS / "sweep-explain.txt").write_text(explain)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(owner_id) FROM clients_client")
        total, owned = cur.fetchone()
    med_sweep, med_bare = statistics.median(sweeps), statistics.median(bares)
    return {
        "clients": total,
        "owned": owned,
        "due": returned,
        "bare_rows": updated,
        "runs": runs,
        "sweep_median_s": round(med_sweep, 3),
        "sweep_all_s": [round(x, 3) for x in sweeps],
        "bare_update_median_s": round(med_bare, 3),
        "bare_all_s": [round(x, 3) for x in bares],
        "ratio": round(med_sweep / med_bare, 2),
    }


def explain_sweep(team: Any, now: dt.datetime) -> str:
    """EXPLAIN ANALYZE of the sweep's statement, captured as it runs (rolled back)."""
    from django.db import connection, transaction

    from otdel.ownership import sweep

    captured: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "FOR UPDATE SKIP LOCKED" in sql:
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(capture):
            sweep.return_due_clients(team, now=now)
        transaction.set_rollback(True)
    if not captured:
        return "(the sweep's statement was not captured)"
    sql, params = captured[0]
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        transaction.set_rollback(True)
    return plan


# --- (b) my base and the pool ----------------------------------------------------------------


def bench_pages(runs: int) -> dict[str, Any]:
    from django.test import Client as HttpClient

    from otdel.core import clock
    from otdel.people.models import User

    owner = User.objects.filter(username="owner7").get()
    browser = HttpClient()
    browser.force_login(owner)
    out: dict[str, Any] = {"runs": runs, "user": owner.username}
    clock.freeze(bench_now())
    try:
        for name, url in (("my_base", "/my-base/"), ("pool", "/pool/")):
            response = browser.get(url)
            if response.status_code != 200:
                out[name] = {"status": response.status_code}
                continue
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                response = browser.get(url)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            out[name] = {
                "median_ms": ms(statistics.median(times)),
                "p95_ms": ms(p95(times)),
                "bytes": len(response.content),
            }
    finally:
        clock.unfreeze()
    return out


# --- (c) duplicate lookup --------------------------------------------------------------------


def bench_dedup(runs: int) -> dict[str, Any]:
    from django.db import connection

    from otdel.clients.dedup import Candidate, find_duplicates

    with connection.cursor() as cur:
        cur.execute(
            "SELECT e164 FROM clients_contactphone WHERE id IN "
            "(SELECT (random() * 2999999)::int + 1 FROM generate_series(1, %s))",
            [runs],
        )
        phones = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT inn FROM clients_legalentity WHERE client_id IN "
            "(SELECT (random() * 999999)::int + 1 FROM generate_series(1, %s))",
            [runs],
        )
        inns = [r[0] for r in cur.fetchall()]
    out: dict[str, Any] = {"runs": runs}
    for name, candidates in (
        ("phone", [Candidate(phones=[p]) for p in phones]),
        ("inn", [Candidate(inns=[i]) for i in inns]),
    ):
        find_duplicates(candidates[0])
        times, found = [], 0
        for candidate in candidates:
            started = time.perf_counter()
            matches = find_duplicates(candidate)
            times.append(time.perf_counter() - started)
            found += bool(matches)
        out[name] = {
            "median_ms": ms(statistics.median(times)),
            "p95_ms": ms(p95(times)),
            "found": f"{found}/{len(candidates)}",
        }
    return out


# --- (d) import of a large XLSX --------------------------------------------------------------


def bench_import(rows: int) -> dict[str, Any]:
    """Run the import in a child process against its own fresh database (peak RSS is then the
    import's own); the child prints JSON."""
    if not (_env.ROOT / "otdel" / "clients" / "importer" / "services.py").exists():
        return {"status": "the importer (otdel/clients/importer) does not exist yet"}
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parent / "import_child.py"), str(rows)],
        capture_output=True,
        text=True,
        env={**os.environ, "OTDEL_BENCH_DB": _env.BENCH_DB + "_import"},
    )
    if child.returncode != 0:
        return {"status": "failed", "stderr": child.stderr[-3000:]}
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


# --- (f) call ingestion on SQLite ------------------------------------------------------------


def bench_calls_sqlite(rows: int) -> dict[str, Any]:
    """Ingest calls on SQLite (the default database) in a child process; it prints JSON."""
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parent / "calls_sqlite_child.py"), str(rows)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    if child.returncode != 0:
        return {"status": "failed", "stderr": child.stderr[-3000:]}
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


# --- (e) claims through the HTTP API --------------------------------------------------------


def bench_claims(threads: int, per_thread: int) -> dict[str, Any]:
    if "claim" not in (_env.ROOT / "otdel" / "api" / "ownership.py").read_text():
        return {"status": "POST /api/clients/{id}/claim does not exist yet"}
    return dict(_claims(threads, per_thread))


def _claims(threads: int, per_thread: int) -> dict[str, Any]:
    import concurrent.futures
    import socket
    import urllib.error
    import urllib.request

    from django.db import connection

    from otdel.core import clock
    from otdel.ownership import services
    from otdel.ownership.policy import policy_in_force
    from otdel.people.models import Team, User
    from otdel.people.services import issue_api_token

    team = Team.objects.get(name="Bench")
    head = User.objects.get(username="bench_head")
    policy = policy_in_force(team.pk)
    if policy.doc.daily_claim_limit < 10_000:
        # The benchmark measures throughput, not the daily limit: a bench-only policy version.
        services.publish_policy(
            team.pk,
            document={**policy.doc.model_dump(), "daily_claim_limit": 10_000},
            effective_from=clock.now(),
            actor=head,
            comment="bench: no daily limit",
        )
    people = list(User.objects.filter(username__startswith="owner").order_by("pk")[:threads])
    tokens = [issue_api_token(u, name="bench")[1] for u in people]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id FROM clients_client WHERE owner_id IS NULL AND merged_into_id IS NULL "
            "ORDER BY random() LIMIT %s",
            [threads * per_thread],
        )
        pool_ids = [r[0] for r in cur.fetchall()]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OTDEL_LOG_LEVEL": "ERROR"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=_env.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login/", timeout=1)  # noqa: S310 — our http server
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)

        def worker(i: int) -> tuple[int, int, list[float]]:
            ok = refused = 0
            latencies = []
            for client_id in pool_ids[i::threads]:
                request = urllib.request.Request(  # noqa: S310 — our http server
                    f"{base}/api/clients/{client_id}/claim",
                    method="POST",
                    headers={"Authorization": f"Bearer {tokens[i]}"},
                )
                started = time.perf_counter()
                try:
                    urllib.request.urlopen(request, timeout=30).read()  # noqa: S310
                    ok += 1
                except urllib.error.HTTPError:
                    refused += 1
                latencies.append(time.perf_counter() - started)
            return ok, refused, latencies

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(worker, range(threads)))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    ok = sum(r[0] for r in results)
    latencies = [t for r in results for t in r[2]]
    # Put the claimed clients back through the one door, so the next run sees the same pool.
    from otdel.core.errors import DomainError

    for client_id in pool_ids:
        # A refused claim left its client in the pool already.
        with contextlib.suppress(DomainError):
            services.release_to_pool(client_id, actor=head, reason="bench: put back")
    return {
        "threads": threads,
        "requests": len(pool_ids),
        "claimed": ok,
        "refused": len(pool_ids) - ok,
        "seconds": round(elapsed, 2),
        "claims_per_s": round(ok / elapsed, 1),
        "latency_median_ms": ms(statistics.median(latencies)),
        "latency_p95_ms": ms(p95(latencies)),
    }


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", nargs="*", default=["all"])
    parser.add_argument("--runs", type=int, default=5, help="runs of the sweep (median)")
    parser.add_argument("--page-runs", type=int, default=30)
    parser.add_argument("--dedup-runs", type=int, default=300)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--claims-per-thread", type=int, default=50)
    parser.add_argument("--call-rows", type=int, default=1_000_000, help="CDR rows to ingest")
    parser.add_argument("--call-jobs", type=int, help="processes storing calls (default: cores)")
    parser.add_argument("--report-runs", type=int, default=30, help="sales: report runs")
    parser.add_argument("--board-runs", type=int, default=30, help="sales: board requests")
    parser.add_argument("--import-lines", type=int, default=200_000, help="sales: 1С lines")
    parser.add_argument("--sales-parts", default="report,board,import", help="sales: which")
    parser.add_argument("--inbound-queue", type=int, default=100_000, help="inbound: open requests")
    parser.add_argument(
        "--inbound-parts", default="decisions,latency,board", help="inbound: which parts"
    )
    parser.add_argument("--fresh", action="store_true", help="drop and regenerate the data")
    args = parser.parse_args()
    if args.fresh:
        import psycopg

        with psycopg.connect(f"{_env.SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_env.BENCH_DB}" WITH (FORCE)')
    _env.setup()
    RESULTS.mkdir(parents=True, exist_ok=True)
    import calls
    import generate
    import inbound as inbound_bench
    import sales as sales_bench
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if not generate.generated():
        print("Generating the benchmark department (once)…", flush=True)
        generate.generate()
    what = set(args.what)
    if "all" in what:  # "calls", "calls-sqlite", "calls-cdr" (issue 3), "sales" (4): when named
        what = {"sweep", "pages", "dedup", "import", "claims"}
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M %Z")}
    steps = [
        ("sweep", lambda: bench_sweep(args.runs)),
        ("pages", lambda: bench_pages(args.page_runs)),
        ("dedup", lambda: bench_dedup(args.dedup_runs)),
        ("import", lambda: bench_import(args.import_rows)),
        ("claims", lambda: bench_claims(8, args.claims_per_thread)),
        ("calls", lambda: calls.bench_calls(args.call_rows, jobs=args.call_jobs)),
        ("calls-sqlite", lambda: bench_calls_sqlite(args.call_rows)),
        ("calls-cdr", lambda: calls.bench_cdr_file(args.call_rows, jobs=args.call_jobs)),
        (
            "sales",
            lambda: sales_bench.bench_sales(
                report_runs=args.report_runs,
                board_runs=args.board_runs,
                import_lines=args.import_lines,
                parts=args.sales_parts,
            ),
        ),
    ]
    steps.append(
        (
            "inbound",
            lambda: inbound_bench.bench_inbound(queue=args.inbound_queue, parts=args.inbound_parts),
        )
    )
    for name, step in steps:
        if name in what:
            print(f"== {name}", flush=True)
            results[name] = step()
            print(json.dumps(results[name], ensure_ascii=False, indent=1), flush=True)
    out = RESULTS / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
