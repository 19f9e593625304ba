"""The e-mail channel end to end, against real servers on loopback (aiosmtpd delivering into
Maildirs, dovecot serving them over IMAP): a message becomes a request, a reply in its thread
joins it, a re-read changes nothing, files are kept, robots are ignored, Russian charsets
decode, the customer gets the acknowledgement and the assignee's answer in his mailbox."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from otdel.audit.models import AuditEvent
from otdel.core import clock
from otdel.core.errors import Forbidden, Invalid
from otdel.inbound import mail
from otdel.inbound.models import (
    Channel,
    EventKind,
    InboundRequest,
    Mailbox,
    RequestAttachment,
    RequestEvent,
    RequestMessage,
)
from otdel.inbound.services import publish_routing_policy
from otdel.people.models import Notification
from tests.factories import make_client
from tests.inbound.mailservers import MailServers, free_port, mail_servers

__all__ = ["mail_servers"]

_env = itertools.count(1)


@pytest.fixture
def servers(settings, mail_servers: MailServers, tmp_path: Path) -> MailServers:
    """Outgoing mail through the loopback SMTP server; the IMAP server's certificate trusted;
    files under a temporary media root; tasks run at once."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = mail_servers.smtp_port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "Отдел продаж <noreply@otdel.test>"
    settings.OTDEL_EMAIL_MESSAGE_ID_DOMAIN = ""
    settings.OTDEL_INBOUND_MAIL_CAFILE = str(mail_servers.cafile)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    return mail_servers


def _connect_box(
    servers: MailServers, team, head, monkeypatch, *, use_ssl: bool = False
) -> Mailbox:
    address, password = servers.account("sales", "otdel.test")
    variable = f"OTDEL_TEST_MAILBOX_{next(_env)}_PASSWORD"
    monkeypatch.setenv(variable, password)
    return mail.add_mailbox(
        team.pk,
        actor=head,
        address=address,
        host="127.0.0.1",
        port=servers.imaps_port if use_ssl else servers.imap_port,
        use_ssl=use_ssl,
        username=address,
        password_env=variable,
    )


@pytest.fixture
def inbox(servers, team, head, monkeypatch, frozen_clock) -> Mailbox:
    """The team's inbound mailbox (plain IMAP upgraded by STARTTLS), password in the env."""
    return _connect_box(servers, team, head, monkeypatch)


@pytest.fixture
def customer(servers) -> str:
    """A customer's address with a mailbox of its own (to read what we send him)."""
    return servers.account("buyer", "example.ru")[0]


def letter(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="example.ru")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


def send(
    servers: MailServers, msg: EmailMessage | bytes, to: str, mail_from: str = "x@example.ru"
) -> None:
    servers.send(msg, mail_from=mail_from, to=[to])


def test_a_message_to_the_inbound_mailbox_becomes_a_request_of_the_known_client(
    servers, inbox, customer, team, head, manager
):
    client = make_client(head, team=team, owner=manager, email=customer, name="ООО Насосы")
    msg = letter(
        f"Пётр Сидоров <{customer}>", inbox.address, "Нужен насос", "Пришлите цену на НШ-32."
    )
    send(servers, msg, inbox.address)

    assert mail.poll_mailbox(inbox) == 1

    request = InboundRequest.objects.get()
    assert request.channel == Channel.EMAIL
    assert request.external_id == msg["Message-ID"]
    assert (request.name, request.email) == ("Пётр Сидоров", customer)
    assert request.subject == "Нужен насос"
    assert request.message == "Пришлите цену на НШ-32."
    assert request.team_id == team.pk
    assert request.client_id == client.pk
    # The client's owner is on shift: owner first.
    assert request.assignee_id == manager.pk
    inbox.refresh_from_db()
    assert inbox.last_uid == 1 and inbox.uid_validity and inbox.last_error == ""
    assert inbox.last_polled_at is not None


