"""The return-to-pool sweep and the warnings before it: set-based SQL, safe to run anywhere.

The sweep returns a team's clients whose owner did no qualifying work for N days (or that did
not ship for M days) in one statement per team, writing one ledger row per client in the same
transaction. Two sweeps at once never return a client twice: on PostgreSQL the rows are locked
with SKIP LOCKED and re-checked; on SQLite the IMMEDIATE transaction holds the write lock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import override

from otdel.audit.services import record
from otdel.clients.models import Client
from otdel.core import clock
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.ownership.policy import PolicyInForce, policy_in_force
from otdel.people.models import Notification, Team

CLIENTS = Client._meta.db_table
EVENTS = OwnershipEvent._meta.db_table


@dataclass
class SweepResult:
    """What one sweep did, per team."""

    returned: int = 0
    warned: int = 0
    by_owner: dict[int, int] = field(default_factory=dict)


def _due_condition(
    policy: PolicyInForce, now: dt.datetime, *, horizon: dt.timedelta
) -> tuple[str, dict[str, Any]]:
    """SQL for "owned, unprotected, not excluded, and one of its clocks ran out by now+horizon"."""
    doc = policy.doc
    params: dict[str, Any] = {
        "now": now,
        "idle_cutoff": now + horizon - dt.timedelta(days=doc.return_after_idle_days),
        "protect_cutoff": now + horizon,
    }
    clocks = "activity_clock_at <= %(idle_cutoff)s"
    if doc.shipment_clock_enabled:
        params["ship_cutoff"] = now + horizon - dt.timedelta(days=doc.return_after_no_shipment_days)
        clocks = f"({clocks} OR shipment_clock_at <= %(ship_cutoff)s)"
    parts = [
        "team_id = %(team_id)s",
        "owner_id IS NOT NULL",
        "merged_into_id IS NULL",
        "(protected_until IS NULL OR protected_until <= %(protect_cutoff)s)",
        clocks,
    ]
    if doc.exclude_won:
        parts.append("is_won = %(false)s")
    if doc.exclude_locked:
        parts.append("is_locked = %(false)s")
    params["false"] = False
    return " AND ".join(parts), params


def _adapt(params: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as the backend stores them (SQLite keeps naive UTC text)."""
    return {
        k: connection.ops.adapt_datetimefield_value(v) if isinstance(v, dt.datetime) else v
        for k, v in params.items()
    }


def _reason(policy: PolicyInForce) -> tuple[str, str]:
    doc = policy.doc
    return (
        _("no qualifying work by the owner for %(n)s days") % {"n": doc.return_after_idle_days},
        _("no shipment for %(n)s days") % {"n": doc.return_after_no_shipment_days},
    )


def return_due_clients(team: Team, *, now: dt.datetime | None = None) -> SweepResult:
    """Return every client of the team whose clock ran out; one ledger row per client."""
    now = now or clock.now()
    policy = policy_in_force(team.pk, now)
    condition, params = _due_condition(policy, now, horizon=dt.timedelta(0))
    params["team_id"] = team.pk
    with override("ru"):
        idle_reason, ship_reason = _reason(policy)
    params.update(
        idle_reason=idle_reason,
        ship_reason=ship_reason,
        kind=EventKind.AUTO_RETURN,
        policy_id=policy.record.pk if policy.record else None,
        details=json.dumps({"policy_version": policy.version}),
    )
    params = _adapt(params)
    result = SweepResult()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            rows = _return_postgresql(condition, params)
        else:
            rows = _return_sqlite(condition, params)
        result.by_owner = dict(rows)
        result.returned = sum(result.by_owner.values())
        if result.returned:
            record(
                actor=None,
                verb="ownership.sweep",
                obj=team,
                data={
                    "returned": result.returned,
                    "policy_version": policy.version,
                    "by_owner": {str(k): v for k, v in result.by_owner.items()},
                },
            )
            _notify_owners(
                result.by_owner,
                kind="auto_return",
                now=now,
                text=_("%(n)s of your clients went back to the pool: no qualifying work in time."),
            )
    return result


