"""Call pages: the log shows a person his calls and the head the team's; the post-call card is
the caller's; unknown numbers are for operators; the head edits the call policy."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import NoReverseMatch, include, path, reverse
from django.utils import translation
from django.utils.html import escape

import config.urls
from otdel.activities.call_policy import EffectiveCallPolicyDocument
from otdel.activities.models import Call, CallOutcome, EffectiveCallPolicy
from otdel.activities.verdicts import classify_calls, reasons_of
from otdel.activities.views import DESCRIPTION_MSGIDS
from otdel.core import clock
from otdel.people.models import Role
from tests.activities.calls import make_call
from tests.factories import make_client, make_user

# Until the lead includes otdel.activities.urls in config/urls.py, the tests mount it here.
try:
    reverse("activities:call_log")
    urlpatterns = config.urls.urlpatterns
except NoReverseMatch:
    urlpatterns = [*config.urls.urlpatterns, path("", include("otdel.activities.urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _call(user, client=None, **kw):
    call = make_call(user=user, client=client, at=clock.now() - dt.timedelta(minutes=5), **kw)
    classify_calls([call.pk])
    return call


def test_the_log_shows_a_manager_only_his_calls(client, head, manager, other_manager, frozen_clock):
    mine = _call(manager, make_client(head, owner=manager, name="ООО Мой"))
    _call(other_manager, make_client(head, owner=other_manager, name="ООО Чужой"))
    client.force_login(manager)
    page = client.get("/calls/").content.decode()
    assert "ООО Мой" in page
    assert "ООО Чужой" not in page
    assert f'data-call="{mine.pk}"' in page


def test_the_log_shows_the_head_the_teams_calls_and_filters_by_person(
    client, head, manager, other_manager, frozen_clock
):
    _call(manager, make_client(head, owner=manager, name="ООО Мой"))
    _call(other_manager, make_client(head, owner=other_manager, name="ООО Чужой"))
    client.force_login(head)
    page = client.get("/calls/").content.decode()
    assert "ООО Мой" in page and "ООО Чужой" in page
    only = client.get(f"/calls/?person={manager.pk}").content.decode()
    assert "ООО Мой" in only and "ООО Чужой" not in only


def test_the_log_shows_the_verdict_the_reason_and_a_player(client, head, manager, frozen_clock):
    short = _call(manager, make_client(head, owner=manager), talk=95)
    Call.objects.filter(pk=short.pk).update(recording_url="https://pbx.example/rec/1.mp3")
    client.force_login(manager)
    page = client.get("/calls/?effective=no").content.decode()
    short.refresh_from_db()
    with translation.override("ru"):  # the UI's default language
        reason = reasons_of(short)[0].text
    assert "95" in reason
    assert escape(reason) in page
    assert '<audio controls preload="none" src="https://pbx.example/rec/1.mp3"' in page
    assert "badge-muted" in page
    assert f'data-call="{short.pk}"' not in client.get("/calls/?effective=yes").content.decode()


def test_the_caller_marks_the_required_outcome_on_the_card(client, head, manager, frozen_clock):
    from otdel.activities.call_policy_services import publish_call_policy

    publish_call_policy(
        head.team_id,
        document={"required_outcomes": ["decision_maker_reached"]},
        effective_from=clock.now(),
        actor=head,
    )
    owned = make_client(head, owner=manager)
    clock.advance(dt.timedelta(minutes=10))
    call = _call(manager, owned)
    client.force_login(manager)
    assert client.get(f"/calls/{call.pk}/card/").status_code == 200
    response = client.post(
        f"/calls/{call.pk}/card/", {"outcomes": ["decision_maker_reached"]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'data-testid="call-card"' in response.content.decode()
    call.refresh_from_db()
    assert call.effective is True


def test_another_person_gets_404_on_the_card_and_nothing_changes(
    client, head, manager, other_manager, frozen_clock
):
    call = _call(manager, make_client(head, owner=manager))
    for stranger in (other_manager, head):
        client.force_login(stranger)
        assert client.get(f"/calls/{call.pk}/card/").status_code == 404
        response = client.post(f"/calls/{call.pk}/card/", {"outcomes": ["email_obtained"]})
        assert response.status_code == 404
    assert not CallOutcome.objects.filter(call=call).exists()


def test_unknown_numbers_page_is_404_for_a_manager(client, manager, frozen_clock):
    client.force_login(manager)
    assert client.get("/calls/unknown/").status_code == 404
    assert client.post("/calls/unknown/resolve/", {"e164": "+74957770011"}).status_code == 404


def test_the_operator_attaches_a_number_from_the_page(client, head, manager, frozen_clock):
    target = make_client(head, owner=manager, name="ООО Находка")
    call = make_call(user=manager, at=clock.now() - dt.timedelta(hours=1))
    Call.objects.filter(pk=call.pk).update(their_e164="+74957770011", their_number="84957770011")
    operator = make_user(Role.DB_OPERATOR, team=head.team)
    client.force_login(operator)
    page = client.get("/calls/unknown/").content.decode()
    assert "+74957770011" in page or "777-00-11" in page
    choices = client.get("/calls/unknown/clients/?q=Находка").content.decode()
    contact = target.contacts.first()
    assert f'value="contact:{contact.pk}"' in choices
    response = client.post(
        "/calls/unknown/resolve/", {"e164": "+74957770011", "target": f"contact:{contact.pk}"}
    )
    assert response.status_code == 302
    call.refresh_from_db()
    assert call.client_id == target.pk
    page = client.get(f"/clients/{target.pk}/").content.decode()
    assert f'data-call="{call.pk}"' in page  # now on the client's timeline


def test_only_the_head_opens_the_call_policy_editor(client, manager, head, frozen_clock):
    client.force_login(manager)
    assert client.get("/head/call-policy/").status_code == 404
    client.force_login(head)
    page = client.get("/head/call-policy/").content.decode()
    assert 'name="min_talk_seconds"' in page


def test_the_head_publishes_a_call_policy_version(client, head, frozen_clock):
    client.force_login(head)
    data = {
        "min_talk_seconds": "90",
        "counted_directions": ["out"],
        "phone_system_only": "on",
        "client_scope": "own_base_or_pool",
        "required_outcomes": ["decision_maker_reached"],
        "once_per_client_days": "1",
        "inbound_callback_max_age_days": "3",
        "inbound_callback_horizon_days": "30",
        "stale_callbacks": "separate",
        "effective_from": clock.today().isoformat(),
        "comment": "короче звонки",
    }
    response = client.post("/head/call-policy/", data)
    assert response.status_code == 302
    version = EffectiveCallPolicy.objects.get(team=head.team)
    assert version.document["min_talk_seconds"] == 90
    assert version.document["required_outcomes"] == ["decision_maker_reached"]


def test_an_invalid_policy_shows_errors_and_publishes_nothing(client, head, frozen_clock):
    client.force_login(head)
    data = {
        "min_talk_seconds": "-5",
        "counted_directions": ["out"],
        "client_scope": "own_base",
        "once_per_client_days": "1",
        "inbound_callback_max_age_days": "3",
        "inbound_callback_horizon_days": "30",
        "stale_callbacks": "exclude",
        "effective_from": clock.today().isoformat(),
    }
    response = client.post("/head/call-policy/", data)
    assert response.status_code == 200
    assert 'data-testid="error-min_talk_seconds"' in response.content.decode()
    assert not EffectiveCallPolicy.objects.exists()


def test_every_policy_field_label_is_listed_for_translation():
    descriptions = {i.description for i in EffectiveCallPolicyDocument.model_fields.values()}
    assert descriptions == set(DESCRIPTION_MSGIDS)
