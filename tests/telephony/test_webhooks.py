"""Cloud PBX webhooks: a signed finished call becomes one fact; anything else changes nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.urls import include, path

from otdel.activities.models import Call, CallDirection, CallDisposition
from otdel.clients.selectors import phone_calls_for
from otdel.core import clock
from otdel.telephony.models import PhoneAccount, WebhookDelivery, WebhookRateWindow
from otdel.telephony.providers import generic, mango, zadarma
from tests.factories import make_client

# The lead includes otdel.telephony.urls in config/urls.py the same way; the tests do not
# depend on it.
urlpatterns = [path("hooks/telephony/", include("otdel.telephony.urls"))]
pytestmark = pytest.mark.urls(__name__)

CLIENT_PHONE = "+74957770011"
UNKNOWN_PHONE = "+74959990099"
MANGO_KEY, MANGO_SALT = "mango-key-test", "mango-salt-test"
ZADARMA_SECRET = "zadarma-secret-test"
TOKEN = "generic-token-test"


@pytest.fixture
def pbx(settings, frozen_clock, team, head, manager):
    """Secrets for three sources, the manager's extension 101 on each, one client of his."""
    settings.OTDEL_MANGO_MANGO_API_KEY = MANGO_KEY
    settings.OTDEL_MANGO_MANGO_API_SALT = MANGO_SALT
    settings.OTDEL_ZADARMA_ZADARMA_SECRET = ZADARMA_SECRET
    settings.OTDEL_WEBHOOK_CRM_PBX_TOKEN = TOKEN
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    for source in ("mango", "zadarma", "crm-pbx"):
        PhoneAccount.objects.create(source=source, account="101", user=manager)
    client = make_client(head, team=team, owner=manager, phones=[CLIENT_PHONE])
    return client


def _unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


# --- Mango Office --------------------------------------------------------------------------


def _mango_summary(**over):
    now = clock.now()
    event = {
        "entry_id": "MTAxOjE2Mjk3",
        "call_direction": 2,
        "from": {"extension": "101", "number": "74950000101"},
        "to": {"number": "84957770011"},
        "line_number": "74950000100",
        "create_time": _unix(now - dt.timedelta(minutes=4)),
        "forward_time": 0,
        "talk_time": _unix(now - dt.timedelta(minutes=4) + dt.timedelta(seconds=10)),
        "end_time": _unix(now - dt.timedelta(minutes=1)),
        "entry_result": 1,
        "disconnect_reason": 1100,
    }
    event.update(over)
    return event


def _mango_post(client, event, *, path="events/summary", json_text=None, salt=MANGO_SALT):
    text = json_text if json_text is not None else json.dumps(event)
    form = {"vpbx_api_key": MANGO_KEY, "sign": mango.sign(MANGO_KEY, text, salt), "json": text}
    return client.post(
        f"/hooks/telephony/mango/mango/{path}",
        data=urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )


def test_mango_summary_becomes_a_call_of_the_manager_with_his_client(client, pbx, manager):
    response = _mango_post(client, _mango_summary())

    assert response.status_code == 200
    assert response.json()["created"] == 1
    call = Call.objects.get()
    assert (call.source, call.external_id) == ("mango", "MTAxOjE2Mjk3")
    assert call.user == manager and call.client == pbx
    assert call.direction == CallDirection.OUTBOUND
    assert call.disposition == CallDisposition.ANSWERED
    assert call.talk_seconds == 170 and call.ring_seconds == 10
    assert call.their_number == "84957770011" and call.account == "101"
    assert call.started_at == clock.now().replace(microsecond=0) - dt.timedelta(minutes=4)
    # On the client's timeline as itself: no copy of it is written as an activity.
    assert list(phone_calls_for(manager, pbx)) == [call] and call.activity is None
    assert "sign" not in call.raw and "vpbx_api_key" not in call.raw


