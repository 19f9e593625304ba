"""The e-mail channel: inbound mailboxes read over IMAP become requests (a reply in the same
thread joins its request), the customer gets an acknowledgement with the request number, and
the assignee answers the customer by e-mail from the request. Read side: each message is
committed together with the mailbox's last UID, so a crash neither loses nor doubles one, and
the Message-ID makes a re-read change nothing. Passwords are only in the environment."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.header
import email.policy
import email.utils
import hashlib
import imaplib
import ipaddress
import logging
import mimetypes
import os
import re
import secrets
import smtplib
import ssl
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage as ParsedMessage
from email.message import Message
from functools import partial
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import formats, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from pydantic import ValidationError

from otdel.audit.services import record
from otdel.clients.models import Contact
from otdel.clients.normalize import ValidationFailure, clean_email
from otdel.core import clock
from otdel.core.errors import Conflict, Forbidden, Invalid, NotFound
from otdel.inbound import policies
from otdel.inbound.models import (
    Channel,
    EventKind,
    InboundRequest,
    Mailbox,
    RequestAttachment,
    RequestEvent,
    RequestMessage,
)
from otdel.inbound.schemas import RequestIn
from otdel.inbound.services import mark_first_response, receive
from otdel.people.models import User
from otdel.telephony.conf import int_setting, setting

logger = logging.getLogger(__name__)

# The longest text kept from a message (the request's own limit); subject and name likewise.
MAX_BODY = 20_000
MAX_SUBJECT = 300
MAX_NAME = 200
# How many attachments of one message are kept at most (a message with hundreds is not a
# customer writing).
MAX_ATTACHMENTS = 20
# A request number in a subject: "[№000123]" (also "[#000123]", "[No 000123]": some mail
# programs and people rewrite the sign).
SUBJECT_TAG = re.compile(r"\[\s*(?:№|#|No\.?|N°)\s*(\d{1,12})\s*\]", re.IGNORECASE)
MSG_ID = re.compile(r"<[^<>\s]+>")
# Our Message-IDs: <request-123-ack@domain>, <request-123-reply-9f3a…@domain>.
OUR_ID = re.compile(r"^<request-(\d+)-(?:ack|reply-[0-9a-f]+)@([^<>\s]+)>$", re.IGNORECASE)
# A header we put on every message we send, so our own mail read back is never a request.
OUR_HEADER = "X-Otdel-Request"
BOUNCE_SENDERS = {"mailer-daemon", "postmaster", "mail-daemon"}
AUTO_PRECEDENCE = {"bulk", "junk", "auto_reply"}


class MailboxError(Exception):
    """A mailbox cannot be read now (the reason is shown to the head of sales)."""


# --- settings ------------------------------------------------------------------------------------


def max_attachment_bytes() -> int:
    """A bigger attachment is noted in the message, not stored."""
    return int_setting("OTDEL_INBOUND_MAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)


def max_message_bytes() -> int:
    """A bigger message is read for its headers only (its text stays in the mailbox)."""
    return int_setting("OTDEL_INBOUND_MAIL_MAX_MESSAGE_BYTES", 40 * 1024 * 1024)


def batch_size() -> int:
    """At most this many messages are read from a mailbox in one poll (the next takes the rest)."""
    return max(1, int_setting("OTDEL_INBOUND_MAIL_BATCH", 200))


def message_id_domain() -> str:
    """The domain of our Message-IDs: the setting, else the domain of the From address."""
    configured = str(getattr(settings, "OTDEL_EMAIL_MESSAGE_ID_DOMAIN", "") or "").strip()
    if configured:
        return configured.lower()
    address = email.utils.parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2].strip().lower()
    return domain or "localhost"


# --- reading a message ---------------------------------------------------------------------------


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "dt", "dd",
}  # fmt: skip
_HIDDEN_TAGS = {"script", "style", "head", "title", "noscript", "template", "iframe", "object"}


class _HtmlText(HTMLParser):
    """HTML to plain text: the words a person sees, no markup, no scripts or styles (the text
    is shown escaped anyway; this keeps it readable)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, whitespace tidied."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # broken HTML: keep what was read so far
        logger.debug("broken HTML in a message", exc_info=True)
    lines = [
        re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parser.parts).split("\n")
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str, limit: int) -> str:
    """Printable text (no NUL: PostgreSQL refuses it), line ends unified, at most `limit`
    characters with a mark where it was cut."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > limit:
        mark = "\n[…]"
        text = text[: limit - len(mark)] + mark
    return text


def clean_line(text: str, limit: int) -> str:
    """One line of text (a subject, a name): whitespace collapsed, bounded."""
    return re.sub(r"\s+", " ", _CONTROL.sub("", text)).strip()[:limit]


def _decode(part: Message) -> str:
    """A text part's words: its declared charset (koi8-r, cp1251, …); with none or an unknown
    one, UTF-8 if it is valid, else cp1251 (the usual Russian mail without a label)."""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return str(raw or "")
    declared = part.get_content_charset()
    if declared:
        try:
            return raw.decode(declared, errors="replace")
        except LookupError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1251", errors="replace")


def _header(msg: Message, name: str) -> str:
    """A header's decoded text (RFC 2047 words in any charset); '' when absent or unreadable."""
    try:
        value = msg.get(name)
    except Exception:  # a malformed header is as good as a missing one
        logger.debug("unreadable header %s", name, exc_info=True)
        return ""
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:
        return str(email.header.make_header(email.header.decode_header(str(value))))


