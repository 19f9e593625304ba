"""Issue 4's benchmarks: a sales department's two years of money facts in PostgreSQL, then
(a) the import of a 200,000-line 1С export of shipments (lines/s, peak memory of the process),
(b) the pipeline board of 5,000 open deals (server p95) and
(c) the monthly revenue-and-margin report by person × category (p95, and the bare SQL aggregate
    over the same rows in the same run), without and with a covering index on the lines.

The department ("Bench sales", generated once into the bench database beside the 1,000,000-client
one and kept): 40 people (a head of sales, 3 order managers, 36 managers who own the clients),
the 4 seeded categories, 200 products with a cost history of three prices, 50,000 clients with
a valid ИНН, 1,000,000 invoices (one line each), 495,000 shipments with 4 lines each plus 15,000
returns and 5,000 corrections of one line (2,000,000 shipment lines) over two years, and a
pipeline with 5,000 open and 45,000 closed deals (400 handoffs pending). The small tables are
written through the ORM, the large ones with set-based SQL (generate_series).

Usage: ./bench/run sales [--report-runs N] [--board-runs N] [--import-lines N]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import _env

TEAM = "Bench sales"
CLIENTS = 50_000
OWNERS = 36
PRODUCTS = 200
INVOICES = 1_000_000
SHIPMENTS = 495_000  # × 4 lines = 1,980,000, + 15,000 return lines + 5,000 correction lines
LINES_PER_SHIPMENT = 4
RETURNS = 15_000
CORRECTIONS = 5_000
OPEN_DEALS = 5_000
CLOSED_DEALS = 45_000
PENDING_HANDOFFS = 400
DAYS = 730
SOURCE = "1c:bench"
# Cost prices change twice: at these days before the generation moment (the lines' unit cost
# follows the same rule, as the importer would have frozen it).
COST_ERAS = (DAYS + 1, 480, 240)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def generated() -> bool:
    from otdel.people.models import Team

    return Team.objects.filter(name=TEAM).exists()


def team_now() -> dt.datetime:
    """The generation moment: every date of the department is relative to it."""
    from otdel.people.models import Team

    return Team.objects.get(name=TEAM).created_at


def generate(say: Any = print) -> None:
    """Fill the department: reference rows through the ORM, the facts with SQL. ~2–4 min."""
    from django.db import connection, transaction

    from otdel.core import clock

    started = time.monotonic()
    now = clock.now().replace(microsecond=0)
    # One transaction: a generation that fails half-way leaves nothing behind.
    with transaction.atomic():
        _generate(now, say, started)
    with connection.cursor() as cur:
        t = time.monotonic()
        cur.execute(
            "VACUUM ANALYZE clients_client, clients_legalentity, sales_shipment, "
            "sales_shipmentline, sales_invoice, sales_invoiceline, sales_deal, sales_handoff"
        )
        say(f"  vacuum analyze: {time.monotonic() - t:.1f} s")
    say(f"  generated in {time.monotonic() - started:.0f} s")


def _generate(now: dt.datetime, say: Any, started: float) -> None:
    from django.db import connection

    from otdel.people.models import Role, Team, User
    from otdel.sales import services
    from otdel.sales.models import Product, ProductCategory, ProductCost

    team = Team.objects.create(name=TEAM, created_at=now)
    people = [
        User(
            username="sales_head",
            role=Role.HEAD_OF_SALES,
            team=team,
            first_name="Ольга",
            last_name="Продажина",
        )
    ]
    people += [
        User(
            username=f"sales_om{i}",
            role=Role.ORDER_MANAGER,
            team=team,
            first_name="Заказ",
            last_name=f"Менеджер{i}",
        )
        for i in range(1, 4)
    ]
    people += [
        User(
            username=f"sales_m{i:02d}",
            role=Role.ACCOUNT_MANAGER if i % 3 else Role.HUNTER,
            team=team,
            first_name=f"Имя{i}",
            last_name=f"Продавцов{i:02d}",
        )
        for i in range(1, OWNERS + 1)
    ]
    for u in people:
        u.set_unusable_password()
    User.objects.bulk_create(people)
    head = User.objects.get(username="sales_head")
    categories = list(ProductCategory.objects.order_by("position").values_list("pk", flat=True))
    products = Product.objects.bulk_create(
        Product(
            name=f"Товар {i:03d}",
            sku=f"BS-{i:04d}",
            category_id=categories[i % len(categories)],
            list_price=Decimal(100 + (i * 137) % 5000),
            vat_rate=Decimal(22),
            created_by=head,
            created_at=now - dt.timedelta(days=DAYS + 2),
            updated_at=now,
        )
        for i in range(1, PRODUCTS + 1)
    )
    ProductCost.objects.bulk_create(
        ProductCost(
            product=p,
            amount=(p.list_price * (Decimal("0.55") + Decimal("0.05") * era)).quantize(
                Decimal("0.01")
            ),
            effective_from=now - dt.timedelta(days=days),
            comment="bench",
            recorded_by=head,
            recorded_at=now,
        )
        for p in products
        for era, days in enumerate(COST_ERAS)
    )
    pipeline = services.ensure_default_pipeline(team.pk, actor=head)
    say(f"  people, products, costs, pipeline: {time.monotonic() - started:.1f} s")
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM clients_client")
        client_base = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM sales_shipment")
        shipment_base = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM sales_shipmentline")
        line_base = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM sales_invoice")
        invoice_base = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM sales_deal")
        deal_base = cur.fetchone()[0]
    first_owner = User.objects.get(username="sales_m01").pk
    first_product = min(p.pk for p in products)
    stages = {s.code: s.pk for s in pipeline.stages.all()}
    open_stages = (
        "ARRAY["
        + ",".join(
            str(stages[c])
            for c in ("prospect", "intent", "specification", "estimate", "contract", "act")
        )
        + "]"
    )
    params = {
        "team": team.pk,
        "head": head.pk,
        "now": now,
        "days": DAYS,
        "owners": OWNERS,
        "first_owner": first_owner,
        "clients": CLIENTS,
        "client_base": client_base,
        "products": PRODUCTS,
        "first_product": first_product,
        "shipments": SHIPMENTS,
        "shipment_base": shipment_base,
        "line_base": line_base,
        "lines": LINES_PER_SHIPMENT,
        "invoice_base": invoice_base,
        "invoices": INVOICES,
        "returns": RETURNS,
        "corrections": CORRECTIONS,
        "deal_base": deal_base,
        "open_deals": OPEN_DEALS,
        "closed_deals": CLOSED_DEALS,
        "pipeline": pipeline.pk,
        "won": stages["completed"],
        "lost": stages["lost"],
        "spec": stages["specification"],
        "act": stages["act"],
        "pending": PENDING_HANDOFFS,
        "source": SOURCE,
        "era1": COST_ERAS[1],
        "era2": COST_ERAS[2],
    }
    inn_check = " + ".join(
        f"{w} * substr(d, {i + 1}, 1)::int" for i, w in enumerate((2, 4, 10, 3, 5, 9, 4, 6, 8))
    )
    # The unit cost at a moment, as ProductCost says (the same rule the rows above follow).
    unit_cost = """round(p.list_price * (0.55 + 0.05 * CASE
        WHEN {at} >= %(now)s - %(era2)s * interval '1 day' THEN 2
        WHEN {at} >= %(now)s - %(era1)s * interval '1 day' THEN 1 ELSE 0 END), 2)"""
    steps = [
        (
            f"{CLIENTS:,} clients with legal entities",
            f"""
            INSERT INTO clients_client (id, name, normalized_name, website, web_domain, region,
                industry, notes, is_won, is_locked, owner_id, owned_since, protected_until,
                activity_clock_at, shipment_clock_at, last_shipment_at, return_warned_at,
                released_at, created_at, updated_at, created_by_id, merged_into_id, team_id)
            SELECT %(client_base)s + g, 'ООО «Заказчик ' || g || '»', 'заказчик ' || g, '', '',
                   'Москва', '', '', false, false,
                   CASE WHEN g %% 20 <> 0 THEN %(first_owner)s + g %% %(owners)s END,
                   CASE WHEN g %% 20 <> 0 THEN %(now)s - interval '800 days' END, NULL,
                   CASE WHEN g %% 20 <> 0 THEN %(now)s - (g %% 20) * interval '1 day' END,
                   NULL, NULL, NULL, NULL, %(now)s - interval '800 days', %(now)s, NULL, NULL,
                   %(team)s
            FROM generate_series(1::bigint, %(clients)s) g;
            SELECT setval(pg_get_serial_sequence('clients_client', 'id'),
                          (SELECT max(id) FROM clients_client));
            INSERT INTO clients_legalentity (client_id, name, inn, kpp, ogrn, address)
            SELECT %(client_base)s + g, 'ООО «Заказчик ' || g || '»',
                   d || (({inn_check}) %% 11 %% 10)::text, '500101001', '', ''
            FROM (SELECT g, '50' || lpad(g::text, 7, '0') AS d
                  FROM generate_series(1::bigint, %(clients)s) g) s
        """,
        ),
        (
            f"{SHIPMENTS:,} shipments with {SHIPMENTS * LINES_PER_SHIPMENT:,} lines",
            f"""
            CREATE TEMP TABLE bench_ship ON COMMIT DROP AS
            SELECT g, %(now)s - %(days)s * interval '1 day'
                        + (g::float8 / %(shipments)s) * (%(days)s * interval '1 day'
                                                         - interval '1 hour')
                        + ((g * 7919) %% 600) * interval '1 second' AS shipped_at,
                   %(client_base)s + 1 + (g * 7919) %% %(clients)s AS client_id
            FROM generate_series(1::bigint, %(shipments)s) g;
            CREATE TEMP TABLE bench_line ON COMMIT DROP AS
            SELECT g, i, pid, q, uc, rev, round(uc * q, 2) AS cost
            FROM (
                SELECT s.g, i, pid, q, {unit_cost.format(at="s.shipped_at")} AS uc,
                       round(q * p.list_price * (1 - (s.g %% 4) * 0.05), 2) AS rev
                FROM bench_ship s
                CROSS JOIN generate_series(1::bigint, %(lines)s) i
                CROSS JOIN LATERAL (
                    SELECT %(first_product)s + ((s.g * 4 + i) * 37) %% %(products)s AS pid,
                           (1 + (s.g + i) %% 5)::numeric AS q) x
                JOIN sales_product p ON p.id = x.pid
            ) t;
            INSERT INTO sales_shipment (id, source, external_id, kind, currency, comment,
                recorded_at, number, shipped_at, revenue, cost, margin, client_id, deal_id,
                original_id, recorded_by_id, team_id, owner_id)
            SELECT %(shipment_base)s + s.g, %(source)s, 'РН-' || s.g, 'original', 'RUB', '',
                   %(now)s, 'РН-' || s.g, s.shipped_at, t.rev, t.cost, t.rev - t.cost,
                   s.client_id, NULL, NULL, NULL, %(team)s, c.owner_id
            FROM bench_ship s
            JOIN (SELECT g, sum(rev) AS rev, sum(cost) AS cost FROM bench_line GROUP BY g) t
              ON t.g = s.g
            JOIN clients_client c ON c.id = s.client_id  -- nobody's owner changed: owner then
            ORDER BY s.g;
            INSERT INTO sales_shipmentline (id, position, quantity, unit_cost, revenue, cost,
                margin, original_line_id, product_id, shipment_id, team_id, shipped_at,
                currency, owner_id, category_id)
            SELECT %(line_base)s + (l.g - 1) * %(lines)s + l.i, l.i, l.q, l.uc, l.rev, l.cost,
                   l.rev - l.cost, NULL, l.pid, %(shipment_base)s + l.g, %(team)s, s.shipped_at,
                   'RUB', c.owner_id, p.category_id
            FROM bench_line l
            JOIN bench_ship s ON s.g = l.g
            JOIN clients_client c ON c.id = s.client_id
            JOIN sales_product p ON p.id = l.pid
            ORDER BY l.g, l.i
        """,
        ),
        (
            f"{RETURNS:,} returns and {CORRECTIONS:,} corrections (one line each)",
            """
            INSERT INTO sales_shipment (id, source, external_id, kind, currency, comment,
                recorded_at, number, shipped_at, revenue, cost, margin, client_id, deal_id,
                original_id, recorded_by_id, team_id, owner_id)
            SELECT %(shipment_base)s + %(shipments)s + r, o.source, o.external_id || '#ret1',
                   'reversal', 'RUB', 'возврат', %(now)s, o.number,
                   least(o.shipped_at + interval '7 days', %(now)s - interval '1 hour'),
                   -l.revenue, -l.cost, -l.margin, o.client_id, NULL, o.id, NULL, o.team_id,
                   o.owner_id
            FROM generate_series(1::bigint, %(returns)s) r
            JOIN sales_shipment o ON o.id = %(shipment_base)s + r * 33
            JOIN sales_shipmentline l ON l.id = %(line_base)s + (r * 33 - 1) * %(lines)s + 1;
            INSERT INTO sales_shipmentline (id, position, quantity, unit_cost, revenue, cost,
                margin, original_line_id, product_id, shipment_id, team_id, shipped_at,
                currency, owner_id, category_id)
            SELECT %(line_base)s + %(shipments)s * %(lines)s + r, 1, -l.quantity, l.unit_cost,
                   -l.revenue, -l.cost, -l.margin, l.id, l.product_id,
                   %(shipment_base)s + %(shipments)s + r, l.team_id,
                   least(l.shipped_at + interval '7 days', %(now)s - interval '1 hour'), 'RUB',
                   l.owner_id, l.category_id
            FROM generate_series(1::bigint, %(returns)s) r
            JOIN sales_shipmentline l
              ON l.id = %(line_base)s + (r * 33 - 1) * %(lines)s + 1;
            INSERT INTO sales_shipment (id, source, external_id, kind, currency, comment,
                recorded_at, number, shipped_at, revenue, cost, margin, client_id, deal_id,
                original_id, recorded_by_id, team_id, owner_id)
            SELECT %(shipment_base)s + %(shipments)s + %(returns)s + c, o.source,
                   o.external_id || '#c1', 'correction', 'RUB', '', %(now)s, o.number,
                   o.shipped_at, round(l.revenue / l.quantity, 2), l.unit_cost,
                   round(l.revenue / l.quantity, 2) - l.unit_cost, o.client_id, NULL, o.id, NULL,
                   o.team_id, o.owner_id
            FROM generate_series(1::bigint, %(corrections)s) c
            JOIN sales_shipment o ON o.id = %(shipment_base)s + c * 97
            JOIN sales_shipmentline l ON l.id = %(line_base)s + (c * 97 - 1) * %(lines)s + 2;
            INSERT INTO sales_shipmentline (id, position, quantity, unit_cost, revenue, cost,
                margin, original_line_id, product_id, shipment_id, team_id, shipped_at,
                currency, owner_id, category_id)
            SELECT %(line_base)s + %(shipments)s * %(lines)s + %(returns)s + c, 1, 1,
                   l.unit_cost, round(l.revenue / l.quantity, 2), l.unit_cost,
                   round(l.revenue / l.quantity, 2) - l.unit_cost, NULL, l.product_id,
                   %(shipment_base)s + %(shipments)s + %(returns)s + c, l.team_id, l.shipped_at,
                   'RUB', l.owner_id, l.category_id
            FROM generate_series(1::bigint, %(corrections)s) c
            JOIN sales_shipmentline l
              ON l.id = %(line_base)s + (c * 97 - 1) * %(lines)s + 2;
            SELECT setval(pg_get_serial_sequence('sales_shipment', 'id'),
                          (SELECT max(id) FROM sales_shipment));
            SELECT setval(pg_get_serial_sequence('sales_shipmentline', 'id'),
                          (SELECT max(id) FROM sales_shipmentline))
        """,
        ),
        (
            f"{INVOICES:,} invoices with a line each",
            """
            INSERT INTO sales_invoice (id, source, external_id, kind, currency, comment,
                recorded_at, number, issued_on, net_total, vat_total, total, client_id, deal_id,
                original_id, recorded_by_id, team_id)
            SELECT %(invoice_base)s + g, %(source)s, 'СЧ-' || g, 'original', 'RUB', '', %(now)s,
                   'СЧ-' || g,
                   (%(now)s - %(days)s * interval '1 day'
                        + (g::float8 / %(invoices)s) * (%(days)s - 1) * interval '1 day')::date,
                   net, round(net * 0.22, 2), net + round(net * 0.22, 2),
                   %(client_base)s + 1 + (g * 104729) %% %(clients)s, NULL, NULL, NULL,
                   %(team)s
            FROM (SELECT g, (1000 + (g * 7919) %% 90000)::numeric AS net
                  FROM generate_series(1::bigint, %(invoices)s) g) s;
            INSERT INTO sales_invoiceline (position, description, quantity, unit_price,
                discount_percent, vat_rate, net_amount, vat_amount, total_amount, invoice_id,
                product_id)
            SELECT 1, '', 1, i.net_total, 0, 22, i.net_total, i.vat_total, i.total, i.id,
                   %(first_product)s + i.id %% %(products)s
            FROM sales_invoice i WHERE i.id > %(invoice_base)s AND i.team_id = %(team)s;
            SELECT setval(pg_get_serial_sequence('sales_invoice', 'id'),
                          (SELECT max(id) FROM sales_invoice))
        """,
        ),
        (
            f"{OPEN_DEALS:,} open and {CLOSED_DEALS:,} closed deals, handoffs",
            f"""
            INSERT INTO sales_deal (id, title, amount_estimate, currency, source, source_reason,
                created_at, updated_at, stage_entered_at, closed_at, client_id, created_by_id,
                responsible_id, team_id, pipeline_id, stage_id)
            SELECT %(deal_base)s + g, 'Поставка №' || g, 10000 + (g * 7919) %% 900000, 'RUB',
                   'own_base', '{{}}'::jsonb, at - interval '20 days', at, at,
                   CASE WHEN g > %(open_deals)s THEN at END,
                   %(client_base)s + 1 + (g * 31) %% %(clients)s, %(head)s,
                   %(first_owner)s + g %% %(owners)s, %(team)s, %(pipeline)s,
                   CASE WHEN g <= %(open_deals)s THEN ({open_stages})[1 + g %% 6]
                        WHEN g %% 3 = 0 THEN %(lost)s ELSE %(won)s END
            FROM (SELECT g, CASE WHEN g <= %(open_deals)s
                                 THEN %(now)s - (g %% 60) * interval '1 day'
                                      - (g %% 24) * interval '1 hour'
                                 ELSE %(now)s - ((g - %(open_deals)s)::float8
                                      / %(closed_deals)s) * %(days)s * interval '1 day' END AS at
                  FROM generate_series(1::bigint, %(open_deals)s + %(closed_deals)s) g) s;
            SELECT setval(pg_get_serial_sequence('sales_deal', 'id'),
                          (SELECT max(id) FROM sales_deal));
            INSERT INTO sales_handoff (offered_role, brief, status, created_at, deadline,
                escalated_at, answered_at, return_reason, answered_by_id, created_by_id, deal_id,
                offered_to_id, sender_id, from_stage_id, to_stage_id)
            SELECT 'order_manager', '{{"needs": "bench"}}'::jsonb, 'pending', d.updated_at,
                   d.updated_at + interval '2 days', NULL, NULL, '', NULL, d.responsible_id,
                   d.id, NULL, d.responsible_id, d.stage_id, %(act)s
            FROM sales_deal d
            WHERE d.pipeline_id = %(pipeline)s AND d.closed_at IS NULL AND d.stage_id = %(spec)s
            ORDER BY d.id LIMIT %(pending)s
        """,
        ),
    ]
    with connection.cursor() as cur:
        # A bulk load of rows consistent by construction: the foreign-key triggers (deferred to
        # the commit, one per row) would cost minutes; the rows are checked once at the end.
        cur.execute("SET LOCAL session_replication_role = replica")
    for label, sql in steps:
        t = time.monotonic()
        with connection.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            for statement in (s.strip() for s in sql.split(";\n")):
                if statement:
                    cur.execute(statement, params if "%(" in statement else None)
        say(f"  {label}: {time.monotonic() - t:.1f} s")
    t = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = origin")
        for child, column, parent in (
            ("sales_shipmentline", "shipment_id", "sales_shipment"),
            ("sales_shipmentline", "product_id", "sales_product"),
            ("sales_shipmentline", "original_line_id", "sales_shipmentline"),
            ("sales_shipment", "client_id", "clients_client"),
            ("sales_shipment", "original_id", "sales_shipment"),
            ("sales_invoiceline", "invoice_id", "sales_invoice"),
            ("sales_invoice", "client_id", "clients_client"),
            ("sales_deal", "client_id", "clients_client"),
            ("sales_deal", "stage_id", "sales_stage"),
            ("sales_handoff", "deal_id", "sales_deal"),
            ("clients_legalentity", "client_id", "clients_client"),
            ("clients_client", "owner_id", "people_user"),
        ):
            cur.execute(
                f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
            )
            dangling = cur.fetchone()[0]
            if dangling:
                raise RuntimeError(f"{dangling} rows of {child}.{column} point nowhere")
    say(f"  foreign keys checked: {time.monotonic() - t:.1f} s")


# --- (b) the board -------------------------------------------------------------------------------


def bench_board(runs: int) -> dict[str, Any]:
    """The head's board of the pipeline with 5,000 open deals, through the Django test client
    (middleware, selectors, template), in-process; and the selector alone."""
    from django.db import connection
    from django.test import Client as HttpClient

    from otdel.core import clock
    from otdel.people.models import User
    from otdel.sales import selectors
    from otdel.sales.models import Deal, Pipeline

    head = User.objects.get(username="sales_head")
    pipeline = Pipeline.objects.get(team=head.team, is_default=True)
    url = f"/deals/?pipeline={pipeline.pk}"
    browser = HttpClient()
    browser.force_login(head)
    clock.freeze(team_now())
    try:
        response = browser.get(url)
        if response.status_code != 200:
            return {"status": response.status_code}
        queries: list[str] = []

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = browser.get(url)
        page, select = [], []
        for _ in range(runs):
            started = time.perf_counter()
            response = browser.get(url)
            page.append(time.perf_counter() - started)
            assert response.status_code == 200
            started = time.perf_counter()
            columns = selectors.board(head, pipeline)
            select.append(time.perf_counter() - started)
    finally:
        clock.unfreeze()
    shown = sum(len(c.deals) for c in columns)
    return {
        "runs": runs,
        "open_deals": Deal.objects.filter(pipeline=pipeline, closed_at__isnull=True).count(),
        "deals_in_pipeline": Deal.objects.filter(pipeline=pipeline).count(),
        "cards_shown": shown,
        "columns_cut": [c.stage.code for c in columns if c.more],
        "queries": len(queries),
        "bytes": len(response.content),
        "page_median_ms": _ms(statistics.median(page)),
        "page_p95_ms": _ms(_p95(page)),
        "selector_median_ms": _ms(statistics.median(select)),
        "selector_p95_ms": _ms(_p95(select)),
    }


# --- (c) the report ------------------------------------------------------------------------------


def _month_sql(column: str, one_month: bool) -> str:
    """The group's month: the period's own for one month (not computed per line, like the
    selector), else the Moscow month of each line."""
    if one_month:
        return "%(first)s::date"
    return f"date_trunc('month', {column} AT TIME ZONE 'Europe/Moscow')::date"


def _bare_sql(one_month: bool) -> str:
    """The aggregate written by hand: the same rows (the team's shipment lines dated in the
    period), the same groups (Moscow month, the person credited, the category, the currency);
    for one month, like the selector, without computing the month of every line."""
    month = _month_sql("l.shipped_at", one_month)
    groups = "l.owner_id, l.category_id, l.currency" + ("" if one_month else ", 1")
    return f"""
        SELECT {month} AS month, l.owner_id, l.category_id, l.currency,
               sum(l.revenue), sum(l.cost), sum(l.margin)
        FROM sales_shipmentline l
        WHERE l.shipped_at >= %(start)s AND l.shipped_at < %(end)s AND l.team_id = %(team)s
        GROUP BY {groups}
    """


def _joined_sql(one_month: bool) -> str:
    """For reference, the same aggregate as it was read before the lines carried their groups:
    joining each line to its shipment, the client (owner now) and the product (category now)."""
    month = _month_sql("s.shipped_at", one_month)
    groups = "c.owner_id, p.category_id, s.currency" + ("" if one_month else ", 1")
    return f"""
        SELECT {month} AS month, c.owner_id, p.category_id, s.currency,
               sum(l.revenue), sum(l.cost), sum(l.margin)
        FROM sales_shipmentline l
        JOIN sales_shipment s ON s.id = l.shipment_id
        JOIN clients_client c ON c.id = s.client_id
        JOIN sales_product p ON p.id = l.product_id
        WHERE s.shipped_at >= %(start)s AND s.shipped_at < %(end)s AND s.team_id = %(team)s
        GROUP BY {groups}
    """


def _report_round(head: Any, period: Any, runs: int, *, pages: bool = True) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client as HttpClient

    from otdel.analytics import sales as analytics

    browser = HttpClient()
    browser.force_login(head)
    url = f"/analytics/sales/?since={period.first:%Y-%m}&until={period.last:%Y-%m}"
    params = {
        "first": period.first,
        "start": period.start,
        "end": period.end,
        "team": head.team_id,
    }

    def bare(sql: str = _bare_sql(period.first == period.last)) -> int:
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return len(cur.fetchall())

    joined_sql = _joined_sql(period.first == period.last)

    rows = analytics.revenue_and_margin(head, period)
    assert len(rows) == bare(), "the selector and the bare SQL disagree on the groups"
    browser.get(url)  # warm
    selector, report, page, sql, joined = [], [], [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        analytics.revenue_and_margin(head, period)
        selector.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare()
        sql.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare(joined_sql)
        joined.append(time.perf_counter() - t)
        if not pages:
            continue
        t = time.perf_counter()
        analytics.sales_report(head, period)
        report.append(time.perf_counter() - t)
        t = time.perf_counter()
        response = browser.get(url)
        page.append(time.perf_counter() - t)
        assert response.status_code == 200
    lines = analytics.lines_in(head, period).count()
    out: dict[str, Any] = {"lines": lines, "groups": len(rows), "runs": runs}
    if pages:
        out["report_p95_ms"] = _ms(_p95(report))
        out["page_p95_ms"] = _ms(_p95(page))
        out["page_median_ms"] = _ms(statistics.median(page))
    return {
        **out,
        "selector_p95_ms": _ms(_p95(selector)),
        "selector_median_ms": _ms(statistics.median(selector)),
        "bare_sql_p95_ms": _ms(_p95(sql)),
        "bare_sql_median_ms": _ms(statistics.median(sql)),
        "selector_vs_bare_p95": round(_p95(selector) / _p95(sql), 2),
        "selector_vs_bare_median": round(statistics.median(selector) / statistics.median(sql), 2),
        "joined_sql_p95_ms": _ms(_p95(joined)),
        "joined_sql_median_ms": _ms(statistics.median(joined)),
    }


def _explain(head: Any, period: Any) -> str:
    from django.db import connection

    from otdel.analytics import sales as analytics

    sql, params = analytics._grouped(head, period, team_id=None).query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(r[0] for r in cur.fetchall())


def bench_report(runs: int) -> dict[str, Any]:
    """The head's report of one month (the last whole month before the generation moment) and
    of twelve months: the selector (one grouped query), the whole report (+ pivot), the page,
    the bare SQL over the same lines, and the joined aggregate it replaced, for reference."""
    from django.db import connection

    from otdel.analytics import sales as analytics
    from otdel.core import clock
    from otdel.people.models import User

    head = User.objects.get(username="sales_head")
    moment = team_now().astimezone(clock.MOSCOW)
    last = (moment.replace(day=1) - dt.timedelta(days=1)).date().replace(day=1)
    month = analytics.Period(last, last)
    back = last.year * 12 + last.month - 1 - 11
    year = analytics.Period(dt.date(back // 12, back % 12 + 1, 1), last)
    out: dict[str, Any] = {
        "runs": runs,
        "month": f"{last:%Y-%m}",
        "year": f"{year.first:%Y-%m}..{year.last:%Y-%m}",
    }
    results = _env.ROOT / "var" / "bench"
    year_runs = max(5, runs // 6)

    def jit(on: bool) -> None:
        with connection.cursor() as cur:
            cur.execute("SET jit = " + ("on" if on else "off"))

    with connection.cursor() as cur:
        cur.execute("SHOW jit")
        out["server_jit"] = cur.fetchone()[0]
    out["as_migrated"] = {
        "month": _report_round(head, month, runs),
        "year": _report_round(head, year, year_runs, pages=False),
    }
    (results / "sales-report-explain.txt").write_text(_explain(head, month))
    jit(False)
    try:
        out["jit_off"] = {"month": _report_round(head, month, runs)}
    finally:
        jit(True)
    return out


# --- (a) the 1С import ---------------------------------------------------------------------------


def bench_import(lines: int) -> dict[str, Any]:
    """Run the import in a child process (so its peak memory is the import's own)."""
    child = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "sales_import_child.py"),
            str(lines),
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "OTDEL_TASKS_BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        },
    )
    if child.returncode != 0:
        return {"status": "failed", "stderr": child.stderr[-3000:]}
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def bench_sales(
    *, report_runs: int, board_runs: int, import_lines: int, parts: str = "report,board,import"
) -> dict[str, Any]:
    from django.db import connection

    if not generated():
        print("Generating the sales department (once)…", flush=True)
        generate()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM sales_shipmentline l JOIN sales_shipment s "
            "ON s.id = l.shipment_id WHERE s.team_id = (SELECT id FROM people_team WHERE name = %s)",
            [TEAM],
        )
        lines = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM sales_invoice WHERE team_id = "
            "(SELECT id FROM people_team WHERE name = %s)",
            [TEAM],
        )
        invoices = cur.fetchone()[0]
    out: dict[str, Any] = {"shipment_lines": lines, "invoices": invoices}
    for name, step in (
        ("report", lambda: bench_report(report_runs)),
        ("board", lambda: bench_board(board_runs)),
        ("import", lambda: bench_import(import_lines)),
    ):
        if name not in parts.split(","):
            continue
        print(f"  -- {name}", flush=True)
        out[name] = step()
        print(json.dumps(out[name], ensure_ascii=False), flush=True)
    return out
