"""Click-to-call against a real Asterisk 22 (../shared/telephony-lab) in a real browser: the
manager clicks "Call" on the client card, the PBX rings his phone (the lab's sim answers), then
the client (a number ending 0777: the sim answers and hangs up after its talk time); the AMI
listener stores the call; the post-call card opens; he marks the outcome the policy requires and
the call shows as effective on his day."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from otdel.activities.call_policy_services import publish_call_policy
from otdel.activities.models import Call
from otdel.core import clock
from otdel.people.models import Role
from otdel.telephony.models import PhoneAccount
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = [
    pytest.mark.telephony,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


LAB = Path(os.environ.get("OTDEL_TELEPHONY_LAB", "/work/shared/telephony-lab/pbx-lab.sh"))
LAB_ROOT = os.environ.get("PBX_LAB_ROOT", "/tmp/pbx-lab-root")  # noqa: S108 (the lab's default)
SOURCE = "lab"
PASSWORD = "pass-Word-123"
CLIENT_NUMBER = "+79161230777"  # the lab's sim answers and hangs up after its talk time (15 s)
# No scripted calls of interest: one internal call between two other extensions keeps the PBX up
# (the script stops when no call is left); the test hangs it up when it is done.
KEEP_UP_PLAN = (
    'k01|0|internal|phone-103|102|"Sidorov Oleg" <103>|240|keeps the lab up for the browser\n'
)


def _db_env() -> dict[str, str]:
    """Point the listener subprocess at the test database the live server uses."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        db_path = Path(db["NAME"])
        return {"OTDEL_VAR_DIR": str(db_path.parent), "OTDEL_SQLITE_NAME": db_path.name}
    user, password = db.get("USER") or "", db.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return {
        "DATABASE_URL": f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    }


def _hook(stop_file: Path) -> str:
    """The AMI listener as the lab's hook, stopped (SIGTERM: it stores what ended) once the
    test creates `stop_file`."""
    listen = shlex.join(
        [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "asterisk_listen",
            "--source",
            SOURCE,
        ]
    )
    args = '--host "$PBX_LAB_AMI_HOST" --port "$PBX_LAB_AMI_PORT" --user "$PBX_LAB_AMI_USER"'
    stop = shlex.quote(str(stop_file))
    return (
        'export OTDEL_ASTERISK_AMI_SECRET="$PBX_LAB_AMI_SECRET"; '
        f"{listen} {args} & P=$!; "
        f"while [ ! -e {stop} ] && kill -0 $P 2>/dev/null; do sleep 0.5; done; "
        "kill -TERM $P 2>/dev/null; wait $P"
    )


def _ami_command(command: str) -> None:
    """A CLI command through the lab's AMI (to end the keep-up call early)."""
    with socket.create_connection(("127.0.0.1", 5038), timeout=5) as s:
        s.sendall(
            b"Action: Login\r\nUsername: crm\r\nSecret: crm-lab-secret\r\nEvents: off\r\n\r\n"
            + f"Action: Command\r\nCommand: {command}\r\n\r\n".encode()
            + b"Action: Logoff\r\n\r\n"
        )
        time.sleep(1)


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/(my-base|head|my-day)/"))


def test_manager_clicks_to_call_and_the_effective_call_shows_on_his_day(
    transactional_db, new_page, settings, monkeypatch, tmp_path
):
    if not LAB.exists():
        pytest.skip(f"the telephony lab is not on this machine ({LAB})")
    if os.geteuid() != 0:
        pytest.skip("pbx-lab.sh must run as root (it builds a chroot); this run is not root")
    for key, value in {
        "OTDEL_ASTERISK_AMI_HOST": "127.0.0.1",
        "OTDEL_ASTERISK_AMI_PORT": "5038",
        "OTDEL_ASTERISK_AMI_USER": "crm",
        "OTDEL_ASTERISK_AMI_SECRET": "crm-lab-secret",
        "OTDEL_ASTERISK_SOURCE": SOURCE,
    }.items():
        monkeypatch.setenv(key, value)

    team = make_team("Отдел продаж")
    head = make_head(team, username="head", last_name="Сидоров", first_name="Пётр")
    ivanov = make_user(
        Role.HUNTER, team=team, username="ivanov", last_name="Иванов", first_name="Иван"
    )
    PhoneAccount.objects.create(source=SOURCE, account="101", user=ivanov)
    client = make_client(head, team=team, owner=ivanov, phones=[CLIENT_NUMBER], name="ООО Звонок")
    # A quick call counts, if the decision maker was reached (marked on the post-call card).
    publish_call_policy(
        team.pk,
        document={"min_talk_seconds": 5, "required_outcomes": ["decision_maker_reached"]},
        effective_from=clock.now(),
        actor=head,
    )

    out = tmp_path / "lab"
    plan = tmp_path / "plan.txt"
    plan.write_text(KEEP_UP_PLAN)
    stop_file = tmp_path / "stop-listener"
    env = {
        **os.environ,
        **_db_env(),
        "PBX_LAB_QUICK": "1",
        "PBX_LAB_ROOT": LAB_ROOT,
        "PBX_LAB_PLAN": str(plan),
        "PBX_LAB_HOOK": _hook(stop_file),
    }
    lab = subprocess.Popen(
        [str(LAB), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # The listener is logged in: the PBX is up and calls will be stored.
        deadline = time.monotonic() + 180
        hook_log = out / "hook.log"
        while "login #1 accepted" not in (hook_log.read_text() if hook_log.exists() else ""):
            if lab.poll() is not None:
                pytest.fail(f"pbx-lab.sh ended early:\n{lab.stdout.read()[-4000:]}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the lab's listener never logged in"
            time.sleep(0.5)

        page = new_page()
        sign_in(page, "ivanov")
        page.goto(f"/clients/{client.pk}/")
        page.get_by_test_id("dial").click()
        page.get_by_test_id("dialing").wait_for()
        assert "dial-error" not in page.content()

        # His phone rings 4 s, the client 3 s, talks 15 s and hangs up; then the card opens.
        page.wait_for_url(re.compile(r"/calls/\d+/card/"), timeout=90_000)
        call = Call.objects.get(source=SOURCE, user=ivanov)
        assert call.client == client
        assert call.direction == "out" and call.disposition == "answered"
        assert call.talk_seconds >= 10
        assert call.effective is False  # the required outcome is not marked yet

        page.get_by_label("дозвон до ЛПР").check()
        page.get_by_test_id("save-outcomes").click()
        page.get_by_text("Исходы сохранены").wait_for()
        call.refresh_from_db()
        assert call.effective is True, call.verdict_reasons

        page.goto("/my-day/")
        row = page.get_by_test_id("calls").locator("tbody tr", has_text="ООО Звонок")
        assert "результативный" in row.inner_text()
        assert "не результативный" not in row.inner_text()
    finally:
        stop_file.touch()
        if lab.poll() is None:
            with contextlib.suppress(OSError):
                _ami_command("channel request hangup all")
        try:
            lab.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGTERM)  # the lab's trap stops what it started
            lab.wait(timeout=60)