def _address(msg: Message, name: str) -> tuple[str, str]:
    """(display name, address) of a From/Reply-To header; the address lower-cased."""
    value = msg.get(name)
    addresses = getattr(value, "addresses", None)
    if addresses:
        first = addresses[0]
        return str(first.display_name or ""), str(first.addr_spec or "").strip().lower()
    display, addr = email.utils.parseaddr(_header(msg, name))
    return display, addr.strip().lower()


def _message_ids(text: str) -> list[str]:
    return [normalize_message_id(m) for m in MSG_ID.findall(text or "")]


def normalize_message_id(value: str) -> str:
    """A Message-ID as we store it: `<left@right>`; an overlong one by its digest (the column
    holds 255)."""
    value = (value or "").strip()
    found = MSG_ID.search(value)
    value = found.group(0) if found else (f"<{value}>" if value else "")
    if len(value) > 255:
        value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


@dataclass
class Attachment:
    """A file from a message: the name as the sender gave it (cleaned) and its bytes."""

    name: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    """What a message says, decoded: who, about what, the thread it belongs to, files."""

    message_id: str
    in_reply_to: list[str]
    references: list[str]
    subject: str
    name: str
    email: str
    sender: str
    body: str
    attachments: list[Attachment] = field(default_factory=list)
    # "[file x.zip (25 MB) was not kept: …]" lines added to the body.
    notes: list[str] = field(default_factory=list)
    # Why this message is not a request (an auto-reply, a bounce, our own), or "".
    automatic: str = ""
    ours: bool = False


def _megabytes(size: int) -> str:
    return _("%(size)s MB") % {"size": formats.number_format(round(size / 1024 / 1024, 1))}


def _leaves(part: Message) -> Iterator[Message]:
    """The message's parts that are not containers; an attached message is one leaf."""
    if part.get_content_maintype() == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    yield from _leaves(sub)
        return
    yield part


def _inner(part: Message) -> Message | None:
    """The message attached as a message/rfc822 part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def safe_filename(name: str, default: str = "attachment") -> str:
    """A file name without a path, control characters or characters file systems refuse;
    bounded, never empty, never hidden."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if not name:
        name = default
    stem, dot, ext = name.rpartition(".")
    if dot and stem and len(ext) <= 16:
        return f"{stem[:120]}.{ext}"
    return name[:140]


def _automatic(msg: Message, from_address: str) -> str:
    """Why a message is machine-made (not a request), or ''."""
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return "auto-submitted"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        value = _header(msg, name).strip().lower()
        if value and value not in {"no", "false", "0"}:
            return "auto-reply"
    if _header(msg, "Precedence").strip().lower() in AUTO_PRECEDENCE:
        return "bulk"
    if msg.get_content_type() == "multipart/report":
        return "bounce"
    if from_address.partition("@")[0] in BOUNCE_SENDERS:
        return "bounce"
    if _header(msg, "Return-Path").strip() == "<>":
        return "bounce"
    return ""


