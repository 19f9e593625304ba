"""Click-to-call: the AMI Originate rings the manager's extension, then the client's number; a
person without an extension or a PBX that does not answer gets a clear refusal, and nothing is
sent. The AMI peer is a tiny fake server of our own speaking the AMI protocol on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
from collections.abc import Iterator

import pytest
from django.test import Client as HttpClient
from django.urls import include, path

from config.urls import urlpatterns as project_urls
from otdel.activities.calls import record_calls
from otdel.activities.models import CallDirection, CallDisposition
from otdel.clients.models import ContactPhone
from otdel.core import clock
from otdel.core.errors import DomainError
from otdel.telephony import click_to_call
from otdel.telephony.models import PhoneAccount
from otdel.telephony.records import CallRecord
from tests.factories import make_client

urlpatterns = [*project_urls, path("", include("otdel.telephony.urls_ui"))]

SECRET = "fake-secret"


class FakeAmi:
    """An AMI peer: banner, Login (checks the secret), Originate (recorded, "queued")."""

    def __init__(self, *, secret: str = SECRET, originate_reply: str = "Success") -> None:
        self.secret = secret
        self.originate_reply = originate_reply
        self.actions: list[dict[str, list[str]]] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> asyncio.Server:
            server = await asyncio.start_server(self._session, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            return server

        self.server = self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        await writer.drain()
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                action: dict[str, list[str]] = {}
                for line in block.decode().split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        action.setdefault(key.lower(), []).append(value)
                self.actions.append(action)
                name = action.get("action", [""])[0].lower()
                action_id = action.get("actionid", [""])[0]
                if name == "login":
                    if action.get("secret") == [self.secret]:
                        reply = "Response: Success\r\nMessage: Authentication accepted"
                    else:
                        reply = "Response: Error\r\nMessage: Authentication failed"
                elif name == "originate":
                    message = (
                        "Originate successfully queued"
                        if self.originate_reply == "Success"
                        else "Extension does not exist."
                    )
                    reply = f"Response: {self.originate_reply}\r\nMessage: {message}"
                else:
                    reply = "Response: Success"
                writer.write(f"{reply}\r\nActionID: {action_id}\r\n\r\n".encode())
                await writer.drain()
                if name == "login" and "Error" in reply:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def originates(self) -> list[dict[str, list[str]]]:
        return [a for a in self.actions if a.get("action") == ["Originate"]]

    def __enter__(self) -> FakeAmi:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ami() -> Iterator[FakeAmi]:
    with FakeAmi() as server:
        yield server


@pytest.fixture
def ami_env(monkeypatch, settings, tmp_path):
    """The AMI settings from the environment, and a cache of this test's own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }

    def point_at(port: int) -> None:
        monkeypatch.setenv("OTDEL_ASTERISK_AMI_HOST", "127.0.0.1")
        monkeypatch.setenv("OTDEL_ASTERISK_AMI_PORT", str(port))
        monkeypatch.setenv("OTDEL_ASTERISK_AMI_USER", "crm")
        monkeypatch.setenv("OTDEL_ASTERISK_AMI_SECRET", SECRET)
        monkeypatch.setenv("OTDEL_ASTERISK_SOURCE", "office")

    return point_at


@pytest.fixture
def client_phone(head, manager, team) -> ContactPhone:
    client = make_client(
        head, team=team, owner=manager, phones=["8 (916) 123-45-67"], name="ООО Ромашка"
    )
    return ContactPhone.objects.get(client=client)


def test_place_call_rings_the_managers_extension_then_dials_the_client(
    ami, ami_env, manager, client_phone, frozen_clock
):
    ami_env(ami.port)
    PhoneAccount.objects.create(source="office", account="101", user=manager)

    request = click_to_call.place_call(client_phone.pk, actor=manager)

    [originate] = ami.originates()
    assert originate["channel"] == ["PJSIP/101"]
    assert originate["context"] == ["from-managers"]
    assert originate["exten"] == ["+79161234567"]
    assert originate["async"] == ["true"]
    assert originate["variable"] == [f"CRM_REQUEST_ID={request.request_id}"]
    assert originate["callerid"] == ['"+79161234567" <101>']
    assert request.account == "101" and request.client_id == client_phone.client_id
    # the dialling page finds the request again, for its owner only
    assert click_to_call.request_for(request.request_id, actor=manager) == request


def test_the_number_is_dialled_the_way_the_pbx_expects(
    ami, ami_env, manager, client_phone, monkeypatch
):
    ami_env(ami.port)
    monkeypatch.setenv("OTDEL_ASTERISK_DIAL_FORMAT", "{national}")
    monkeypatch.setenv("OTDEL_ASTERISK_ORIGINATE_CHANNEL", "Local/{account}@from-internal")
    PhoneAccount.objects.create(source="office", account="205", user=manager)

    click_to_call.place_call(client_phone.pk, actor=manager)

    [originate] = ami.originates()
    assert originate["exten"] == ["89161234567"]
    assert originate["channel"] == ["Local/205@from-internal"]


def test_manager_without_an_extension_is_refused_and_nothing_is_sent(
    ami, ami_env, manager, client_phone
):
    ami_env(ami.port)
    # an extension on another phone system does not count
    PhoneAccount.objects.create(source="elsewhere", account="101", user=manager)

    with pytest.raises(DomainError) as refused:
        click_to_call.place_call(client_phone.pk, actor=manager)

    assert refused.value.code == "no_phone_account"
    assert refused.value.status == 403
    assert ami.actions == []  # not even a login


