"""The calls API: the log with verdicts, outcomes, bulk records, unknown numbers and the call
policy, with who may do what; bad input is a 422 and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import NoReverseMatch, path, reverse

import config.urls
from otdel.activities.models import Call, CallOutcome, EffectiveCallPolicy
from otdel.activities.verdicts import classify_calls
from otdel.api import calls as calls_api
from otdel.core import clock
from otdel.people.models import Role
from tests.activities.calls import make_call
from tests.factories import make_client, make_user

# Until the lead registers the router in otdel/api/main.py, the tests mount it on an API of
# their own with the same auth and error handling.
try:
    reverse("api:list_calls")
    urlpatterns = config.urls.urlpatterns
except NoReverseMatch:
    from otdel.api import errors
    from otdel.api.auth import AUTH
    from otdel.api.main import OtdelAPI

    _api = OtdelAPI(title="calls (tests)", urls_namespace="api_calls_tests", auth=AUTH)
    errors.install(_api)
    _api.add_router("", calls_api.router)
    urlpatterns = [path("api/", _api.urls), *config.urls.urlpatterns]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

NUMBER = "+74957770011"


def _call(user, client=None, **kw):
    call = make_call(user=user, client=client, at=clock.now() - dt.timedelta(minutes=5), **kw)
    classify_calls([call.pk])
    return call


def _record(n: int, **kw):
    return {
        "source": "crm-x",
        "external_id": f"x-{n}",
        "started_at": "2026-11-18T09:00:00+03:00",
        "direction": "out",
        "disposition": "answered",
        "talk_seconds": 200,
        "their_number": "8 (495) 777-00-11",
        **kw,
    }


def test_anonymous_gets_401_everywhere(api_as, team, frozen_clock):
    anon = api_as(None)
    assert anon.get("/api/calls").status_code == 401
    assert anon.get("/api/calls/1").status_code == 401
    assert anon.post("/api/calls/bulk", {"calls": [_record(1)]}).status_code == 401
    assert anon.post("/api/calls/1/outcomes", {"outcomes": []}).status_code == 401
    assert anon.get("/api/unknown-numbers").status_code == 401
    assert anon.get(f"/api/teams/{team.pk}/call-policy").status_code == 401
    assert not Call.objects.exists()


def test_a_manager_lists_his_calls_the_head_the_teams(
    api_as, head, manager, other_manager, frozen_clock
):
    mine = _call(manager, make_client(head, owner=manager))
    theirs = _call(other_manager, make_client(head, owner=other_manager))
    as_manager = api_as(manager)
    assert [c["id"] for c in as_manager.get("/api/calls").data["items"]] == [mine.pk]
    assert as_manager.get("/api/calls?scope=team").status_code == 403
    team = api_as(head).get("/api/calls?scope=team").data["items"]
    assert {c["id"] for c in team} == {mine.pk, theirs.pk}
    one = api_as(head).get(f"/api/calls?scope=team&user_id={other_manager.pk}").data["items"]
    assert [c["id"] for c in one] == [theirs.pk]


def test_a_call_carries_its_reasons_in_the_request_language(api_as, head, manager, frozen_clock):
    call = _call(manager, make_client(head, owner=manager), talk=95)
    body = api_as(manager, language="en").get(f"/api/calls/{call.pk}").data
    assert body["effective"] is False
    assert body["reasons"][0]["code"] == "talk_time"
    assert "talk time 95 s" in body["reasons"][0]["text"]


def test_another_persons_call_is_404(api_as, head, manager, other_manager, frozen_clock):
    call = _call(manager, make_client(head, owner=manager))
    assert api_as(other_manager).get(f"/api/calls/{call.pk}").status_code == 404
    response = api_as(other_manager).post(
        f"/api/calls/{call.pk}/outcomes", {"outcomes": ["email_obtained"]}
    )
    assert response.status_code == 404
    assert not CallOutcome.objects.exists()


def test_the_caller_marks_outcomes(api_as, head, manager, frozen_clock):
    call = _call(manager, make_client(head, owner=manager))
    response = api_as(manager).post(
        f"/api/calls/{call.pk}/outcomes", {"outcomes": ["decision_maker_reached"]}
    )
    assert response.status_code == 200
    assert [o["kind"] for o in response.data["outcomes"]] == ["decision_maker_reached"]
    bad = api_as(manager).post(f"/api/calls/{call.pk}/outcomes", {"outcomes": ["coffee"]})
    assert bad.status_code == 422
    assert CallOutcome.objects.filter(call=call).count() == 1


def test_bulk_records_are_for_the_head_and_idempotent(api_as, head, manager, frozen_clock):
    assert api_as(manager).post("/api/calls/bulk", {"calls": [_record(1)]}).status_code == 403
    assert not Call.objects.exists()
    as_head = api_as(head)
    first = as_head.post("/api/calls/bulk", {"calls": [_record(1), _record(2)]})
    assert first.status_code == 200
    assert (first.data["created"], first.data["unknown_numbers"]) == (2, 2)
    again = as_head.post("/api/calls/bulk", {"calls": [_record(1)]})
    assert (again.data["created"], again.data["already_known"]) == (0, 1)
    assert Call.objects.count() == 2


def test_a_bad_record_rejects_the_whole_batch(api_as, head, frozen_clock):
    naive = _record(2, started_at="2026-11-18T09:00:00")
    response = api_as(head).post("/api/calls/bulk", {"calls": [_record(1), naive]})
    assert response.status_code == 422
    assert response.data["code"] == "validation_error"
    bad_direction = api_as(head).post("/api/calls/bulk", {"calls": [_record(3, direction="up")]})
    assert bad_direction.status_code == 422
    assert not Call.objects.exists()


def test_unknown_numbers_for_operators_only(api_as, head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    clock.advance(dt.timedelta(hours=3))
    call = make_call(user=manager, at=clock.now() - dt.timedelta(hours=1))
    Call.objects.filter(pk=call.pk).update(their_e164=NUMBER, their_number="84957770011")
    assert api_as(manager).get("/api/unknown-numbers").status_code == 404
    denied = api_as(manager).post(
        "/api/unknown-numbers/resolve",
        {"e164": NUMBER, "contact_id": client.contacts.first().pk},
    )
    assert denied.status_code == 403
    operator = make_user(Role.DB_OPERATOR, team=head.team)
    as_operator = api_as(operator)
    listed = as_operator.get("/api/unknown-numbers").data["items"]
    assert [(r["e164"], r["calls"]) for r in listed] == [(NUMBER, 1)]
    done = as_operator.post(
        "/api/unknown-numbers/resolve", {"e164": NUMBER, "contact_id": client.contacts.first().pk}
    )
    assert done.status_code == 200
    assert done.data["calls_matched"] == 1
    call.refresh_from_db()
    assert call.client_id == client.pk and call.effective is True


def test_resolve_with_bad_input_is_422_and_writes_nothing(api_as, head, manager, frozen_clock):
    client = make_client(head, owner=manager)
    as_head = api_as(head)
    assert as_head.post("/api/unknown-numbers/resolve", {"e164": NUMBER}).status_code == 422
    bad = as_head.post(
        "/api/unknown-numbers/resolve", {"e164": "12345", "contact_id": client.contacts.first().pk}
    )
    assert bad.status_code == 422
    assert client.contacts.first().phones.count() == 1


def test_the_call_policy_is_read_by_all_and_published_by_the_head(
    api_as, team, head, manager, frozen_clock
):
    read = api_as(manager).get(f"/api/teams/{team.pk}/call-policy")
    assert read.status_code == 200
    assert read.data["version_in_force"] == 0 and read.data["can_edit"] is False
    body = {"document": {"min_talk_seconds": 90}, "comment": "короче"}
    assert api_as(manager).post(f"/api/teams/{team.pk}/call-policy", body).status_code == 403
    assert not EffectiveCallPolicy.objects.exists()
    published = api_as(head).post(f"/api/teams/{team.pk}/call-policy", body)
    assert published.status_code == 201
    assert published.data["version_in_force"] == 1
    assert published.data["document"]["min_talk_seconds"] == 90
    bad = api_as(head).post(
        f"/api/teams/{team.pk}/call-policy", {"document": {"min_talk_seconds": -1}}
    )
    assert bad.status_code == 422
    assert EffectiveCallPolicy.objects.count() == 1
    assert api_as(head).get("/api/teams/99999/call-policy").status_code == 404


def test_each_call_in_the_log_names_the_version_that_judged_it_without_a_query_per_call(
    api_as, team, head, manager, frozen_clock, django_assert_max_num_queries
):
    from otdel.activities.call_policy import EffectiveCallPolicyDocument
    from otdel.activities.call_policy_services import publish_call_policy

    client = make_client(head, owner=manager)

    def judged_call_now():
        call = make_call(user=manager, client=client, at=clock.now())
        classify_calls([call.pk])
        return call

    publish_call_policy(
        team.pk, document=EffectiveCallPolicyDocument(), effective_from=clock.now(), actor=head
    )
    clock.advance(dt.timedelta(hours=1))
    older = judged_call_now()  # judged under version 1
    clock.advance(dt.timedelta(minutes=1))
    publish_call_policy(
        team.pk,
        document=EffectiveCallPolicyDocument(min_talk_seconds=60),
        effective_from=clock.now(),
        actor=head,
    )
    clock.advance(dt.timedelta(hours=1))
    newer = judged_call_now()  # under version 2
    for _ in range(5):
        clock.advance(dt.timedelta(minutes=1))
        judged_call_now()
    as_manager = api_as(manager)
    with django_assert_max_num_queries(6):
        items = as_manager.get("/api/calls?page_size=50").data["items"]
    versions = {c["id"]: c["policy_version"] for c in items}
    assert versions[older.pk] == 1 and versions[newer.pk] == 2
    assert as_manager.get(f"/api/calls/{newer.pk}").data["policy_version"] == 2