def parse_message(raw: bytes) -> ParsedMail:
    """Decode one raw message: headers (RFC 2047, any charset), the text (plain preferred, else
    HTML turned into text), the files (bounded), whether it is automatic or ours."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, ParsedMessage)
    name, from_address = _address(msg, "From")
    _reply_name, reply_to = _address(msg, "Reply-To")
    # A site's form often sends as itself with the customer in Reply-To: answer the customer.
    address = reply_to if reply_to and reply_to != from_address else from_address
    message_id = normalize_message_id(_header(msg, "Message-ID"))
    if not message_id:
        # No Message-ID: the same bytes read again are still the same message.
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    our_domain = message_id_domain()
    ours_by_id = OUR_ID.match(message_id)
    ours = bool(_header(msg, OUR_HEADER)) or bool(
        ours_by_id and ours_by_id.group(2).lower() == our_domain
    )

    body_parts: list[Message] = []
    text = ""
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        text = _decode(plain)
        body_parts.append(plain)
    if not text.strip():
        html = msg.get_body(preferencelist=("html",))
        if html is not None:
            text = html_to_text(_decode(html))
            body_parts.append(html)

    attachments: list[Attachment] = []
    notes: list[str] = []
    limit = max_attachment_bytes()
    for part in _leaves(msg):
        if any(part is b for b in body_parts):
            continue
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if not filename and disposition != "attachment":
            if ctype == "text/plain":
                # Some mail programs split the text around an inline picture.
                text = f"{text}\n{_decode(part)}" if text else _decode(part)
                continue
            if ctype == "text/html":
                continue  # the HTML twin of a text already read
        data = _part_bytes(part)
        if ctype == "message/rfc822" and not filename:
            inner = _inner(part)
            inner_subject = _header(inner, "Subject") if inner is not None else ""
            filename = f"{safe_filename(inner_subject, 'message')}.eml"
        if not filename:
            # A picture pasted into the text (a screenshot of a nameplate) has no name.
            filename = _("attachment") + (mimetypes.guess_extension(ctype) or ".bin")
        display = safe_filename(str(filename), default=_("attachment"))
        if len(attachments) >= MAX_ATTACHMENTS:
            notes.append(
                _("[file “%(name)s” was not kept: more than %(count)s files in one message]")
                % {"name": display, "count": MAX_ATTACHMENTS}
            )
            continue
        if len(data) > limit:
            notes.append(
                _("[file “%(name)s” (%(size)s) was not kept: larger than %(limit)s]")
                % {
                    "name": display,
                    "size": _megabytes(len(data)),
                    "limit": _megabytes(limit),
                }
            )
            continue
        attachments.append(Attachment(display, ctype[:100], data))

    body = text.strip()
    if notes:
        body = "\n\n".join(x for x in (body, "\n".join(notes)) if x)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=_message_ids(_header(msg, "In-Reply-To")),
        references=_message_ids(_header(msg, "References")),
        subject=clean_line(_header(msg, "Subject"), MAX_SUBJECT),
        name=clean_line(name, MAX_NAME),
        email=address,
        sender=clean_line(_header(msg, "From"), 300),
        body=clean_text(body, MAX_BODY),
        attachments=attachments,
        notes=notes,
        automatic=_automatic(msg, from_address),
        ours=ours,
    )


def _part_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = _inner(part)
        if inner is None:
            return b""
        try:
            return bytes(inner.as_bytes())
        except Exception:  # a broken attached message: keep its text
            return str(inner).encode("utf-8", errors="replace")
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def parse_headers_only(raw_headers: bytes, size: int) -> ParsedMail:
    """A message too large to read: its headers, and a note that the rest stays in the box."""
    parsed = parse_message(raw_headers + b"\r\n")
    note = _("[the message is too large to read here (%(size)s): open it in the mailbox]") % {
        "size": _megabytes(size)
    }
    parsed.notes.append(note)
    parsed.body = note
    return parsed


# --- turning a message into a request ------------------------------------------------------------


def _request_for_thread(parsed: ParsedMail) -> InboundRequest | None:
    """The request this message answers: by its In-Reply-To/References (a request's first
    message, a stored message, our acknowledgement or reply), else by the "[№000123]" tag of the
    subject when the sender is the request's customer."""
    ids = [*parsed.in_reply_to, *reversed(parsed.references)][:100]
    if ids:
        domain = message_id_domain()
        ours: dict[str, int] = {}
        for mid in ids:
            m = OUR_ID.match(mid)
            if m and m.group(2).lower() == domain:
                ours[mid] = int(m.group(1))
        by_external = dict(
            InboundRequest.objects.filter(channel=Channel.EMAIL, external_id__in=ids).values_list(
                "external_id", "pk"
            )
        )
        by_message = dict(
            RequestMessage.objects.filter(message_id__in=ids).values_list(
                "message_id", "request_id"
            )
        )
        for mid in ids:
            pk = ours.get(mid) or by_external.get(mid) or by_message.get(mid)
            if pk:
                found = InboundRequest.objects.filter(pk=pk).first()
                if found is not None:
                    return found
    tag = SUBJECT_TAG.search(parsed.subject)
    if tag and parsed.email:
        found = InboundRequest.objects.filter(pk=int(tag.group(1))).first()
        # A number in a subject is easy to type: only the customer (or his colleague at the
        # same client) joins a request by it.
        if found is not None and (
            found.email == parsed.email
            or (
                found.client_id
                and Contact.objects.filter(client_id=found.client_id, email=parsed.email).exists()
            )
        ):
            return found
    return None


