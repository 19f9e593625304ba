"""Real mail servers on loopback for the e-mail channel's tests: aiosmtpd accepts SMTP and
delivers into a Maildir per address; Debian's dovecot serves those Maildirs over IMAP (plain
with STARTTLS, and IMAPS) with a self-signed certificate. Started once per test session on
free ports with a generated configuration under a temporary directory, stopped at the end.

`./bin/test` installs dovecot (Debian's dovecot-imapd) when it is missing; without it these
tests fail with a message saying so, never skip."""

from __future__ import annotations

import ctypes
import email
import email.policy
import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
START_TIMEOUT = 20.0
# The kinds of account tests ask for, made before the servers start (see MailServers.prepare).
POOLS = (("sales", "otdel.test"), ("buyer", "example.ru"))
_seq = itertools.count(1)


def free_port() -> int:
    """A TCP port nobody listens on at the moment (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MailServers:
    """The running servers and their accounts; tests make fresh accounts with `account`."""

    root: Path
    mail_uid: int
    mail_gid: int
    cafile: Path = field(init=False)
    smtp_port: int = 0
    imap_port: int = 0
    imaps_port: int = 0
    passwords: dict[str, str] = field(default_factory=dict)
    pool: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.cafile = self.root / "tls" / "cert.pem"

    # accounts -------------------------------------------------------------------------------

    def maildir(self, address: str) -> Path:
        return self.root / "mail" / address.lower() / "Maildir"

    def _register(self, address: str, password: str) -> None:
        address = address.lower()
        home = self.maildir(address).parent
        for sub in ("cur", "new", "tmp"):
            (self.maildir(address) / sub).mkdir(parents=True, exist_ok=True)
        for path in (home, self.maildir(address), *self.maildir(address).iterdir()):
            os.chown(path, self.mail_uid, self.mail_gid)
        with self.lock:
            self.passwords[address] = password

    def _write_passwd(self) -> None:
        with self.lock:
            lines = "".join(f"{a}:{{PLAIN}}{p}\n" for a, p in sorted(self.passwords.items()))
            tmp = self.root / "passwd.tmp"
            tmp.write_text(lines)
            tmp.replace(self.root / "passwd")

    @staticmethod
    def _new_address(local: str, domain: str) -> tuple[str, str]:
        n = next(_seq)
        return f"{local}-{os.getpid()}-{n}@{domain}", f"pw-{n}-{os.urandom(4).hex()}"

    def prepare(self, local: str, domain: str, count: int) -> None:
        """Accounts made before dovecot starts (it re-reads its passwd file at most once a
        second, so an account added during the run may be unknown for up to a second)."""
        pool = self.pool.setdefault((local, domain), [])
        for _ in range(count):
            address, password = self._new_address(local, domain)
            self._register(address, password)
            pool.append((address, password))
        self._write_passwd()

    def account(self, local: str, domain: str) -> tuple[str, str]:
        """A fresh address and password (a test never sees another test's mail)."""
        pool = self.pool.get((local, domain))
        if pool:
            return pool.pop(0)
        address, password = self._new_address(local, domain)
        self._register(address, password)
        self._write_passwd()
        deadline = time.monotonic() + 5
        while True:  # until dovecot has re-read its passwd file
            try:
                self.imap(address).logout()
                return address, password
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # delivery (called by the SMTP server's thread) ------------------------------------------

    def deliver(self, rcpt: str, raw: bytes, mail_from: str) -> None:
        """Write the message into the recipient's Maildir the way an MTA does: tmp/ first, then
        renamed into new/, with Return-Path and Delivered-To on top."""
        target = self.maildir(rcpt)
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(_seq)}.otdel-test"
        top = f"Return-Path: <{mail_from}>\nDelivered-To: {rcpt}\n".encode()
        data = top + raw.replace(b"\r\n", b"\n")
        tmp = target / "tmp" / name
        tmp.write_bytes(data)
        os.chown(tmp, self.mail_uid, self.mail_gid)
        tmp.rename(target / "new" / name)

    # clients ---------------------------------------------------------------------------------

    def send(self, message: EmailMessage | bytes, *, mail_from: str, to: list[str]) -> None:
        """Send over SMTP to the loopback server (delivered when this returns)."""
        raw = message.as_bytes() if isinstance(message, EmailMessage) else message
        # smtplib sends bytes as they are: SMTP wants CRLF line ends.
        raw = re.sub(rb"\r?\n", b"\r\n", raw)
        with smtplib.SMTP(
            "127.0.0.1", self.smtp_port, local_hostname="localhost", timeout=10
        ) as smtp:
            smtp.sendmail(mail_from, to, raw)

    def imap(self, address: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        imap.login(address, self.passwords[address.lower()])
        return imap

    def read_all(self, address: str) -> list[EmailMessage]:
        """Every message in the address's INBOX, read back over IMAP."""
        imap = self.imap(address)
        try:
            imap.select("INBOX", readonly=True)
            _status, data = imap.uid("SEARCH", "ALL")
            found = []
            for uid in data[0].split():
                _status, parts = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                raw = next(p[1] for p in parts if isinstance(p, tuple))
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
            return found
        finally:
            imap.logout()


class MaildirHandler:
    """aiosmtpd handler: known recipients only; each message into each recipient's Maildir."""

    def __init__(self, servers: MailServers) -> None:
        self.servers = servers

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() not in self.servers.passwords:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        for rcpt in envelope.rcpt_tos:
            self.servers.deliver(rcpt.lower(), raw, envelope.mail_from or "")
        return "250 2.0.0 Delivered"


def _mail_owner() -> tuple[int, int, str, str, str]:
    """Who owns the Maildirs and runs dovecot's helpers (uid, gid, internal user and group,
    login user): the current user; as root, Debian's `dovecot` user (dovecot refuses mail
    access as root) and `dovenull` for the login processes."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(me.pw_gid).gr_name
        return me.pw_uid, me.pw_gid, me.pw_name, group, me.pw_name
    mail = pwd.getpwnam("dovecot")
    return mail.pw_uid, mail.pw_gid, "dovecot", grp.getgrgid(mail.pw_gid).gr_name, "dovenull"


def _certificate(directory: Path) -> None:
    """A self-signed certificate for 127.0.0.1 (the tests trust it as their CA file)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _config(servers: MailServers) -> str:
    _uid, _gid, internal_user, internal_group, login_user = _mail_owner()
    root = servers.root
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
instance_name = otdel-test-{servers.imap_port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {servers.mail_uid}
last_valid_uid = {servers.mail_uid}
first_valid_gid = {servers.mail_gid}
mail_location = maildir:{root}/mail/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={servers.mail_uid} gid={servers.mail_gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {servers.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {servers.imaps_port}
    ssl = yes
  }}
}}
"""


def _wait_ready(servers: MailServers, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", servers.imap_port), timeout=2) as s:
                if s.recv(64).startswith(b"* OK"):
                    context = ssl.create_default_context(cafile=str(servers.cafile))
                    with (
                        socket.create_connection(
                            ("127.0.0.1", servers.imaps_port), timeout=2
                        ) as raw,
                        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
                    ):
                        return tls.recv(64).startswith(b"* OK")
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _die_with_parent() -> None:
    """In the child before exec: dovecot gets SIGTERM if the test process dies without its
    teardown (killed), so no server outlives the run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _start_dovecot(servers: MailServers) -> subprocess.Popen[bytes]:
    if not os.path.exists(DOVECOT):
        pytest.fail(
            "dovecot is not installed: the e-mail tests need Debian's IMAP server. "
            "./bin/test installs it (apt-get install dovecot-imapd); install it and run again.",
            pytrace=False,
        )
    log = servers.root / "dovecot.log"
    last_error = ""
    for _attempt in range(3):
        servers.imap_port, servers.imaps_port = free_port(), free_port()
        conf = servers.root / "dovecot.conf"
        conf.write_text(_config(servers))
        log.write_text("")
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(servers.root / "dovecot.stderr", "wb"),  # noqa: SIM115
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        if _wait_ready(servers, process):
            return process
        _stop(process)
        last_error = (
            log.read_text(errors="replace")[-3000:]
            + (servers.root / "dovecot.stderr").read_text(errors="replace")[-2000:]
        )
        if "in use" not in last_error:
            break
    pytest.fail(f"dovecot did not start on 127.0.0.1:\n{last_error}", pytrace=False)


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """aiosmtpd + dovecot on loopback for the whole session."""
    uid, gid, *_names = _mail_owner()
    root = Path(tempfile.mkdtemp(prefix="otdel-mail-"))
    # The mail user (dovecot's, when we are root) must reach the Maildirs under it.
    root.chmod(0o755)
    for sub in ("mail", "run", "state"):
        (root / sub).mkdir()
    os.chown(root / "mail", uid, gid)
    servers = MailServers(root=root, mail_uid=uid, mail_gid=gid)
    (root / "passwd").write_text("")
    for local, domain in POOLS:
        servers.prepare(local, domain, 60)
    _certificate(root / "tls")
    process = _start_dovecot(servers)
    controller = None
    try:
        for _attempt in range(3):
            servers.smtp_port = free_port()
            controller = Controller(
                MaildirHandler(servers), hostname="127.0.0.1", port=servers.smtp_port
            )
            try:
                controller.start()
                break
            except Exception:
                controller = None
        if controller is None:
            pytest.fail("the SMTP server (aiosmtpd) did not start on 127.0.0.1", pytrace=False)
        yield servers
    finally:
        if controller is not None:
            controller.stop()
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)