def test_a_reply_in_the_same_thread_joins_the_request_and_a_reread_changes_nothing(
    servers, inbox, customer
):
    first = letter(customer, inbox.address, "Запрос", "Нужны 10 фильтров.")
    send(servers, first, inbox.address)
    mail.poll_mailbox(inbox)
    request = InboundRequest.objects.get()

    # A colleague of the customer answers in the thread from another address: the headers,
    # not the address, put it in the request.
    answer = letter(
        "Коллега <colleague@other.ru>",
        inbox.address,
        "Re: Запрос",
        "И ещё 5 штук.",
        in_reply_to=first["Message-ID"],
    )
    send(servers, answer, inbox.address)
    assert mail.poll_mailbox(inbox) == 1

    assert InboundRequest.objects.count() == 1
    joined = RequestMessage.objects.get(request=request, message_id=answer["Message-ID"])
    assert joined.body == "И ещё 5 штук." and joined.incoming
    assert RequestEvent.objects.filter(request=request, kind=EventKind.JOINED).count() == 1

    # Polling again reads nothing new; reading the whole folder again (as after a crash before
    # the position was saved) stores nothing twice.
    assert mail.poll_mailbox(inbox) == 0
    Mailbox.objects.filter(pk=inbox.pk).update(last_uid=0)
    inbox.refresh_from_db()
    assert mail.poll_mailbox(inbox) == 0
    assert InboundRequest.objects.count() == 1
    assert RequestMessage.objects.filter(request=request).count() == 2
    assert RequestEvent.objects.filter(request=request, kind=EventKind.JOINED).count() == 1
    inbox.refresh_from_db()
    assert inbox.last_uid == 2


def test_a_new_uidvalidity_reads_the_folder_again_without_doubles(servers, inbox, customer):
    send(servers, letter(customer, inbox.address, "Раз", "Первое."), inbox.address)
    mail.poll_mailbox(inbox)
    Mailbox.objects.filter(pk=inbox.pk).update(uid_validity=1, last_uid=99)
    inbox.refresh_from_db()

    send(servers, letter("other@example.ru", inbox.address, "Два", "Второе."), inbox.address)
    assert mail.poll_mailbox(inbox) == 1

    assert sorted(InboundRequest.objects.values_list("subject", flat=True)) == ["Два", "Раз"]
    inbox.refresh_from_db()
    assert inbox.uid_validity != 1 and inbox.last_uid == 2


def test_a_failure_mid_batch_neither_loses_nor_doubles_a_message(servers, inbox, monkeypatch):
    send(servers, letter("a@example.ru", inbox.address, "Первый", "1"), inbox.address)
    send(servers, letter("b@example.ru", inbox.address, "Второй", "2"), inbox.address)
    real = mail.ingest
    calls = itertools.count(1)

    def crash_on_second(parsed, mailbox):
        if next(calls) == 2:
            raise RuntimeError("the database went away")
        return real(parsed, mailbox)

    monkeypatch.setattr(mail, "ingest", crash_on_second)
    assert mail.poll_mailbox(inbox) == 1
    inbox.refresh_from_db()
    assert inbox.last_uid == 1
    assert "UID 2" in inbox.last_error and "the database went away" in inbox.last_error
    assert list(InboundRequest.objects.values_list("subject", flat=True)) == ["Первый"]

    monkeypatch.setattr(mail, "ingest", real)
    assert mail.poll_mailbox(inbox) == 1
    inbox.refresh_from_db()
    assert inbox.last_uid == 2 and inbox.last_error == ""
    assert sorted(InboundRequest.objects.values_list("subject", flat=True)) == ["Второй", "Первый"]


def test_attachments_are_kept_with_safe_names_and_an_oversized_one_is_only_noted(
    servers, settings, inbox, customer
):
    settings.OTDEL_INBOUND_MAIL_MAX_ATTACHMENT_BYTES = 50_000
    msg = letter(customer, inbox.address, "Спецификация", "Во вложении.")
    pdf = b"%PDF-1.4 spec " + bytes(range(256)) * 10
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="Спецификация №5.pdf")
    msg.add_attachment(b"root:x:0:0", maintype="text", subtype="plain", filename="../../etc/passwd")
    msg.add_attachment(b"x" * 60_000, maintype="application", subtype="zip", filename="big.zip")
    send(servers, msg, inbox.address)

    mail.poll_mailbox(inbox)

    request = InboundRequest.objects.get()
    files = {a.name: a for a in RequestAttachment.objects.filter(message__request=request)}
    assert set(files) == {"Спецификация №5.pdf", "passwd"}
    spec = files["Спецификация №5.pdf"]
    assert spec.content_type == "application/pdf" and spec.size == len(pdf)
    with spec.file.open("rb") as fh:
        assert fh.read() == pdf
    media = Path(settings.MEDIA_ROOT).resolve()
    for attachment in files.values():
        assert media in Path(attachment.file.path).resolve().parents
    assert "big.zip" in request.message and "не сохранён" in request.message

    # Read again from the start: the files are not stored twice.
    Mailbox.objects.filter(pk=inbox.pk).update(last_uid=0)
    inbox.refresh_from_db()
    mail.poll_mailbox(inbox)
    assert RequestAttachment.objects.count() == 2