def _request_in(parsed: ParsedMail) -> RequestIn:
    values = {
        "name": parsed.name,
        "email": parsed.email,
        "subject": parsed.subject,
        "message": parsed.body,
    }
    try:
        return RequestIn.model_validate(values)
    except ValidationError:
        # An address we cannot answer is still a message someone sent: keep it, unreachable
        # (the sender's raw header stays on the message).
        return RequestIn.model_construct(
            name=parsed.name,
            company="",
            phone="",
            email="",
            inn="",
            subject=parsed.subject,
            message=parsed.body,
            category_id=None,
            region="",
            language="",
        )


def _save_attachments(message: RequestMessage, files: list[Attachment]) -> int:
    for item in files:
        stored = get_valid_filename_or(item.name)
        attachment = RequestAttachment(
            message=message,
            name=item.name[:255],
            content_type=item.content_type[:100],
            size=len(item.data),
        )
        attachment.file.save(stored, ContentFile(item.data), save=False)
        attachment.save()
    return len(files)


def get_valid_filename_or(name: str, default: str = "attachment.bin") -> str:
    """A name safe for the storage (letters, digits, `-_.`; Cyrillic kept)."""
    try:
        return get_valid_filename(name)[:150] or default
    except Exception:  # Django refuses names like '..'
        return default


def ingest(parsed: ParsedMail, mailbox: Mailbox) -> str:
    """One message of a mailbox: ours or automatic → skipped; a known Message-ID → nothing; a
    reply in a thread → joins its request; otherwise a new request of the mailbox's team (the
    customer gets an acknowledgement after commit). Returns what happened."""
    if parsed.ours:
        return "ours"
    if parsed.automatic:
        return parsed.automatic
    target = _request_for_thread(parsed)
    received = receive(
        _request_in(parsed),
        team_id=target.team_id if target is not None else mailbox.team_id,
        channel=Channel.EMAIL,
        external_id=parsed.message_id,
        in_reply_to=target,
        sender=parsed.sender or parsed.email,
    )
    if received.message is None:
        return "known"
    _save_attachments(received.message, parsed.attachments)
    if not received.created:
        return "joined"
    request = received.request
    from otdel.inbound.assign import routing_policy_in_force

    if request.email and routing_policy_in_force(request.team_id).doc.acknowledge_by_email:
        from otdel.inbound.tasks import acknowledge_request

        transaction.on_commit(partial(acknowledge_request.enqueue, request.pk))
    return "created"


# --- IMAP -----------------------------------------------------------------------------------------


def _ssl_context() -> ssl.SSLContext:
    """Certificates are checked; a private CA (a self-signed server) is named by a setting."""
    cafile = setting("OTDEL_INBOUND_MAIL_CAFILE", "") or None
    return ssl.create_default_context(cafile=cafile)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(mailbox: Mailbox) -> str:
    name = (mailbox.password_env or "").strip()
    if not name:
        raise MailboxError(_("No environment variable for the password is named."))
    value = os.environ.get(name)
    if value is None:
        raise MailboxError(
            _("The environment variable %(name)s with the mailbox password is not set.")
            % {"name": name}
        )
    return value


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    """Open and log in: implicit TLS, or plain upgraded by STARTTLS when offered. A password is
    never sent in clear over the network (only to a server on this machine)."""
    timeout = int_setting("OTDEL_INBOUND_MAIL_TIMEOUT", 30)
    imap: imaplib.IMAP4
    if mailbox.use_ssl:
        imap = imaplib.IMAP4_SSL(
            mailbox.host, mailbox.port, ssl_context=_ssl_context(), timeout=timeout
        )
    else:
        imap = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=timeout)
        if "STARTTLS" in imap.capabilities:
            imap.starttls(ssl_context=_ssl_context())
        elif not (
            _is_loopback(mailbox.host) or setting("OTDEL_INBOUND_MAIL_ALLOW_PLAINTEXT", "") == "1"
        ):
            imap.shutdown()
            raise MailboxError(
                _("The server %(host)s offers no encryption: turn SSL on for this mailbox.")
                % {"host": mailbox.host}
            )
    try:
        imap.login(mailbox.username, _password(mailbox))
    except BaseException:
        imap.shutdown()
        raise
    return imap


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(result: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = result
    if status != "OK":
        detail = b" ".join(x for x in data if isinstance(x, bytes)).decode(errors="replace")
        raise MailboxError(f"{what}: {detail or status}")
    return data


def _fetch(imap: imaplib.IMAP4, uid: int, item: str) -> bytes | None:
    data = _check(imap.uid("FETCH", str(uid), f"({item})"), "FETCH")
    for entry in data:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], bytes):
            return entry[1]
    return None  # the message went away between SEARCH and FETCH