def test_pbx_down_gives_a_clear_error(ami_env, manager, client_phone):
    ami_env(_free_port())  # nothing listens there
    PhoneAccount.objects.create(source="office", account="101", user=manager)

    with pytest.raises(DomainError) as refused:
        click_to_call.place_call(client_phone.pk, actor=manager)

    assert refused.value.code == "ami_unreachable"
    assert refused.value.status == 503
    assert "Телефония не отвечает" in refused.value.message  # Russian, the default


def test_wrong_ami_secret_is_reported_as_a_refused_login(
    ami_env, manager, client_phone, monkeypatch
):
    with FakeAmi(secret="something-else") as server:
        ami_env(server.port)
        PhoneAccount.objects.create(source="office", account="101", user=manager)
        with pytest.raises(DomainError) as refused:
            click_to_call.place_call(client_phone.pk, actor=manager)
        assert server.originates() == []
    assert refused.value.code == "ami_login_refused"


def test_pbx_refusing_the_originate_is_an_error(ami_env, manager, client_phone):
    with FakeAmi(originate_reply="Error") as server:
        ami_env(server.port)
        PhoneAccount.objects.create(source="office", account="101", user=manager)
        with pytest.raises(DomainError) as refused:
            click_to_call.place_call(client_phone.pk, actor=manager)
    assert refused.value.code == "ami_originate_refused"
    assert "Extension does not exist" in refused.value.message


def test_a_merged_away_or_unknown_phone_is_not_found(ami, ami_env, manager, client_phone):
    ami_env(ami.port)
    PhoneAccount.objects.create(source="office", account="101", user=manager)

    with pytest.raises(DomainError) as refused:
        click_to_call.place_call(client_phone.pk + 1000, actor=manager)

    assert refused.value.code == "phone_not_found"
    assert ami.actions == []


def test_missing_ami_credentials_refuse_with_a_setup_message(
    manager, client_phone, monkeypatch, ami_env
):
    ami_env(_free_port())
    monkeypatch.delenv("OTDEL_ASTERISK_AMI_SECRET")
    PhoneAccount.objects.create(source="office", account="101", user=manager)

    with pytest.raises(DomainError) as refused:
        click_to_call.place_call(client_phone.pk, actor=manager)

    assert refused.value.code == "ami_not_configured"


# --- the pages ----------------------------------------------------------------------------


def _record(started: dt.datetime, number: str, account: str = "101") -> CallRecord:
    return CallRecord(
        source="office",
        external_id=f"lab-{started.timestamp()}",
        started_at=started,
        direction=CallDirection.OUTBOUND,
        disposition=CallDisposition.ANSWERED,
        talk_seconds=40,
        ring_seconds=7,
        answered_at=started + dt.timedelta(seconds=7),
        ended_at=started + dt.timedelta(seconds=47),
        account=account,
        their_number=number,
    )


@pytest.mark.urls(__name__)
def test_button_shows_calling_then_redirects_to_the_card_once_the_call_arrives(
    ami, ami_env, manager, client_phone, frozen_clock
):
    ami_env(ami.port)
    PhoneAccount.objects.create(source="office", account="101", user=manager)
    http = HttpClient()
    http.force_login(manager)
    htmx = {"HTTP_HX_REQUEST": "true"}

    answer = http.post(f"/calls/dial/{client_phone.pk}/", **htmx)
    assert answer.status_code == 200
    assert 'data-testid="dialing"' in answer.content.decode()
    request_id = ami.originates()[0]["variable"][0].split("=", 1)[1]
    status_url = f"/calls/dial/{request_id}/status/"

    # an older call to the same client, before the click, is not this one
    record_calls([_record(clock.now() - dt.timedelta(minutes=10), "+79161234567")])
    waiting = http.get(status_url, **htmx)
    assert "HX-Redirect" not in waiting and 'hx-trigger="every 2s"' in waiting.content.decode()

    clock.advance(dt.timedelta(seconds=50))
    result = record_calls([_record(clock.now() - dt.timedelta(seconds=48), "89161234567")])
    done = http.get(status_url, **htmx)
    assert done["HX-Redirect"] == f"/calls/{result.call_ids[0]}/card/"

    # another person cannot follow someone else's request
    other = HttpClient()
    from otdel.people.models import Role
    from tests.factories import make_user

    other.force_login(make_user(Role.HUNTER, team=manager.team, username="stranger"))
    assert other.get(status_url, **htmx).status_code == 404


@pytest.mark.urls(__name__)
def test_refusal_shows_the_message_in_place_of_the_button(ami, ami_env, manager, client_phone):
    ami_env(ami.port)
    http = HttpClient()
    http.force_login(manager)

    answer = http.post(f"/calls/dial/{client_phone.pk}/", HTTP_HX_REQUEST="true")

    assert 'data-code="no_phone_account"' in answer.content.decode()
    assert ami.actions == []


@pytest.mark.urls(__name__)
def test_without_javascript_the_button_leads_to_a_calling_page(ami, ami_env, manager, client_phone):
    ami_env(ami.port)
    PhoneAccount.objects.create(source="office", account="101", user=manager)
    http = HttpClient()
    http.force_login(manager)

    answer = http.post(f"/calls/dial/{client_phone.pk}/", follow=True)

    assert answer.status_code == 200
    assert 'data-testid="dialing"' in answer.content.decode()
    assert len(ami.originates()) == 1
