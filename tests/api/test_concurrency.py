"""200 concurrent claims through HTTP: 20 people × 10 claims over 50 pool clients.

Afterwards nobody owns a client twice, nobody passes his cap or the daily limit, every 200 has
exactly one ledger CLAIM event (and every CLAIM event a 200), every refusal is a 409 with a code.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest

from otdel.clients.models import Client
from otdel.core import clock
from otdel.ownership import services as ownership
from otdel.ownership.models import EventKind, OwnershipEvent
from otdel.people.models import Role
from otdel.people.services import issue_api_token
from tests.factories import make_client, make_head, make_team, make_user

PEOPLE = 20
CLAIMS_EACH = 10
POOL = 50
DAILY_LIMIT = 3
SMALL_CAP = 2
REFUSALS = {"already_owned", "already_yours", "over_cap", "daily_limit", "owner_changed"}


def _claim(base_url: str, token: str, client_id: int) -> tuple[int, dict]:
    req = urllib.request.Request(  # noqa: S310 (the local live server)
        f"{base_url}/api/clients/{client_id}/claim",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as response:  # noqa: S310 (local server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_claims_over_http_keep_every_rule(live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    team = make_team("Конкуренция")
    head = make_head(team)
    ownership.publish_policy(
        team.pk,
        document={"daily_claim_limit": DAILY_LIMIT, "cooldown_days": 0},
        effective_from=clock.now(),
        actor=head,
    )
    # Half the people have a small personal cap (some of them already own a client), so both
    # the cap and the daily limit refuse some claims.
    people = [
        make_user(Role.HUNTER, team=team, cap=SMALL_CAP if i % 2 else None) for i in range(PEOPLE)
    ]
    for person in people[1:8:2]:
        make_client(head, team=team, owner=person)
    pool_ids = [make_client(head, team=team).pk for _ in range(POOL)]
    tokens = {p.pk: issue_api_token(p, name="load")[1] for p in people}
    owned_before = Counter(
        Client.objects.filter(owner__isnull=False).values_list("owner_id", flat=True)
    )

    results: list[tuple[int, int, int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(PEOPLE)

    def worker(person_id: int, seed: int) -> None:
        rnd = random.Random(seed)
        targets = [rnd.choice(pool_ids) for _ in range(CLAIMS_EACH)]
        start.wait()
        for client_id in targets:
            status, body = _claim(live_server.url, tokens[person_id], client_id)
            with lock:
                results.append((person_id, client_id, status, body))

    threads = [threading.Thread(target=worker, args=(p.pk, i)) for i, p in enumerate(people)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == PEOPLE * CLAIMS_EACH

    # Every answer is a success or a 409 with a known code.
    codes = Counter(body.get("code") for _, _, status, body in results if status != 200)
    assert all(status in (200, 409) for _, _, status, _ in results), Counter(
        s for _, _, s, _ in results
    )
    assert set(codes) <= REFUSALS, codes
    # The run exercised the rules it is meant to check.
    assert codes["over_cap"] > 0 and codes["daily_limit"] > 0 and codes["already_owned"] > 0

    wins = [(person, client) for person, client, status, _ in results if status == 200]
    claims = list(
        OwnershipEvent.objects.filter(kind=EventKind.CLAIM).values_list("to_user_id", "client_id")
    )
    # Every 200 has exactly one CLAIM event and every CLAIM event a 200.
    assert sorted(wins) == sorted(claims)
    # No client was claimed twice, and each claimed client is owned by its one claimer.
    per_client = Counter(client for _, client in claims)
    assert max(per_client.values()) == 1
    owners = dict(Client.objects.filter(pk__in=pool_ids).values_list("pk", "owner_id"))
    for person, client in claims:
        assert owners[client] == person
    assert {c for c, o in owners.items() if o is not None} == set(per_client)

    # Nobody passed his cap or the daily limit.
    owned_after = Counter(
        Client.objects.filter(owner__isnull=False).values_list("owner_id", flat=True)
    )
    claimed_by = Counter(person for person, _ in claims)
    for person in people:
        cap = person.client_cap if person.client_cap is not None else 200
        assert owned_after[person.pk] <= cap
        assert claimed_by[person.pk] <= DAILY_LIMIT
        assert owned_after[person.pk] == owned_before[person.pk] + claimed_by[person.pk]