def _sizes(imap: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    if not uids:
        return sizes
    data = _check(imap.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE)"), "FETCH")
    for entry in data:
        line = entry[0] if isinstance(entry, tuple) else entry
        if not isinstance(line, bytes):
            continue
        uid = re.search(rb"UID (\d+)", line)
        size = re.search(rb"RFC822\.SIZE (\d+)", line)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


@dataclass
class PollResult:
    """What one poll of a mailbox did."""

    read: int = 0
    created: int = 0
    joined: int = 0
    skipped: int = 0
    error: str = ""


def _select(imap: imaplib.IMAP4, mailbox: Mailbox) -> int:
    """Open the folder read-only (flags stay as the people reading the box left them) and
    return its UIDVALIDITY."""
    _check(imap.select(_quote(mailbox.folder or "INBOX"), readonly=True), "SELECT")
    _code, values = imap.response("UIDVALIDITY")
    try:
        return int(values[0])
    except (TypeError, ValueError, IndexError) as err:
        raise MailboxError(_("The server did not say the folder's UIDVALIDITY.")) from err


def _read(imap: imaplib.IMAP4, mailbox: Mailbox, result: PollResult) -> None:
    validity = _select(imap, mailbox)
    if mailbox.uid_validity != validity:
        # The folder was rebuilt: its UIDs mean other messages now. Read it again from the
        # start; the Message-IDs make the ones already read change nothing.
        Mailbox.objects.filter(pk=mailbox.pk).exclude(uid_validity=validity).update(
            uid_validity=validity, last_uid=0
        )
        mailbox.refresh_from_db(fields=["uid_validity", "last_uid"])
    start = mailbox.last_uid + 1
    data = _check(imap.uid("SEARCH", "UID", f"{start}:*"), "SEARCH")
    # "n:*" always names the newest message, even one below n.
    found = b" ".join(x for x in data if isinstance(x, bytes)).split()
    uids = sorted(int(x) for x in found if int(x) > mailbox.last_uid)
    uids = uids[: batch_size()]
    sizes = _sizes(imap, uids)
    limit = max_message_bytes()
    for uid in uids:
        size = sizes.get(uid, 0)
        raw = _fetch(imap, uid, "BODY.PEEK[HEADER]" if size > limit else "BODY.PEEK[]")
        try:
            parsed = None
            if raw is not None:
                parsed = parse_headers_only(raw, size) if size > limit else parse_message(raw)
            outcome = _commit(mailbox, uid, validity, parsed)
        except Exception as err:
            # Stop here without moving past it: the message is not lost, the error is shown
            # on the mailbox, and the next poll tries it again.
            raise MailboxError(
                _("Message UID %(uid)s could not be stored: %(error)s") % {"uid": uid, "error": err}
            ) from err
        result.read += 1
        if outcome == "created":
            result.created += 1
        elif outcome == "joined":
            result.joined += 1
        elif outcome != "taken":
            result.skipped += 1


def _commit(mailbox: Mailbox, uid: int, validity: int, parsed: ParsedMail | None) -> str:
    """Store one message and move the mailbox past it in one transaction; the mailbox row's
    lock makes a second poller (another machine) wait and then skip it."""
    with transaction.atomic():
        state = (
            Mailbox.objects.select_for_update()
            .filter(pk=mailbox.pk)
            .values("last_uid", "uid_validity")
            .first()
        )
        if state is None or state["uid_validity"] != validity or state["last_uid"] >= uid:
            mailbox.last_uid = max(mailbox.last_uid, state["last_uid"] if state else 0)
            return "taken"
        outcome = ingest(parsed, mailbox) if parsed is not None else "gone"
        Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=uid)
    mailbox.last_uid = uid
    return outcome