def test_a_message_without_a_message_id_is_read_once(servers, inbox):
    raw = (
        f"From: old-mailer@example.ru\r\nTo: {inbox.address}\r\nSubject: Без номера\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nТекст без Message-ID.\r\n"
    ).encode()
    send(servers, raw, inbox.address)
    mail.poll_mailbox(inbox)
    Mailbox.objects.filter(pk=inbox.pk).update(last_uid=0)

    assert mail.poll_mailbox(inbox) == 0

    request = InboundRequest.objects.get()
    assert request.external_id.startswith("sha256:")
    assert request.message == "Текст без Message-ID."


def test_a_message_too_large_to_read_becomes_a_request_from_its_headers(
    servers, settings, inbox, customer
):
    settings.OTDEL_INBOUND_MAIL_MAX_MESSAGE_BYTES = 20_000
    msg = letter(f"Анна <{customer}>", inbox.address, "Чертежи", "Смотрите вложение.")
    msg.add_attachment(
        b"\x00" * 50_000, maintype="application", subtype="octet-stream", filename="a.dwg"
    )
    send(servers, msg, inbox.address)

    assert mail.poll_mailbox(inbox) == 1

    request = InboundRequest.objects.get()
    assert (request.email, request.subject) == (customer, "Чертежи")
    assert "слишком большое" in request.message
    assert not RequestAttachment.objects.exists()


def test_auto_replies_bounces_and_our_own_mail_are_not_requests(servers, inbox):
    send(
        servers,
        letter(
            "away@example.ru",
            inbox.address,
            "Автоответ: Запрос",
            "Я в отпуске.",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        inbox.address,
    )
    send(
        servers,
        letter(
            "robot@example.ru",
            inbox.address,
            "Re: Запрос",
            "Ваше письмо получено.",
            headers={"X-Autoreply": "yes"},
        ),
        inbox.address,
    )
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.ru>\r\n"
        f"To: {inbox.address}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.ru>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe address was rejected.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.ru\r\n\r\nFinal-Recipient: rfc822; nobody@example.ru\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n"
    ).encode()
    send(servers, bounce, inbox.address, mail_from="")
    ours = letter(
        "noreply@otdel.test",
        inbox.address,
        "[№000001] Re: Запрос",
        "Мы получили ваш запрос.",
        headers={"X-Otdel-Request": "1"},
    )
    send(servers, ours, inbox.address)

    assert mail.poll_mailbox(inbox) == 0

    assert not InboundRequest.objects.exists()
    assert not RequestMessage.objects.exists()
    inbox.refresh_from_db()
    assert inbox.last_uid == 4 and inbox.last_error == ""


