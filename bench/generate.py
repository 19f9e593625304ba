"""Generate the benchmark department in PostgreSQL with set-based SQL (no Python loops over rows).

1,000,000 clients (half owned by 500 people, 5 % of all clients due to return to the pool),
1,000,000 legal entities with valid ИНН, 3,000,000 contacts with 3,000,000 phones, and one
ledger row per client. Runs once; later runs reuse the data.
"""

from __future__ import annotations

import json
import time

from django.db import connection

from otdel.ownership.policy_document import OwnershipPolicyDocument

CLIENTS = 1_000_000
CONTACTS_PER_CLIENT = 3
OWNERS = 500
# Owned: every even client; due: every 20th client (5 % of all, 10 % of the owned ones).
POLICY = OwnershipPolicyDocument(default_cap=1500).model_dump()

REGIONS = [
    "Москва", "Санкт-Петербург", "Московская область", "Свердловская область",
    "Новосибирская область", "Республика Татарстан", "Нижегородская область",
    "Самарская область", "Ростовская область", "Краснодарский край",
]  # fmt: skip


def generated() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM people_team WHERE name = 'Bench'")
        return bool(cur.fetchone()[0])


def generate(log: object = print, *, start: int = 0) -> None:
    """Fill an empty, migrated database; ~2–4 minutes on 2 cores."""
    say = log if callable(log) else print
    started = time.monotonic()
    regions = "ARRAY[" + ",".join(f"'{r}'" for r in REGIONS) + "]"
    inn_check = " + ".join(
        f"{w} * substr(d, {i + 1}, 1)::int" for i, w in enumerate((2, 4, 10, 3, 5, 9, 4, 6, 8))
    )
    steps = [
        (
            "team and people",
            f"""
            INSERT INTO people_team (name, created_at) VALUES ('Bench', now());
            INSERT INTO people_user (password, is_superuser, username, first_name, last_name,
                email, is_staff, is_active, date_joined, role, patronymic, client_cap, timezone,
                language, team_id, availability, work_starts, work_ends)
            SELECT '!', false, 'owner' || g, 'Имя' || g, 'Фамилия' || g, '', false, true, now(),
                   CASE WHEN g % 3 = 0 THEN 'account_manager' ELSE 'hunter' END, '', NULL,
                   'Europe/Moscow', 'ru', (SELECT id FROM people_team WHERE name = 'Bench'),
                   'on_shift', '09:00', '18:00'
            FROM generate_series(1, {OWNERS}) g;
            INSERT INTO people_user (password, is_superuser, username, first_name, last_name,
                email, is_staff, is_active, date_joined, role, patronymic, timezone, language,
                team_id, availability, work_starts, work_ends)
            VALUES ('!', false, 'bench_head', 'РОП', 'Бенчмарков', '', false, true, now(),
                    'head_of_sales', '', 'Europe/Moscow', 'ru',
                    (SELECT id FROM people_team WHERE name = 'Bench'), 'on_shift', '09:00', '18:00');
            INSERT INTO ownership_ownershippolicy (team_id, version, effective_from, document,
                comment, approved_by_id, created_at)
            SELECT id, 1, now() - interval '400 days', %(policy)s::jsonb, 'bench', NULL, now()
            FROM people_team WHERE name = 'Bench';
        """,
        ),
        (
            "1,000,000 clients",
            f"""
            CREATE TEMP TABLE bench_ids AS
            SELECT (SELECT id FROM people_team WHERE name = 'Bench') AS team_id,
                   (SELECT min(id) FROM people_user WHERE username ~ '^owner') AS first_owner;
            INSERT INTO clients_client (id, name, normalized_name, website, web_domain, region,
                industry, notes, is_won, is_locked, owner_id, owned_since, protected_until,
                activity_clock_at, shipment_clock_at, last_shipment_at, return_warned_at,
                released_at, created_at, updated_at, created_by_id, merged_into_id, team_id)
            SELECT g, 'ООО «Компания ' || g || '»', 'компания ' || g, 'company' || g || '.ru',
                   'company' || g || '.ru', ({regions})[1 + g % 10], '', '', g % 7 = 0,
                   g % 1000 = 0,
                   CASE WHEN g % 2 = 0 THEN b.first_owner + (g / 2) % {OWNERS} END,
                   CASE WHEN g % 2 = 0 THEN now() - interval '200 days' END,
                   CASE WHEN g % 2 = 0 AND g % 50 = 2 THEN now() + interval '5 days' END,
                   CASE WHEN g % 20 = 0 THEN now() - interval '31 days' - (g % 29) * interval '1 day'
                        WHEN g % 2 = 0 THEN now() - (g % 27) * interval '1 day'
                                              - (g % 24) * interval '1 hour' END,
                   CASE WHEN g % 2 = 0 THEN now() - interval '200 days' END,
                   NULL, NULL,
                   CASE WHEN g % 2 = 1 THEN now() - (g % 300) * interval '1 day' END,
                   now() - interval '400 days', now(), NULL, NULL, b.team_id
            FROM generate_series(1, {CLIENTS}) g CROSS JOIN bench_ids b;
            SELECT setval(pg_get_serial_sequence('clients_client', 'id'), {CLIENTS});
        """,
        ),
        (
            "1,000,000 legal entities with valid ИНН",
            f"""
            INSERT INTO clients_legalentity (client_id, name, inn, kpp, ogrn, address)
            SELECT g, 'ООО «Компания ' || g || '»', d || (({inn_check}) % 11 % 10)::text,
                   '770101001', '', ''
            FROM (SELECT g, '77' || lpad(g::text, 7, '0') AS d
                  FROM generate_series(1, {CLIENTS}) g) s;
        """,
        ),
        (
            "3,000,000 contacts",
            f"""
            INSERT INTO clients_contact (id, client_id, full_name, position, is_decision_maker,
                email, email_domain, notes)
            SELECT c, (c - 1) / {CONTACTS_PER_CLIENT} + 1, 'Контакт ' || c, '',
                   c % {CONTACTS_PER_CLIENT} = 1,
                   'c' || c || '@company' || ((c - 1) / {CONTACTS_PER_CLIENT} + 1) || '.ru',
                   'company' || ((c - 1) / {CONTACTS_PER_CLIENT} + 1) || '.ru', ''
            FROM generate_series(1, {CLIENTS * CONTACTS_PER_CLIENT}) c;
            SELECT setval(pg_get_serial_sequence('clients_contact', 'id'),
                          {CLIENTS * CONTACTS_PER_CLIENT});
        """,
        ),
        (
            "3,000,000 phones",
            f"""
            INSERT INTO clients_contactphone (contact_id, client_id, e164, raw, is_mobile)
            SELECT c, (c - 1) / {CONTACTS_PER_CLIENT} + 1, p, p, c % 3 <> 1
            FROM (SELECT c, CASE WHEN c % 3 = 1
                                 THEN '+7495' || lpad(((c::bigint * 7919) % 10000000)::text, 7, '0')
                                 ELSE '+79' || lpad(((c::bigint * 7919) % 1000000000)::text, 9, '0')
                            END AS p
                  FROM generate_series(1, {CLIENTS * CONTACTS_PER_CLIENT}) c) s;
        """,
        ),
        (
            "1,000,000 ledger rows",
            """
            INSERT INTO ownership_ownershipevent (client_id, kind, at, from_user_id, to_user_id,
                actor_id, reason, policy_id, details)
            SELECT id, CASE WHEN owner_id IS NULL THEN 'import' ELSE 'claim' END,
                   coalesce(owned_since, created_at), NULL, owner_id, owner_id, '', NULL, '{}'
            FROM clients_client;
        """,
        ),
        ("vacuum analyze", "VACUUM ANALYZE"),
    ]
    for label, sql in steps[start:]:
        t = time.monotonic()
        with connection.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            for statement in (s.strip() for s in sql.split(";\n")):
                if not statement:
                    continue
                if "%(policy)s" in statement:
                    cur.execute(statement, {"policy": json.dumps(POLICY)})
                else:
                    cur.execute(statement)
        say(f"  {label}: {time.monotonic() - t:.1f} s")
    say(f"  generated in {time.monotonic() - started:.0f} s")