def poll(mailbox: Mailbox) -> PollResult:
    """Read a mailbox's new messages; a failure (login, network, a message that cannot be
    stored) is written in `last_error` and ends this poll, never raised to the worker."""
    result = PollResult()
    try:
        # Where the mailbox is now (another machine may have read further since it was loaded).
        mailbox.refresh_from_db()
        imap = _connect(mailbox)
        try:
            _read(imap, mailbox, result)
        finally:
            try:
                imap.logout()
            except Exception:  # the connection may already be gone
                with contextlib.suppress(Exception):
                    imap.shutdown()
    except MailboxError as err:
        result.error = str(err)
    except imaplib.IMAP4.error as err:
        text = err.args[0] if err.args else err
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        result.error = _("The mail server refused: %(error)s") % {"error": text}
    except (OSError, ssl.SSLError) as err:
        result.error = _("Cannot reach %(host)s:%(port)s: %(error)s") % {
            "host": mailbox.host,
            "port": mailbox.port,
            "error": err,
        }
    except Exception as err:
        # Whatever else went wrong stays with this mailbox; the worker goes on with the others.
        logger.exception("mailbox %s", mailbox.address)
        result.error = _("The mailbox could not be read: %(error)s") % {"error": err}
    if result.error:
        logger.warning("mailbox %s: %s", mailbox.address, result.error)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=clock.now(), last_error=result.error[:2000]
    )
    mailbox.last_error = result.error[:2000]
    return result


def poll_mailbox(mailbox: Mailbox) -> int:
    """Read a mailbox's new messages; returns how many became requests or joined one."""
    result = poll(mailbox)
    return result.created + result.joined


def poll_all() -> dict[str, int]:
    """Read every active mailbox; one that fails does not stop the others."""
    totals = {"mailboxes": 0, "read": 0, "created": 0, "joined": 0, "skipped": 0, "errors": 0}
    for mailbox in Mailbox.objects.filter(is_active=True).order_by("pk"):
        result = poll(mailbox)
        totals["mailboxes"] += 1
        totals["read"] += result.read
        totals["created"] += result.created
        totals["joined"] += result.joined
        totals["skipped"] += result.skipped
        totals["errors"] += 1 if result.error else 0
    return totals


# --- outgoing --------------------------------------------------------------------------------------


def _reply_to(team_id: int) -> list[str]:
    """Customers' answers go to the team's inbound mailbox, where they are read back."""
    address = (
        Mailbox.objects.filter(team_id=team_id, is_active=True)
        .order_by("pk")
        .values_list("address", flat=True)
        .first()
    )
    return [address] if address else []


def _language(request: InboundRequest) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    return request.language if request.language in codes else settings.LANGUAGE_CODE


def _customer_thread(request: InboundRequest) -> tuple[str, list[str]]:
    """(the customer's last message, the thread's ids oldest first) for threading headers."""
    ids: list[str] = []
    if request.channel == Channel.EMAIL and request.external_id.startswith("<"):
        ids.append(request.external_id)
    last = ids[0] if ids else ""
    for incoming, mid in (
        RequestMessage.objects.filter(request=request)
        .exclude(message_id="")
        .values_list("incoming", "message_id")
    ):
        if not mid.startswith("<"):
            continue
        if mid not in ids:
            ids.append(mid)
        if incoming:
            last = mid
    # The first and the latest ones are enough to thread (RFC 5322 keeps the list short).
    if len(ids) > 10:
        ids = [ids[0], *ids[-9:]]
    return last, ids


def _subject(request: InboundRequest, fallback: str) -> str:
    subject = re.sub(r"^\s*((re|fwd?|ответ|отв)\s*:\s*)+", "", request.subject, flags=re.I)
    subject = SUBJECT_TAG.sub("", subject).strip()
    text = f"Re: {subject}" if subject else fallback
    return clean_line(f"[№{request.number}] {text}", 250)


def _send(message: EmailMessage) -> None:
    with get_connection(fail_silently=False) as connection:
        message.connection = connection
        message.send(fail_silently=False)