def test_koi8r_and_cp1251_messages_decode(servers, inbox):
    koi8 = (
        "From: =?koi8-r?B?" + _b64("Иван Петров".encode("koi8-r")) + "?= <ivan@example.ru>\r\n"
        f"To: {inbox.address}\r\n"
        "Subject: =?koi8-r?B?" + _b64("Запрос цены".encode("koi8-r")) + "?=\r\n"
        "Message-ID: <koi8-1@example.ru>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=koi8-r\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "Нужен прайс на насосы.\r\n".encode("koi8-r")
    cp1251_html = (
        "From: buh@example.ru\r\n"
        f"To: {inbox.address}\r\n"
        "Subject: =?windows-1251?Q?" + _qp("Счёт".encode("cp1251")) + "?=\r\n"
        "Message-ID: <cp1251-1@example.ru>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=windows-1251\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "<p>Выставьте счёт на <b>ООО «Ромашка»</b></p>\r\n".encode("cp1251")
    unlabelled = (
        "From: sklad@example.ru\r\n"
        f"To: {inbox.address}\r\n"
        "Subject: sklad\r\n"
        "Message-ID: <nolabel-1@example.ru>\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "Отгрузка завтра.\r\n".encode("cp1251")
    for raw in (koi8, cp1251_html, unlabelled):
        send(servers, raw, inbox.address)

    mail.poll_mailbox(inbox)

    got = {r.external_id: r for r in InboundRequest.objects.all()}
    assert (got["<koi8-1@example.ru>"].name, got["<koi8-1@example.ru>"].subject) == (
        "Иван Петров",
        "Запрос цены",
    )
    assert got["<koi8-1@example.ru>"].message == "Нужен прайс на насосы."
    assert got["<cp1251-1@example.ru>"].subject == "Счёт"
    assert got["<cp1251-1@example.ru>"].message == "Выставьте счёт на ООО «Ромашка»"
    assert got["<nolabel-1@example.ru>"].message == "Отгрузка завтра."


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _qp(data: bytes) -> str:
    return "".join(f"={b:02X}" if b > 127 or b in b"=?_ " else chr(b) for b in data)


def test_html_and_script_in_a_message_are_stored_as_text_and_shown_escaped(
    servers, inbox, client, head
):
    plain = letter(
        "hacker@example.ru",
        inbox.address,
        "<img src=x onerror=alert(1)>",
        "<script>alert('x')</script> Нужна цена",
    )
    html = EmailMessage()
    html["From"] = "html@example.ru"
    html["To"] = inbox.address
    html["Subject"] = "HTML"
    html["Message-ID"] = make_msgid(domain="example.ru")
    html.set_content(
        "<html><head><style>p{color:red}</style><script>steal()</script></head>"
        '<body><p>Нужна <b>цена</b> &amp; сроки</p><p onclick="steal()">до пятницы</p></body></html>',
        subtype="html",
    )
    send(servers, plain, inbox.address)
    send(servers, html, inbox.address)

    mail.poll_mailbox(inbox)

    from_plain = InboundRequest.objects.get(email="hacker@example.ru")
    assert from_plain.message == "<script>alert('x')</script> Нужна цена"
    from_html = InboundRequest.objects.get(email="html@example.ru")
    assert from_html.message == "Нужна цена & сроки\n\nдо пятницы"
    assert "steal" not in from_html.message and "color" not in from_html.message

    client.force_login(head)
    page = client.get(reverse("inbound:detail", args=[from_plain.pk])).content.decode()
    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page and "&lt;img src=x" in page


def test_the_acknowledgement_arrives_in_the_senders_mailbox_once(
    servers, inbox, customer, django_capture_on_commit_callbacks
):
    first = letter(f"Анна <{customer}>", inbox.address, "Нужен компрессор", "Какая цена?")
    send(servers, first, inbox.address)

    with django_capture_on_commit_callbacks(execute=True):
        mail.poll_mailbox(inbox)

    request = InboundRequest.objects.get()
    received = servers.read_all(customer)
    assert len(received) == 1
    ack = received[0]
    assert f"[№{request.number}]" in ack["Subject"] and "Нужен компрессор" in ack["Subject"]
    body = ack.get_content()
    assert f"№{request.number}" in body
    assert "Здравствуйте, Анна!" in body and "Мы получили ваш запрос" in body
    assert "18 ноября, 11:00" in body  # the first-response deadline, Moscow time
    assert ack["Message-ID"] == f"<request-{request.pk}-ack@otdel.test>"
    assert ack["In-Reply-To"] == first["Message-ID"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Reply-To"] == inbox.address
    request.refresh_from_db()
    assert request.acknowledged_at == clock.now()
    assert RequestEvent.objects.filter(request=request, kind=EventKind.ACKNOWLEDGED).count() == 1

    # Never twice.
    assert mail.send_acknowledgement(request.pk) is False
    assert len(servers.read_all(customer)) == 1

    # The customer's colleague answers the acknowledgement: it joins the request.
    answer = letter(
        "boss@other.ru",
        inbox.address,
        ack["Subject"],
        "Добавьте доставку.",
        in_reply_to=ack["Message-ID"],
    )
    send(servers, answer, inbox.address)
    with django_capture_on_commit_callbacks(execute=True):
        mail.poll_mailbox(inbox)
    assert InboundRequest.objects.count() == 1
    assert RequestMessage.objects.filter(request=request, body="Добавьте доставку.").exists()
    # No acknowledgement for a message that joined a request.
    assert len(servers.read_all(customer)) == 1


def test_a_failed_acknowledgement_is_not_marked_sent(servers, settings, inbox, customer):
    send(servers, letter(customer, inbox.address, "Запрос", "Текст"), inbox.address)
    mail.poll_mailbox(inbox)
    request = InboundRequest.objects.get()
    settings.EMAIL_PORT = free_port()  # the SMTP server is down

    assert mail.send_acknowledgement(request.pk) is False

    request.refresh_from_db()
    assert request.acknowledged_at is None
    assert not RequestEvent.objects.filter(request=request, kind=EventKind.ACKNOWLEDGED).exists()
    settings.EMAIL_PORT = servers.smtp_port
    assert mail.send_acknowledgement(request.pk) is True
    assert len(servers.read_all(customer)) == 1


def test_the_subject_number_joins_only_the_customers_own_messages(
    servers, inbox, customer, team, head
):
    publish_routing_policy(
        team.pk, document={"duplicate_window_hours": 0}, effective_from=clock.now(), actor=head
    )
    send(servers, letter(customer, inbox.address, "Запрос", "Первое."), inbox.address)
    mail.poll_mailbox(inbox)
    request = InboundRequest.objects.get()
    tag = f"[№{request.number}]"

    send(servers, letter(customer, inbox.address, f"Дополнение {tag}", "Второе."), inbox.address)
    send(
        servers, letter("stranger@evil.ru", inbox.address, f"Взлом {tag}", "Чужое."), inbox.address
    )
    send(servers, letter(customer, inbox.address, "Другой вопрос", "Третье."), inbox.address)
    mail.poll_mailbox(inbox)

    assert list(request.messages.values_list("body", flat=True)) == ["Первое.", "Второе."]
    assert InboundRequest.objects.count() == 3


def test_the_assignee_answers_by_email_in_the_thread(
    servers, inbox, customer, team, head, manager, other_manager, django_capture_on_commit_callbacks
):
    make_client(head, team=team, owner=manager, email=customer)
    first = letter(customer, inbox.address, "Нужен насос", "Цена?")
    send(servers, first, inbox.address)
    mail.poll_mailbox(inbox)
    request = InboundRequest.objects.get()
    assert request.assignee_id == manager.pk and request.first_response_at is None

    # Someone it is not assigned to may not answer: nothing stored, nothing sent.
    with pytest.raises(Forbidden), django_capture_on_commit_callbacks(execute=True):
        mail.reply(request.pk, actor=other_manager, body="Я отвечу!")
    with pytest.raises(Invalid):
        mail.reply(request.pk, actor=manager, body="   ")
    assert not RequestMessage.objects.filter(incoming=False).exists()
    assert servers.read_all(customer) == []

    with django_capture_on_commit_callbacks(execute=True):
        sent = mail.reply(request.pk, actor=manager, body="Добрый день! НШ-32 стоит 12 400 ₽.")

    assert not sent.incoming and sent.channel == Channel.EMAIL
    request.refresh_from_db()
    assert request.first_response_at == clock.now()
    assert RequestEvent.objects.filter(
        request=request, kind=EventKind.REPLIED, actor=manager
    ).exists()
    assert AuditEvent.objects.filter(verb="inbound.replied", object_id=request.pk).exists()
    [answer] = servers.read_all(customer)
    assert answer["Message-ID"] == sent.message_id
    assert answer["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in answer["References"]
    assert answer["Subject"] == f"[№{request.number}] Re: Нужен насос"
    assert "НШ-32 стоит 12 400 ₽." in answer.get_content()
    assert manager.display_name in answer["From"]

    # The customer answers our answer: it joins the same request.
    again = letter(
        customer, inbox.address, answer["Subject"], "Беру.", in_reply_to=answer["Message-ID"]
    )
    send(servers, again, inbox.address)
    mail.poll_mailbox(inbox)
    assert list(request.messages.values_list("body", flat=True)) == [
        "Цена?",
        "Добрый день! НШ-32 стоит 12 400 ₽.",
        "Беру.",
    ]


def test_an_answer_is_sent_only_after_commit_and_a_refused_one_is_kept_and_its_author_told(
    servers, settings, inbox, customer, team, head, manager, django_capture_on_commit_callbacks
):
    make_client(head, team=team, owner=manager, email=customer)
    send(servers, letter(customer, inbox.address, "Вопрос", "Есть в наличии?"), inbox.address)
    mail.poll_mailbox(inbox)
    request = InboundRequest.objects.get()

    with django_capture_on_commit_callbacks(execute=False) as pending:
        mail.reply(request.pk, actor=manager, body="Да, есть.")
    assert len(pending) == 1 and servers.read_all(customer) == []

    settings.EMAIL_PORT = free_port()  # the SMTP server is down
    with django_capture_on_commit_callbacks(execute=True):
        mail.reply(request.pk, actor=manager, body="Есть, 3 штуки.")

    assert servers.read_all(customer) == []
    assert request.messages.filter(incoming=False, body="Есть, 3 штуки.").exists()
    note = Notification.objects.get(recipient=manager, kind="inbound_reply_failed")
    assert f"№{request.number}" in note.text and customer in note.text


def test_a_wrong_password_is_recorded_and_nothing_is_written(servers, inbox, monkeypatch):
    send(servers, letter("a@example.ru", inbox.address, "Запрос", "Текст"), inbox.address)
    monkeypatch.setenv(inbox.password_env, "wrong")

    assert mail.poll_mailbox(inbox) == 0

    inbox.refresh_from_db()
    assert "AUTHENTICATIONFAILED" in inbox.last_error or "failed" in inbox.last_error.lower()
    assert inbox.last_uid == 0 and inbox.last_polled_at is not None
    assert not InboundRequest.objects.exists()


def test_a_missing_password_variable_and_a_host_down_are_clear_errors_and_others_still_read(
    servers, inbox, team, head, monkeypatch
):
    send(servers, letter("a@example.ru", inbox.address, "Запрос", "Текст"), inbox.address)
    no_password = _connect_box(servers, team, head, monkeypatch)
    monkeypatch.delenv(no_password.password_env)
    down = _connect_box(servers, team, head, monkeypatch)
    Mailbox.objects.filter(pk=down.pk).update(port=free_port())

    totals = mail.poll_all()

    assert totals["mailboxes"] == 3 and totals["errors"] == 2 and totals["created"] == 1
    no_password.refresh_from_db()
    assert no_password.password_env in no_password.last_error
    down.refresh_from_db()
    assert "127.0.0.1" in down.last_error
    inbox.refresh_from_db()
    assert inbox.last_error == "" and InboundRequest.objects.count() == 1


def test_imaps_with_a_trusted_certificate_reads_and_an_untrusted_one_is_refused(
    servers, settings, team, head, monkeypatch, frozen_clock
):
    box = _connect_box(servers, team, head, monkeypatch, use_ssl=True)
    send(servers, letter("a@example.ru", box.address, "По SSL", "Текст"), box.address)

    assert mail.poll_mailbox(box) == 1

    settings.OTDEL_INBOUND_MAIL_CAFILE = ""
    send(servers, letter("b@example.ru", box.address, "Ещё", "Текст"), box.address)
    assert mail.poll_mailbox(box) == 0
    box.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in box.last_error
    assert InboundRequest.objects.count() == 1


def test_only_the_head_of_sales_connects_a_mailbox_and_never_with_a_password(team, head, manager):
    with pytest.raises(Forbidden):
        mail.add_mailbox(
            team.pk,
            actor=manager,
            address="sales@firma.ru",
            host="imap.firma.ru",
            username="sales",
            password_env="SALES_PW",
        )
    with pytest.raises(Invalid) as err:
        mail.add_mailbox(
            team.pk,
            actor=head,
            address="sales@firma.ru",
            host="imap.firma.ru",
            username="sales",
            password_env="Secret pass 123",
        )
    assert err.value.details["field"] == "password_env"
    assert not Mailbox.objects.exists()

    box = mail.add_mailbox(
        team.pk,
        actor=head,
        address="Sales@Firma.ru",
        host="imap.firma.ru",
        username="sales",
        password_env="SALES_PW",
    )

    assert (box.address, box.port, box.use_ssl, box.folder) == (
        "sales@firma.ru",
        993,
        True,
        "INBOX",
    )
    event = AuditEvent.objects.get(verb="inbound.mailbox_added")
    assert event.actor == head and event.data["password_env"] == "SALES_PW"


def test_the_poll_command_reads_the_mailboxes(servers, inbox, capsys):
    send(servers, letter("a@example.ru", inbox.address, "Запрос", "Текст"), inbox.address)

    call_command("inbound_poll_mail", "--once")

    assert "created=1" in capsys.readouterr().out
    assert InboundRequest.objects.count() == 1
