"""Issue 5's benchmarks on PostgreSQL: routing decisions per second under 16 concurrent
posters (the real intake service vs the bare SQL doing the same insert-and-assign), the latency
from a web-form post over HTTP on loopback to the assignment being visible, and the head of
sales' board over a queue of 100,000 open requests (HTTP p95 vs the bare SQL aggregates).

The team "Bench inbound" is set up once (a head, 40 specialists); its requests are deleted
before each part. The clock is moved (OTDEL_CLOCK_OFFSET_SECONDS) to 11:00 Moscow time of the
next working day, so the specialists are within their hours whenever the benchmark runs.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import _env

SPECIALISTS = 40
TEAM = "Bench inbound"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _working_offset() -> float:
    """Seconds to add to the real clock to stand at 11:00 Moscow on a working day."""
    from otdel.core.calendar import add_working_days
    from otdel.core.clock import MOSCOW

    real = dt.datetime.now(tz=dt.UTC)
    day = add_working_days(real.astimezone(MOSCOW).date(), 0)
    target = dt.datetime.combine(day, dt.time(11, 0), tzinfo=MOSCOW)
    return (target - real).total_seconds()


def _setup() -> dict[str, Any]:
    from otdel.core import clock
    from otdel.inbound import services
    from otdel.inbound.assign import routing_policy_in_force
    from otdel.inbound.models import WebForm
    from otdel.inbound.policy_document import RoutingPolicyDocument
    from otdel.people.models import Role, Team, User
    from otdel.people.services import issue_api_token

    team, _created = Team.objects.get_or_create(name=TEAM)
    head, _c = User.objects.get_or_create(
        username="inbound-head", defaults={"role": Role.HEAD_OF_SALES, "team": team}
    )
    people = []
    for i in range(SPECIALISTS):
        user, _c = User.objects.get_or_create(
            username=f"inbound-spec-{i:02d}",
            defaults={"role": Role.HUNTER, "team": team, "last_name": f"Спец{i:02d}"},
        )
        people.append(user)
    User.objects.filter(team=team).update(availability="on_shift")
    wanted = RoutingPolicyDocument(strategy="least_loaded", default_capacity=1000)
    if routing_policy_in_force(team.pk).doc != wanted:
        services.publish_routing_policy(
            team.pk, document=wanted, effective_from=clock.now(), actor=head, comment="bench"
        )
    form = WebForm.objects.filter(team=team, is_active=True).first() or services.create_web_form(
        team.pk, name="bench", actor=head
    )
    return {
        "team": team,
        "head": head,
        "people": people,
        "form": form,
        "head_token": issue_api_token(head, name="bench")[1],
    }


def _clear(team_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM inbound_requestevent WHERE request_id IN "
            "(SELECT id FROM inbound_inboundrequest WHERE team_id = %s)",
            [team_id],
        )
        cur.execute(
            "DELETE FROM inbound_requestmessage WHERE request_id IN "
            "(SELECT id FROM inbound_inboundrequest WHERE team_id = %s)",
            [team_id],
        )
        cur.execute("DELETE FROM inbound_inboundrequest WHERE team_id = %s", [team_id])
        cur.execute(
            "UPDATE inbound_specialist SET assigned_total = 0, last_turn = 0 WHERE team_id = %s",
            [team_id],
        )
        # What autovacuum (switched off on the bench server) does after so many deletes: left
        # behind, the dead rows of the previous part slow every index probe of the next one.
        for table in ("inbound_inboundrequest", "inbound_requestevent", "inbound_requestmessage"):
            cur.execute(f"VACUUM ANALYZE {table}")


# --- (a) decisions per second: the intake service vs the bare SQL ------------------------------


def _decisions(team_id: int, posters: int, requests: int) -> dict[str, Any]:
    from django.db import connection

    from otdel.inbound import services
    from otdel.inbound.models import Channel, InboundRequest
    from otdel.inbound.schemas import RequestIn

    run = int(time.time())
    barrier = threading.Barrier(posters)
    failures: list[BaseException] = []

    def poster(index: int) -> None:
        try:
            barrier.wait()
            for n in range(index, requests, posters):
                services.receive(
                    RequestIn(name=f"Клиент {n}", email=f"r{run}-{n}@bench.ru"),
                    team_id=team_id,
                    channel=Channel.WEB,
                )
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(posters)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    assigned = InboundRequest.objects.filter(team_id=team_id, assignee__isnull=False).count()
    return {
        "requests": requests,
        "assigned": assigned,
        "seconds": round(elapsed, 2),
        "decisions_per_s": round(requests / elapsed, 1),
    }


BARE_DECISION = """
    WITH locked AS (
        SELECT id FROM inbound_routingstate WHERE team_id = %(team)s FOR UPDATE
    ), chosen AS (
        SELECT s.user_id
        FROM inbound_specialist s
        LEFT JOIN inbound_inboundrequest r
               ON r.assignee_id = s.user_id AND r.status IN ('assigned', 'in_work')
        WHERE s.team_id = %(team)s AND s.takes_requests
        GROUP BY s.user_id, s.last_turn
        ORDER BY count(r.id), s.last_turn, s.user_id
        LIMIT 1
    )
    INSERT INTO inbound_inboundrequest (
        team_id, channel, external_id, status, name, company, phone, phone_e164, email, inn,
        subject, message, region, language, match_reasons, assigned_why, passed_by,
        close_reason, assignee_id, assigned_at, created_at, updated_at)
    SELECT %(team)s, 'web', '', 'assigned', %(name)s, '', '', '', %(email)s, '', '', '', '',
           '', '[]', '{"rule": "least_loaded"}', '[]', '', chosen.user_id, now(), now(), now()
    FROM chosen, locked