def send_acknowledgement(request_id: int) -> bool:
    """Tell the customer, in his language (Russian by default), that we have his request, its
    number and what happens next; sent once only: the request is marked first (a conditional
    update), so two workers never both send; a failed send clears the mark, so running the task
    again sends it."""
    request = (
        InboundRequest.objects.select_related("team")
        .filter(pk=request_id, acknowledged_at__isnull=True)
        .exclude(email="")
        .first()
    )
    if request is None:
        return False
    claimed_at = clock.now()
    claimed = InboundRequest.objects.filter(pk=request.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=claimed_at
    )
    if not claimed:
        return False
    domain = message_id_domain()
    message_id = f"<request-{request.pk}-ack@{domain}>"
    last, thread = _customer_thread(request)
    with translation.override(_language(request)):
        greeting = _("Hello, %(name)s!") % {"name": request.name} if request.name else _("Hello!")
        body = "\n\n".join(
            [
                greeting,
                _("We have received your request and given it the number №%(number)s.")
                % {"number": request.number},
                _(
                    "What happens next: a specialist of our sales department will answer you "
                    "by %(due)s (Moscow time); we work on working days from 9:00 to 18:00."
                )
                % {"due": _when(request.first_response_due_at)}
                if request.first_response_due_at
                else _(
                    "What happens next: a specialist of our sales department will answer you "
                    "soon; we work on working days from 9:00 to 18:00."
                ),
                _(
                    "To add something, simply reply to this e-mail and keep the number "
                    "[№%(number)s] in the subject."
                )
                % {"number": request.number},
                f"--\n{request.team.name}",
            ]
        )
        subject = _subject(request, _("We have received your request"))
    headers = {
        "Message-ID": message_id,
        # RFC 3834: an answer to the customer's message, or generated for a form or a call.
        "Auto-Submitted": "auto-replied" if last else "auto-generated",
        # Exchange and others: no out-of-office answer to an automatic message.
        "X-Auto-Response-Suppress": "All",
        OUR_HEADER: str(request.pk),
    }
    if last:
        headers["In-Reply-To"] = last
        headers["References"] = " ".join(thread)
    mail = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.email],
        reply_to=_reply_to(request.team_id),
        headers=headers,
    )
    try:
        _send(mail)
    except (smtplib.SMTPException, OSError) as err:
        InboundRequest.objects.filter(pk=request.pk, acknowledged_at=claimed_at).update(
            acknowledged_at=None
        )
        logger.warning("acknowledgement of request %s not sent: %s", request.pk, err)
        return False
    with transaction.atomic():
        RequestEvent.objects.create(
            request=request,
            kind=EventKind.ACKNOWLEDGED,
            at=clock.now(),
            data={"to": request.email, "message_id": message_id},
        )
        record(
            actor=None,
            verb="inbound.acknowledged",
            obj=request,
            data={"to": request.email, "message_id": message_id},
        )
    return True


def reply(request_id: int, *, actor: User, body: str) -> RequestMessage:
    """The assignee (or the head of sales) answers the customer by e-mail: stored in the
    thread, counted as the first response, sent after commit with the threading headers so
    the customer's answer joins the request again."""
    request = InboundRequest.objects.select_related("team").filter(pk=request_id).first()
    if request is None or not policies.can_view_request(actor, request):
        raise NotFound(_("No such request."), code="request_not_found")
    if not policies.can_work_on(actor, request):
        raise Forbidden(_("This request is assigned to someone else."), code="not_assignee")
    text = clean_text((body or "").strip(), MAX_BODY + 1)
    if not text:
        raise Invalid(_("Write the reply."), code="reply_required", field="body")
    if len(text) > MAX_BODY:
        raise Invalid(
            _("The reply is too long (at most %(max)s characters).") % {"max": MAX_BODY},
            code="reply_too_long",
            field="body",
        )
    if not request.email:
        raise Conflict(
            _("The request has no e-mail address to answer: call the customer."),
            code="no_email",
        )
    now = clock.now()
    domain = message_id_domain()
    message_id = f"<request-{request.pk}-reply-{secrets.token_hex(8)}@{domain}>"
    with translation.override(_language(request)):
        subject = _subject(request, _("Your request"))
    with transaction.atomic():
        message = RequestMessage.objects.create(
            request=request,
            incoming=False,
            channel=Channel.EMAIL,
            message_id=message_id,
            sender=actor.display_name,
            subject=subject,
            body=text,
            at=now,
        )
        RequestEvent.objects.create(
            request=request,
            kind=EventKind.REPLIED,
            at=now,
            actor=actor,
            data={"message": message.pk, "to": request.email},
        )
        mark_first_response([request.pk], at=now)
        record(
            actor=actor,
            verb="inbound.replied",
            obj=request,
            data={"message": message.pk, "to": request.email},
        )
        transaction.on_commit(partial(_deliver_reply, message.pk, actor.pk))
    return message