def _return_postgresql(condition: str, params: dict[str, Any]) -> Iterable[tuple[int, int]]:
    sql = f"""
        WITH due AS (
            -- Locked rows cannot change owner before the UPDATE below; a row another sweep or
            -- a claim holds is skipped now and caught by the next run.
            SELECT id, owner_id, activity_clock_at <= %(idle_cutoff)s AS idle
            FROM {CLIENTS} WHERE {condition}
            FOR UPDATE SKIP LOCKED
        ), moved AS (
            UPDATE {CLIENTS} c SET owner_id = NULL, owned_since = NULL, protected_until = NULL,
                activity_clock_at = NULL, shipment_clock_at = NULL, return_warned_at = NULL,
                released_at = %(now)s, updated_at = %(now)s
            FROM due WHERE c.id = due.id
            RETURNING c.id, due.owner_id AS from_user_id, due.idle
        ), ev AS (
            INSERT INTO {EVENTS} (client_id, kind, at, from_user_id, to_user_id, actor_id,
                                  reason, policy_id, details)
            SELECT id, %(kind)s, %(now)s, from_user_id, NULL, NULL,
                   CASE WHEN idle THEN %(idle_reason)s ELSE %(ship_reason)s END,
                   %(policy_id)s, %(details)s::jsonb
            FROM moved
            RETURNING from_user_id
        )
        SELECT from_user_id, count(*) FROM ev GROUP BY from_user_id
    """
    with connection.cursor() as cursor:
        # The due ids are sorted to be joined back to the table; keep that sort in memory
        # (the default 4 MB spills 50,000 ids to disk). Local to this transaction.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _return_sqlite(condition: str, params: dict[str, Any]) -> Iterable[tuple[int, int]]:
    # The IMMEDIATE transaction holds the database's write lock: the two statements see the same
    # rows and no other writer can slip between them.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {EVENTS} (client_id, kind, at, from_user_id, to_user_id, actor_id,
                                  reason, policy_id, details)
            SELECT id, %(kind)s, %(now)s, owner_id, NULL, NULL,
                   CASE WHEN activity_clock_at <= %(idle_cutoff)s THEN %(idle_reason)s
                        ELSE %(ship_reason)s END,
                   %(policy_id)s, %(details)s
            FROM {CLIENTS} WHERE {condition}
            """,
            params,
        )
        if not cursor.rowcount:
            return []
        cursor.execute(
            f"SELECT owner_id, count(*) FROM {CLIENTS} WHERE {condition} GROUP BY owner_id",
            params,
        )
        counts = cursor.fetchall()
        cursor.execute(
            f"""
            UPDATE {CLIENTS} SET owner_id = NULL, owned_since = NULL, protected_until = NULL,
                activity_clock_at = NULL, shipment_clock_at = NULL, return_warned_at = NULL,
                released_at = %(now)s, updated_at = %(now)s
            WHERE {condition}
            """,
            params,
        )
        return counts


def warn_owners(team: Team, *, now: dt.datetime | None = None) -> SweepResult:
    """Warn owners K days before their clients return; each clock is warned about once."""
    now = now or clock.now()
    policy = policy_in_force(team.pk, now)
    horizon = dt.timedelta(days=policy.doc.warn_days_before)
    condition, params = _due_condition(policy, now, horizon=horizon)
    params.update(
        team_id=team.pk,
        kind=EventKind.WARNING,
        policy_id=policy.record.pk if policy.record else None,
        details=json.dumps(
            {"policy_version": policy.version, "warn_days_before": policy.doc.warn_days_before}
        ),
    )
    with override("ru"):
        params["reason"] = _(
            "returns to the pool within %(n)s days unless the owner works on it"
        ) % {"n": policy.doc.warn_days_before}
    condition += " AND return_warned_at IS NULL"
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    params = _adapt(params)
    result = SweepResult()
    with transaction.atomic(), connection.cursor() as cursor:
        # Mark first (the row lock / write lock makes a parallel sweep skip these rows), then
        # write the ledger rows for exactly the rows this run marked.
        cursor.execute(f"UPDATE {CLIENTS} SET return_warned_at = %(now)s WHERE {condition}", params)
        if not cursor.rowcount:
            return result
        cursor.execute(
            f"""
            INSERT INTO {EVENTS} (client_id, kind, at, from_user_id, to_user_id, actor_id,
                                  reason, policy_id, details)
            SELECT id, %(kind)s, %(now)s, owner_id, owner_id, NULL, %(reason)s, %(policy_id)s,
                   %(details)s{cast}
            FROM {CLIENTS}
            WHERE team_id = %(team_id)s AND return_warned_at = %(now)s AND owner_id IS NOT NULL
            """,
            params,
        )
        cursor.execute(
            f"""SELECT owner_id, count(*) FROM {CLIENTS}
                WHERE team_id = %(team_id)s AND return_warned_at = %(now)s
                  AND owner_id IS NOT NULL GROUP BY owner_id""",
            params,
        )
        result.by_owner = dict(cursor.fetchall())
        result.warned = sum(result.by_owner.values())
        _notify_owners(
            result.by_owner,
            kind="return_warning",
            now=now,
            text=_(
                "%(n)s of your clients will go back to the pool within %(days)s days unless you work "
                "on them."
            ).replace("%(days)s", str(policy.doc.warn_days_before)),
        )
    return result


def _notify_owners(by_owner: dict[int, int], *, kind: str, now: dt.datetime, text: str) -> None:
    """One notification per owner (not per client), written with the sweep."""
    Notification.objects.bulk_create(
        Notification(
            recipient_id=owner_id,
            kind=kind,
            text=text % {"n": count},
            url="/my-base/?sort=returns",
            created_at=now,
        )
        for owner_id, count in by_owner.items()
    )


def run_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Warn, then return, for every team. Safe to run twice at once or on two machines."""
    totals = {"warned": 0, "returned": 0}
    for team in Team.objects.all():
        totals["warned"] += warn_owners(team, now=now).warned
        totals["returned"] += return_due_clients(team, now=now).returned
    return totals