def test_mango_inbound_missed_call_is_abandoned_and_belongs_to_the_ringing_extension(
    client, pbx, manager
):
    event = _mango_summary(
        call_direction=1,
        **{"from": {"number": "+74957770011"}, "to": {"extension": "101"}},
        talk_time=0,
        entry_result=0,
        disconnect_reason=1110,
    )
    assert _mango_post(client, event).status_code == 200

    call = Call.objects.get()
    assert call.direction == CallDirection.INBOUND
    assert call.disposition == CallDisposition.ABANDONED
    assert call.talk_seconds == 0 and call.user == manager and call.client == pbx


def test_mango_call_state_events_are_acknowledged_without_writing(client, pbx):
    event = {"entry_id": "MTAxOjE2Mjk3", "call_id": "x1", "call_state": "Appeared"}

    response = _mango_post(client, event, path="events/call")

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert not Call.objects.exists()


def test_mango_bad_signature_is_refused_and_writes_nothing(client, pbx):
    response = _mango_post(client, _mango_summary(), salt="guessed-salt")

    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert not Call.objects.exists()


def test_mango_event_changed_after_signing_is_refused(client, pbx):
    text = json.dumps(_mango_summary())
    form = {"vpbx_api_key": MANGO_KEY, "sign": mango.sign(MANGO_KEY, text, MANGO_SALT)}
    form["json"] = text.replace('"entry_result": 1', '"entry_result": 0')
    response = client.post(
        "/hooks/telephony/mango/mango/events/summary",
        data=urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 403
    assert not Call.objects.exists()


def test_mango_replayed_summary_changes_nothing(client, pbx):
    event = _mango_summary()
    _mango_post(client, event)
    before = list(Call.objects.values_list("id", "talk_seconds", "activity_id"))

    response = _mango_post(client, event)

    assert response.status_code == 200
    assert response.json()["created"] == 0 and response.json()["already_known"] == 1
    assert list(Call.objects.values_list("id", "talk_seconds", "activity_id")) == before


def test_mango_summary_from_long_ago_is_refused_as_stale(client, pbx):
    old = clock.now() - dt.timedelta(hours=2)
    event = _mango_summary(
        create_time=_unix(old), talk_time=_unix(old) + 5, end_time=_unix(old) + 200
    )

    response = _mango_post(client, event)

    assert response.status_code == 403
    assert response.json()["code"] == "stale"
    assert not Call.objects.exists()


def test_mango_malformed_json_is_a_400(client, pbx):
    response = _mango_post(client, None, json_text='{"entry_id": "x",')

    assert response.status_code == 400
    assert response.json()["code"] == "malformed"
    assert not Call.objects.exists()


def test_mango_summary_without_entry_id_is_a_422_naming_the_field(client, pbx):
    event = _mango_summary()
    del event["entry_id"]

    response = _mango_post(client, event)

    assert response.status_code == 422
    assert response.json()["code"] == "missing_field"
    assert response.json()["details"]["field"] == "entry_id"
    assert not Call.objects.exists()


def test_mango_call_to_an_unknown_number_is_stored_without_a_client(client, pbx, manager):
    response = _mango_post(client, _mango_summary(to={"number": UNKNOWN_PHONE}))

    assert response.status_code == 200
    assert response.json()["unknown_numbers"] == 1
    call = Call.objects.get()
    assert call.client is None and call.user == manager and call.activity is None


def test_mango_source_without_secrets_is_not_found(client, pbx):
    text = json.dumps(_mango_summary())
    response = client.post(
        "/hooks/telephony/mango/other/events/summary",
        data=urlencode({"vpbx_api_key": MANGO_KEY, "sign": "x", "json": text}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 404
    assert not Call.objects.exists()


# --- Zadarma --------------------------------------------------------------------------------


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(clock.MOSCOW).strftime("%Y-%m-%d %H:%M:%S")


def _zadarma_out_end(**over):
    fields = {
        "event": "NOTIFY_OUT_END",
        "call_start": _local(clock.now() - dt.timedelta(minutes=5)),
        "pbx_call_id": "out_7f3a9c1e",
        "caller_id": "74950000101",
        "destination": "84957770011",
        "internal": "101",
        "duration": "185",
        "disposition": "answered",
        "status_code": "16",
        "is_recorded": "1",
        "call_id_with_rec": "1732000000.123",
    }
    fields.update(over)
    return fields


def _zadarma_post(client, fields, *, secret=ZADARMA_SECRET, signature=None, **extra):
    sig = signature or zadarma.sign(zadarma.signing_string(fields), secret)
    return client.post(
        "/hooks/telephony/zadarma/zadarma/",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_SIGNATURE=sig,
        **extra,
    )


def test_zadarma_out_end_becomes_an_outbound_call_in_moscow_time(client, pbx, manager):
    fields = _zadarma_out_end()

    response = _zadarma_post(client, fields)

    assert response.status_code == 200
    assert response.json()["created"] == 1
    call = Call.objects.get()
    assert (call.source, call.external_id) == ("zadarma", "out_7f3a9c1e")
    assert call.user == manager and call.client == pbx
    assert call.direction == CallDirection.OUTBOUND
    assert call.disposition == CallDisposition.ANSWERED and call.talk_seconds == 185
    assert call.started_at == clock.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    assert call.raw["call_id_with_rec"] == "1732000000.123"


def test_zadarma_inbound_end_reads_the_caller_as_their_number(client, pbx, manager):
    fields = _zadarma_out_end(
        event="NOTIFY_END", caller_id="+74957770011", called_did="74950000100"
    )
    del fields["destination"]
    fields["disposition"] = "cancel"

    assert _zadarma_post(client, fields).status_code == 200

    call = Call.objects.get()
    assert call.direction == CallDirection.INBOUND
    assert call.disposition == CallDisposition.ABANDONED and call.talk_seconds == 0
    assert call.client == pbx and call.user == manager


def test_zadarma_accepts_a_signature_over_the_raw_digest_too(client, pbx):
    import base64
    import hashlib
    import hmac

    fields = _zadarma_out_end()
    text = zadarma.signing_string(fields)
    raw = hmac.new(ZADARMA_SECRET.encode(), text.encode(), hashlib.sha1).digest()

    response = _zadarma_post(client, fields, signature=base64.b64encode(raw).decode())

    assert response.status_code == 200 and Call.objects.count() == 1


def test_zadarma_start_events_are_acknowledged_without_writing(client, pbx):
    fields = {
        "event": "NOTIFY_OUT_START",
        "call_start": _local(clock.now()),
        "pbx_call_id": "out_7f3a9c1e",
        "internal": "101",
        "destination": "84957770011",
    }

    response = _zadarma_post(client, fields)

    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    assert not Call.objects.exists()


def test_zadarma_address_check_echoes_back(client, pbx):
    response = client.get("/hooks/telephony/zadarma/zadarma/", {"zd_echo": "abc123"})

    assert response.status_code == 200 and response.content == b"abc123"


def test_zadarma_bad_signature_is_refused_and_writes_nothing(client, pbx):
    response = _zadarma_post(client, _zadarma_out_end(), secret="guessed")

    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert not Call.objects.exists()


def test_zadarma_replayed_end_changes_nothing(client, pbx):
    fields = _zadarma_out_end()
    _zadarma_post(client, fields)

    response = _zadarma_post(client, fields)

    assert response.status_code == 200 and response.json()["already_known"] == 1
    assert Call.objects.count() == 1


def test_zadarma_signature_reused_for_another_call_id_is_refused(client, pbx):
    # call id, duration and result are not signed: a captured request must not mint new calls.
    _zadarma_post(client, _zadarma_out_end())
    forged = _zadarma_out_end(pbx_call_id="out_forged", duration="900")

    response = _zadarma_post(client, forged)

    assert response.status_code == 403 and response.json()["code"] == "replay"
    assert list(Call.objects.values_list("external_id", flat=True)) == ["out_7f3a9c1e"]


def test_zadarma_end_from_yesterday_is_refused_as_stale(client, pbx):
    fields = _zadarma_out_end(call_start=_local(clock.now() - dt.timedelta(days=1)))

    response = _zadarma_post(client, fields)

    assert response.status_code == 403 and response.json()["code"] == "stale"
    assert not Call.objects.exists()


def test_zadarma_malformed_json_is_a_400(client, pbx):
    response = client.post(
        "/hooks/telephony/zadarma/zadarma/",
        data='{"event": "NOTIFY_OUT_END", ',
        content_type="application/json",
        HTTP_SIGNATURE="x",
    )

    assert response.status_code == 400 and response.json()["code"] == "malformed"
    assert not Call.objects.exists()


def test_zadarma_end_without_call_id_is_a_422_naming_the_field(client, pbx):
    fields = _zadarma_out_end()
    del fields["pbx_call_id"]

    response = _zadarma_post(client, fields)

    assert response.status_code == 422
    assert response.json()["details"]["field"] == "pbx_call_id"
    assert not Call.objects.exists()


def test_zadarma_call_to_an_unknown_number_is_stored_without_a_client(client, pbx, manager):
    response = _zadarma_post(client, _zadarma_out_end(destination=UNKNOWN_PHONE))

    assert response.status_code == 200 and response.json()["unknown_numbers"] == 1
    call = Call.objects.get()
    assert call.client is None and call.user == manager


# --- the generic JSON webhook --------------------------------------------------------------


def _generic_call(**over):
    call = {
        "id": "crm-1001",
        "started_at": (clock.now() - dt.timedelta(minutes=10)).isoformat(),
        "direction": "out",
        "disposition": "answered",
        "talk_seconds": 210,
        "ring_seconds": 8,
        "account": "101",
        "their_number": "8 (495) 777-00-11",
        "recording_url": "https://pbx.example/rec/crm-1001.mp3",
    }
    call.update(over)
    return call


def _generic_post(client, payload, *, token=TOKEN, sent_at=None, body=None, **extra):
    raw = body if body is not None else json.dumps(payload).encode()
    timestamp = str(_unix(sent_at or clock.now()))
    return client.post(
        "/hooks/telephony/generic/crm-pbx/",
        data=raw,
        content_type="application/json",
        HTTP_X_OTDEL_TIMESTAMP=timestamp,
        HTTP_X_OTDEL_SIGNATURE=generic.sign(token, timestamp, raw),
        **extra,
    )


def test_generic_batch_becomes_calls_matched_to_people_and_clients(client, pbx, manager):
    payload = {"calls": [_generic_call(), _generic_call(id="crm-1002", their_number=UNKNOWN_PHONE)]}

    response = _generic_post(client, payload)

    assert response.status_code == 200
    assert response.json() == {
        "status": "stored",
        "created": 2,
        "already_known": 0,
        "unknown_numbers": 1,
    }
    known = Call.objects.get(external_id="crm-1001")
    assert known.source == "crm-pbx" and known.user == manager and known.client == pbx
    assert known.talk_seconds == 210 and known.recording_url.endswith("crm-1001.mp3")
    assert Call.objects.get(external_id="crm-1002").client is None


def test_generic_time_without_offset_is_read_in_moscow(client, pbx):
    local = (clock.now() - dt.timedelta(minutes=10)).astimezone(clock.MOSCOW)
    _generic_post(client, _generic_call(started_at=local.replace(tzinfo=None).isoformat()))

    assert Call.objects.get().started_at == local


def test_generic_bad_signature_is_refused_and_writes_nothing(client, pbx):
    response = _generic_post(client, _generic_call(), token="guessed")

    assert response.status_code == 403 and response.json()["code"] == "bad_signature"
    assert not Call.objects.exists()


def test_generic_replayed_request_changes_nothing(client, pbx):
    _generic_post(client, _generic_call())

    response = _generic_post(client, _generic_call())

    assert response.status_code == 200 and response.json()["already_known"] == 1
    assert Call.objects.count() == 1


def test_generic_request_signed_long_ago_is_refused_as_stale(client, pbx):
    response = _generic_post(client, _generic_call(), sent_at=clock.now() - dt.timedelta(hours=1))

    assert response.status_code == 403 and response.json()["code"] == "stale"
    assert not Call.objects.exists()


def test_generic_malformed_json_is_a_400(client, pbx):
    response = _generic_post(client, None, body=b'{"id": "crm-1", ')

    assert response.status_code == 400 and response.json()["code"] == "malformed"
    assert not Call.objects.exists()


def test_generic_missing_field_is_a_422_and_the_batch_writes_nothing(client, pbx):
    broken = _generic_call(id="crm-1002")
    del broken["started_at"]

    response = _generic_post(client, {"calls": [_generic_call(), broken]})

    assert response.status_code == 422
    assert response.json()["code"] == "missing_field"
    assert response.json()["details"]["field"] == "calls[1].started_at"
    assert not Call.objects.exists()


def test_generic_script_link_as_recording_is_refused(client, pbx):
    response = _generic_post(client, _generic_call(recording_url="javascript:alert(1)"))

    assert response.status_code == 422
    assert response.json()["details"]["field"] == "recording_url"
    assert not Call.objects.exists()


def test_generic_oversized_body_is_a_413(client, pbx, settings):
    settings.OTDEL_WEBHOOK_MAX_BYTES = 2000
    payload = {"calls": [_generic_call(id=f"crm-{n}") for n in range(20)]}

    response = _generic_post(client, payload)

    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert not Call.objects.exists()


def test_webhooks_need_no_csrf_token(pbx):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    response = _generic_post(strict, _generic_call())

    assert response.status_code == 200 and Call.objects.count() == 1


# --- durable replay memory ------------------------------------------------------------------


def test_zadarma_signature_reuse_is_refused_even_after_the_cache_is_flushed(client, pbx):
    # The memory is a table: a cache flush (or another app process) must not forget it.
    _zadarma_post(client, _zadarma_out_end())
    cache.clear()
    forged = _zadarma_out_end(pbx_call_id="out_forged", duration="900")

    response = _zadarma_post(client, forged)

    assert response.status_code == 403 and response.json()["code"] == "replay"
    assert list(Call.objects.values_list("external_id", flat=True)) == ["out_7f3a9c1e"]
    assert list(WebhookDelivery.objects.values_list("external_id", flat=True)) == ["out_7f3a9c1e"]


def test_zadarma_same_delivery_sent_again_after_a_flush_is_already_known(client, pbx):
    fields = _zadarma_out_end()
    _zadarma_post(client, fields)
    cache.clear()

    response = _zadarma_post(client, fields)

    assert response.status_code == 200
    assert response.json()["created"] == 0 and response.json()["already_known"] == 1
    assert Call.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_zadarma_refused_request_leaves_no_signature_behind(client, pbx):
    # A request refused for its content must not claim the signature for a call never stored.
    fields = _zadarma_out_end()
    del fields["disposition"]

    response = _zadarma_post(client, fields)

    assert response.status_code == 422
    assert not WebhookDelivery.objects.exists() and not Call.objects.exists()
    assert _zadarma_post(client, _zadarma_out_end()).status_code == 200


def test_mango_and_generic_replays_need_no_memory_and_write_none(client, pbx):
    # Both sign the whole event: a captured request replayed is the same call, already known.
    _mango_post(client, _mango_summary())
    _generic_post(client, _generic_call())
    cache.clear()

    mango_again = _mango_post(client, _mango_summary())
    generic_again = _generic_post(client, _generic_call())

    assert mango_again.json()["already_known"] == 1 and generic_again.json()["already_known"] == 1
    assert Call.objects.count() == 2
    assert not WebhookDelivery.objects.exists()


# --- rate limit -----------------------------------------------------------------------------


def test_over_the_per_address_limit_is_a_429_that_stores_nothing(client, pbx, settings):
    settings.OTDEL_WEBHOOK_RATE_PER_IP = 2
    assert _generic_post(client, _generic_call(id="crm-1")).status_code == 200
    assert _generic_post(client, _generic_call(id="crm-2")).status_code == 200
    cache.clear()  # the count lives in the database, shared by every app process

    response = _generic_post(client, _generic_call(id="crm-3"))

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert response.json()["message"] == "Слишком много запросов; повторите через 60 с."
    assert response["Retry-After"] == "60"
    assert set(Call.objects.values_list("external_id", flat=True)) == {"crm-1", "crm-2"}
    # The address is counted across sources: a Zadarma end from it is refused too, unwritten.
    assert _zadarma_post(client, _zadarma_out_end()).status_code == 429
    assert not Call.objects.filter(source="zadarma").exists()
    assert not WebhookDelivery.objects.exists()


def test_the_per_address_limit_counts_each_address_in_its_own_window(client, pbx, settings):
    settings.OTDEL_WEBHOOK_RATE_PER_IP = 1
    _generic_post(client, _generic_call(id="crm-1"))
    other_address = _generic_post(client, _generic_call(id="crm-3"), REMOTE_ADDR="10.0.0.7")

    assert _generic_post(client, _generic_call(id="crm-2")).status_code == 429
    assert other_address.status_code == 200
    clock.advance(dt.timedelta(seconds=60))
    assert _generic_post(client, _generic_call(id="crm-4")).status_code == 200
    assert set(Call.objects.values_list("external_id", flat=True)) == {"crm-1", "crm-3", "crm-4"}


def test_over_the_per_source_limit_is_a_429_whatever_the_address(client, pbx, settings):
    settings.OTDEL_WEBHOOK_RATE_PER_SOURCE = 2
    for number, address in enumerate(["10.0.0.1", "10.0.0.2"]):
        call = _generic_call(id=f"crm-{number}")
        assert _generic_post(client, call, REMOTE_ADDR=address).status_code == 200

    response = _generic_post(client, _generic_call(id="crm-9"), REMOTE_ADDR="10.0.0.3")

    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert not Call.objects.filter(external_id="crm-9").exists()
    # Another source has a budget of its own.
    assert _zadarma_post(client, _zadarma_out_end(), REMOTE_ADDR="10.0.0.3").status_code == 200


def test_a_limit_of_zero_turns_the_limit_off_and_counts_nothing(client, pbx, settings):
    settings.OTDEL_WEBHOOK_RATE_PER_IP = 0
    settings.OTDEL_WEBHOOK_RATE_PER_SOURCE = 0

    for number in range(3):
        assert _generic_post(client, _generic_call(id=f"crm-{number}")).status_code == 200

    assert Call.objects.count() == 3 and not WebhookRateWindow.objects.exists()


# --- address allow-list ---------------------------------------------------------------------


def test_a_source_with_an_allow_list_refuses_other_addresses_and_stores_nothing(
    client, pbx, settings
):
    settings.OTDEL_WEBHOOK_CRM_PBX_ALLOWED_IPS = "203.0.113.0/24, 2001:db8::/32"

    refused = _generic_post(client, _generic_call(), REMOTE_ADDR="198.51.100.5")

    assert refused.status_code == 403 and refused.json()["code"] == "forbidden_ip"
    assert refused.json()["message"] == (
        "Запросы с этого адреса для этой телефонии не принимаются."
    )
    assert not Call.objects.exists()
    assert _generic_post(client, _generic_call(), REMOTE_ADDR="2001:db8::5").status_code == 200
    assert Call.objects.count() == 1
    # Other sources keep no list: the same address is served there.
    assert _zadarma_post(client, _zadarma_out_end(), REMOTE_ADDR="198.51.100.5").status_code == 200


def test_forwarded_for_is_believed_only_from_our_own_proxy(client, pbx, settings):
    settings.OTDEL_ZADARMA_ZADARMA_ALLOWED_IPS = "192.0.2.0/24"
    fields = _zadarma_out_end()

    # Without a trusted proxy the header is the sender's own word.
    spoofed = _zadarma_post(
        client, fields, REMOTE_ADDR="198.51.100.5", HTTP_X_FORWARDED_FOR="192.0.2.42"
    )
    settings.OTDEL_WEBHOOK_TRUSTED_PROXIES = "127.0.0.1"
    # Behind our proxy the client is the address it appended; further left is the client's.
    forged_hop = _zadarma_post(client, fields, HTTP_X_FORWARDED_FOR="192.0.2.42, 198.51.100.5")

    assert spoofed.status_code == 403 and spoofed.json()["code"] == "forbidden_ip"
    assert forged_hop.status_code == 403 and forged_hop.json()["code"] == "forbidden_ip"
    assert not Call.objects.exists() and not WebhookDelivery.objects.exists()
    proxied = _zadarma_post(client, fields, HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.42")
    assert proxied.status_code == 200 and Call.objects.count() == 1


def test_an_unreadable_allow_list_lets_nobody_in(client, pbx, settings):
    # A typo must close the door, not open it to everyone.
    settings.OTDEL_MANGO_MANGO_ALLOWED_IPS = "192.0.2.0/33"

    response = _mango_post(client, _mango_summary())

    assert response.status_code == 403 and response.json()["code"] == "forbidden_ip"
    assert not Call.objects.exists()


# --- pruning --------------------------------------------------------------------------------


def _prune() -> str:
    out = io.StringIO()
    call_command("telephony_prune", stdout=out)
    return out.getvalue().strip()


def test_pruning_forgets_only_what_no_request_can_use_and_keeps_the_calls(client, pbx):
    # Defaults: the signature is kept for 2 × 15 min + 4 h = 4 h 30 min after it arrived.
    fields = _zadarma_out_end()
    _zadarma_post(client, fields)  # a signature and two counts, at 10:00
    clock.advance(dt.timedelta(hours=4, minutes=29))
    _generic_post(client, _generic_call())  # two counts in the current window

    assert _prune() == "deliveries=0 rate_windows=2"
    assert WebhookDelivery.objects.count() == 1
    assert WebhookRateWindow.objects.count() == 2

    clock.advance(dt.timedelta(minutes=2))
    assert _prune() == "deliveries=1 rate_windows=2"
    assert _prune() == "deliveries=0 rate_windows=0"  # idempotent
    assert not WebhookDelivery.objects.exists() and not WebhookRateWindow.objects.exists()
    assert Call.objects.count() == 2  # the facts stay
    # Once forgotten, the signature is too old to pass the freshness check anyway.
    forged = _zadarma_post(client, {**fields, "pbx_call_id": "out_forged", "duration": "900"})
    assert forged.status_code == 403 and forged.json()["code"] == "stale"
    assert not Call.objects.filter(external_id="out_forged").exists()


# --- races between app processes (threads, each on its own database connection) -------------


def _at_once(jobs):
    """Start all jobs at once (a barrier), each on its own database connection."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [], []

    def wrap(job):
        try:
            barrier.wait()
            results.append(job())
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return results


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_one_signature_racing_with_many_call_ids_mints_one_call(pbx):
    from django.test import Client

    fields = _zadarma_out_end()

    def post(number):
        forged = {**fields, "pbx_call_id": f"out_{number}"}
        return lambda: _zadarma_post(Client(), forged).status_code

    statuses = _at_once([post(n) for n in range(6)])

    assert sorted(statuses) == [200, 403, 403, 403, 403, 403]
    assert Call.objects.count() == 1 and WebhookDelivery.objects.count() == 1
    assert Call.objects.get().external_id == WebhookDelivery.objects.get().external_id


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_racing_requests_never_exceed_the_rate_limit(pbx, settings):
    from django.test import Client

    settings.OTDEL_WEBHOOK_RATE_PER_IP = 5

    def post(number):
        return lambda: _generic_post(Client(), _generic_call(id=f"crm-{number}")).status_code

    statuses = _at_once([post(n) for n in range(12)])

    assert sorted(statuses) == [200] * 5 + [429] * 7
    assert Call.objects.count() == 5
    assert WebhookRateWindow.objects.get(scope="ip").hits == 12