def _deliver_reply(message_pk: int, actor_id: int) -> bool:
    """Send a stored reply; if the mail server refuses, the person who wrote it is told (the
    reply stays in the request, he can call or write again)."""
    message = RequestMessage.objects.select_related("request__team").filter(pk=message_pk).first()
    if message is None:
        return False
    request = message.request
    actor = User.objects.filter(pk=actor_id).first()
    last, thread = _customer_thread(request)
    thread = [mid for mid in thread if mid != message.message_id]
    if last == message.message_id:
        last = thread[-1] if thread else ""
    signature = "\n".join(x for x in (actor.display_name if actor else "", request.team.name) if x)
    headers = {"Message-ID": message.message_id, OUR_HEADER: str(request.pk)}
    if last:
        headers["In-Reply-To"] = last
        headers["References"] = " ".join(thread)
    _name, address = email.utils.parseaddr(settings.DEFAULT_FROM_EMAIL)
    sender = (
        email.utils.formataddr((actor.display_name, address))
        if actor
        else settings.DEFAULT_FROM_EMAIL
    )
    mail = EmailMessage(
        subject=message.subject,
        body=f"{message.body}\n\n--\n{signature}",
        from_email=sender,
        to=[request.email],
        reply_to=_reply_to(request.team_id),
        headers=headers,
    )
    try:
        _send(mail)
    except (smtplib.SMTPException, OSError) as err:
        logger.warning("reply %s to request %s not sent: %s", message.pk, request.pk, err)
        from otdel.inbound.assign import request_url
        from otdel.people.services import notify

        try:
            url = request_url(request.pk)
        except Exception:  # the pages may not be mounted (a worker)
            url = ""
        notify(
            [actor_id],
            kind="inbound_reply_failed",
            client_id=request.client_id,
            url=url,
            text=_("Request №%(number)s: your e-mail to %(email)s was not sent: %(error)s")
            % {"number": request.number, "email": request.email, "error": err},
        )
        return False
    return True


# --- setting up ------------------------------------------------------------------------------------

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


def add_mailbox(
    team_id: int,
    *,
    actor: User,
    address: str,
    host: str,
    port: int = 993,
    use_ssl: bool = True,
    username: str,
    password_env: str,
    folder: str = "INBOX",
) -> Mailbox:
    """The head of sales connects a team's inbound mailbox; its password stays in the server's
    environment under the variable named here (never in the database)."""
    if not policies.can_edit_routing(actor, team_id):
        raise Forbidden(_("Only the head of sales connects mailboxes."), code="not_head_of_sales")
    try:
        address = clean_email(address)
    except ValidationFailure as err:
        raise Invalid(str(err), code="invalid_address", field="address") from err
    host = (host or "").strip().lower()
    if not host or len(host) > 200 or not re.fullmatch(r"[a-z0-9.\-:\[\]]+", host):
        raise Invalid(_("Enter the IMAP server's name."), code="invalid_host", field="host")
    if not 1 <= int(port) <= 65535:
        raise Invalid(_("The port is from 1 to 65535."), code="invalid_port", field="port")
    username = (username or "").strip()
    if not username or len(username) > 200:
        raise Invalid(_("Enter the user name."), code="invalid_username", field="username")
    password_env = (password_env or "").strip()
    if not ENV_NAME.fullmatch(password_env):
        raise Invalid(
            _(
                "Name the environment variable that holds the password (capital Latin letters, "
                "digits and _, e.g. OTDEL_MAILBOX_SALES_PASSWORD), not the password itself."
            ),
            code="invalid_password_env",
            field="password_env",
        )
    folder = (folder or "").strip() or "INBOX"
    if len(folder) > 100 or _CONTROL.search(folder):
        raise Invalid(_("Enter the folder's name."), code="invalid_folder", field="folder")
    with transaction.atomic():
        # Two heads connecting the same box at the same instant would make two rows that read
        # the same messages; the Message-IDs keep that harmless, so a plain check is enough.
        if Mailbox.objects.filter(
            Q(host=host, username=username, folder=folder), is_active=True
        ).exists():
            raise Conflict(_("This mailbox is already connected."), code="mailbox_exists")
        mailbox = Mailbox.objects.create(
            team_id=team_id,
            address=address,
            host=host,
            port=int(port),
            use_ssl=bool(use_ssl),
            username=username,
            password_env=password_env,
            folder=folder,
        )
        record(
            actor=actor,
            verb="inbound.mailbox_added",
            obj=mailbox,
            data={
                "address": address,
                "host": host,
                "port": int(port),
                "use_ssl": bool(use_ssl),
                "username": username,
                "password_env": password_env,
                "folder": folder,
            },
        )
    return mailbox


def _when(value: dt.datetime | None) -> str:
    return formats.date_format(value.astimezone(clock.MOSCOW), "j E, H:i") if value else ""