"""


def _bare_decisions(team_id: int, posters: int, requests: int) -> dict[str, Any]:
    import psycopg

    barrier = threading.Barrier(posters)
    url = os.environ["DATABASE_URL"]

    def poster(index: int) -> None:
        with psycopg.connect(url) as conn:
            barrier.wait()
            for n in range(index, requests, posters):
                with conn.transaction():
                    conn.execute(
                        BARE_DECISION,
                        {"team": team_id, "name": f"Клиент {n}", "email": f"b{n}@bench.ru"},
                    )
                    conn.execute(
                        "UPDATE inbound_specialist SET last_turn = last_turn + 1 "
                        "WHERE user_id = (SELECT assignee_id FROM inbound_inboundrequest "
                        "WHERE team_id = %s ORDER BY id DESC LIMIT 1)",
                        [team_id],
                    )

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(posters)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "requests": requests,
        "seconds": round(elapsed, 2),
        "decisions_per_s": round(requests / elapsed, 1),
    }


# --- (b) latency over HTTP, (c) the board ------------------------------------------------------


def _server(offset: float) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "OTDEL_LOG_LEVEL": "ERROR",
        "OTDEL_CLOCK_OFFSET_SECONDS": str(offset),
        "OTDEL_WEBFORM_RATE_LIMIT": "0",
    }
    log = open(_env.ROOT / "var" / "bench" / "inbound-server.log", "w")  # noqa: SIM115
    # As bin/serve runs it: gunicorn, several processes (three on two cores), threads in each.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "3",
            "--threads",
            "4",
        ],
        cwd=_env.ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/login/", timeout=1)  # noqa: S310 — our server
            break
        except OSError:  # not listening yet, or its workers still starting
            time.sleep(0.2)
    return server, base


def _latency(base: str, key: str, head_token: str, posters: int, per_poster: int) -> dict[str, Any]:
    run = int(time.time())

    def worker(i: int) -> list[float]:
        out = []
        for n in range(per_poster):
            body = json.dumps({"name": "Бенч", "email": f"l{run}-{i}-{n}@bench.ru"}).encode()
            post = urllib.request.Request(  # noqa: S310 — our server
                f"{base}/api/inbound/forms/{key}",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            started = time.perf_counter()
            number = json.loads(urllib.request.urlopen(post, timeout=30).read())["number"]  # noqa: S310
            check = urllib.request.Request(  # noqa: S310
                f"{base}/api/inbound/requests/{int(number)}",
                headers={"Authorization": f"Bearer {head_token}"},
            )
            seen = json.loads(urllib.request.urlopen(check, timeout=30).read())  # noqa: S310
            out.append(time.perf_counter() - started)
            assert seen["assignee_id"], seen
        return out

    with concurrent.futures.ThreadPoolExecutor(posters) as pool:
        latencies = [t for chunk in pool.map(worker, range(posters)) for t in chunk]
    return {
        "posters": posters,
        "posts": len(latencies),
        "median_ms": _ms(statistics.median(latencies)),
        "p95_ms": _ms(_p95(latencies)),
    }


def _fill_queue(team_id: int, people: list[int], size: int) -> None:
    """`size` unresolved requests set-based: 40 % assigned across the people (some overdue and
    escalated), the rest waiting."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO inbound_inboundrequest (
                team_id, channel, external_id, status, name, company, phone, phone_e164, email,
                inn, subject, message, region, language, match_reasons, assigned_why,
                passed_by, close_reason, assignee_id, assigned_at, first_response_due_at,
                resolution_due_at, escalated_at, created_at, updated_at)
            SELECT %(team)s, 'web', '',
                   CASE WHEN g %% 10 < 4 THEN 'assigned' ELSE 'new' END,
                   'Клиент ' || g, '', '', '', 'q' || g || '@bench.ru', '', '', '', '', '',
                   '[]', '{}', '[]', '',
                   CASE WHEN g %% 10 < 4 THEN (%(people)s::bigint[])[1 + g %% %(n)s] END,
                   CASE WHEN g %% 10 < 4 THEN now() - interval '1 hour' END,
                   now() + ((g %% 240) - 120) * interval '1 minute',
                   now() + interval '2 days',
                   CASE WHEN g %% 97 = 0 THEN now() END,
                   now() - g * interval '1 second', now()
            FROM generate_series(1, %(size)s) AS g
            """,
            {"team": team_id, "people": people, "n": len(people), "size": size},
        )
    with connection.cursor() as cur:
        # What autovacuum does after so many inserts (it is switched off on the bench server):
        # statistics, and the visibility map the index-only scans rely on.
        cur.execute("VACUUM ANALYZE inbound_inboundrequest")


BARE_BOARD = [
    # The same reads as the board: one pass grouped by person (totals are its sums), the
    # breaches nearest first, the oldest waiting.
    """SELECT assignee_id,
              count(*) FILTER (WHERE status = 'new'), min(created_at) FILTER (WHERE status = 'new'),
              count(*) FILTER (WHERE escalated_at IS NOT NULL AND first_response_at IS NULL),
              count(*) FILTER (WHERE resolution_escalated_at IS NOT NULL),
              count(*) FILTER (WHERE status IN ('assigned', 'in_work')),
              count(*) FILTER (WHERE status = 'in_work'),
              count(*) FILTER (WHERE status IN ('assigned', 'in_work')
                                 AND ((first_response_at IS NULL AND first_response_due_at <= now())
                                      OR resolution_due_at <= now()))
       FROM inbound_inboundrequest WHERE team_id = %(team)s
         AND status IN ('new', 'assigned', 'in_work')
       GROUP BY assignee_id""",
    """SELECT id FROM inbound_inboundrequest WHERE team_id = %(team)s
         AND status IN ('new', 'assigned', 'in_work')
         AND ((escalated_at IS NOT NULL AND first_response_at IS NULL)
              OR resolution_escalated_at IS NOT NULL)
       ORDER BY first_response_due_at LIMIT 20""",
    """SELECT id FROM inbound_inboundrequest WHERE team_id = %(team)s AND status = 'new'
       ORDER BY created_at LIMIT 20""",
]


def _board(base: str, head_token: str, team_id: int, runs: int) -> dict[str, Any]:
    from django.db import connection

    times = []
    for _ in range(runs):
        request = urllib.request.Request(  # noqa: S310 — our server
            f"{base}/api/inbound/board", headers={"Authorization": f"Bearer {head_token}"}
        )
        started = time.perf_counter()
        urllib.request.urlopen(request, timeout=60).read()  # noqa: S310
        times.append(time.perf_counter() - started)
    bare = []
    for _ in range(runs):
        started = time.perf_counter()
        with connection.cursor() as cur:
            for sql in BARE_BOARD:
                cur.execute(sql, {"team": team_id})
                cur.fetchall()
        bare.append(time.perf_counter() - started)
    return {
        "runs": runs,
        "http_median_ms": _ms(statistics.median(times)),
        "http_p95_ms": _ms(_p95(times)),
        "bare_sql_median_ms": _ms(statistics.median(bare)),
        "bare_sql_p95_ms": _ms(_p95(bare)),
    }


def bench_inbound(
    *,
    posters: int = 16,
    requests: int = 4000,
    latency_posts: int = 25,
    board_runs: int = 30,
    queue: int = 100_000,
    parts: str = "decisions,latency,board",
) -> dict[str, Any]:
    from otdel.core import clock

    offset = _working_offset()
    clock._offset = dt.timedelta(seconds=offset)  # the bench process stands on the same day
    ctx = _setup()
    team_id = ctx["team"].pk
    people = [p.pk for p in ctx["people"]]
    results: dict[str, Any] = {"specialists": SPECIALISTS, "posters": posters}

    wanted = set(parts.split(","))
    _clear(team_id)
    if "decisions" in wanted:
        results["decisions_service"] = _decisions(team_id, posters, requests)
        _clear(team_id)
        results["decisions_bare_sql"] = _bare_decisions(team_id, posters, requests)
        _clear(team_id)
    server, base = _server(offset)
    try:
        if "latency" in wanted:
            # Warm every worker process (its first request imports and connects), as a server
            # that has been up for a while is; these posts are not measured.
            _latency(base, ctx["form"].key, ctx["head_token"], 4, 6)
            results["form_to_assignment_one_poster"] = _latency(
                base, ctx["form"].key, ctx["head_token"], 1, latency_posts * 4
            )
            results["form_to_assignment"] = _latency(
                base, ctx["form"].key, ctx["head_token"], posters, latency_posts
            )
            _clear(team_id)
        if "board" in wanted:
            _fill_queue(team_id, people, queue)
            results["board_100k"] = {
                "open_requests": queue,
                **_board(base, ctx["head_token"], team_id, board_runs),
            }
    finally:
        server.terminate()
        server.wait()
        _clear(team_id)
    return results
