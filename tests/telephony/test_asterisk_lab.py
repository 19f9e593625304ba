"""A real Asterisk 22 (../shared/telephony-lab): the live AMI listener and the CDR importer
store the same calls, matched to the right people and clients; the listener is killed and
restarted mid-run and loses and doubles nothing; re-importing changes nothing. Besides the lab's
plan, manager 101 places three click-to-calls through otdel's own click_to_call.place_call (the
lab cannot originate: the hook does): their talk time starts when the client answered, and a
client who never answered or was busy is not an answered call, live and from the files alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from otdel.activities.models import Activity, Call
from otdel.clients.models import ContactPhone
from otdel.clients.normalize import normalize_phone
from otdel.core import clock
from otdel.people.models import Role
from otdel.telephony.models import PhoneAccount
from otdel.telephony.providers.asterisk.cdr import records_from_file
from otdel.telephony.providers.asterisk.cel import answers_from_file
from tests.factories import make_client, make_head, make_team, make_user

pytestmark = pytest.mark.telephony

LAB = Path(os.environ.get("OTDEL_TELEPHONY_LAB", "/work/shared/telephony-lab/pbx-lab.sh"))
LAB_ROOT = os.environ.get("PBX_LAB_ROOT", "/tmp/pbx-lab-root")  # noqa: S108 (the lab's default)
SOURCE = "lab"
# What the script prints when this machine cannot run it at all (then the test is skipped).
CANNOT_RUN = (
    "run as root",
    "no Debian mirror found",
    "installing mmdebstrap",
    "mmdebstrap",
    "unknown time zone",
)

CDR_FILES = {
    "cdr-csv-Master.csv": "csv",
    "cdr-custom-Master.csv": "custom-csv",
    "cdr.jsonl": "jsonl",
}
CEL_FILES = ("cel.jsonl", "cel-custom-Master.csv")
PBX_LOG = f"{LAB_ROOT}/var/lib/pbx-lab/pbx/log"
# Click-to-calls by 101 (the lab's sim: ...0777 answers after 3 s and hangs up after its talk
# time, 15 s in quick mode; ...0408 never answers; ...0486 is busy) and what must be stored.
CLICK_TO_CALLS = {"+79161230777": "answered", "+79161230408": "no_answer", "+79161230486": "busy"}
CLIENT_TALK = 15


def _db_env() -> dict[str, str]:
    """Point a subprocess at the test database this test writes to."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        path = Path(db["NAME"])
        return {"OTDEL_VAR_DIR": str(path.parent), "OTDEL_SQLITE_NAME": path.name}
    user, password = db.get("USER") or "", db.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return {
        "DATABASE_URL": f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    }


def _manage(*args: str) -> str:
    return shlex.join([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args])


def _place_calls(actor_id: int, phone_ids: list[int]) -> str:
    """otdel's click-to-call, as the "Call" button runs it, for each of the phones."""
    code = (
        "from otdel.people.models import User\n"
        "from otdel.telephony.click_to_call import place_call\n"
        f"actor = User.objects.get(pk={actor_id})\n"
        f"for phone in {phone_ids!r}:\n"
        "    print('placed', place_call(phone, actor=actor).number, flush=True)\n"
    )
    return _manage("shell", "-c", code)


def _hook(state: Path, click_to_call: str) -> str:
    """The listener as the lab's hook: started, SIGKILLed after 12 s while calls are up,
    restarted 8 s later (calls ended meanwhile come from the catch-up file, the answers heard by
    the killed one from the CEL file); the click-to-calls are placed 1 s after it starts."""
    listen = _manage(
        "asterisk_listen",
        "--source",
        SOURCE,
        "--catch-up",
        f"{PBX_LOG}/cdr-custom/cdr.jsonl",
        "--catch-up-cel",
        f"{PBX_LOG}/cel-custom/cel.jsonl",
        "--catch-up-state",
        str(state),
    )
    args = '--host "$PBX_LAB_AMI_HOST" --port "$PBX_LAB_AMI_PORT" --user "$PBX_LAB_AMI_USER"'
    ami = (
        'export OTDEL_ASTERISK_AMI_SECRET="$PBX_LAB_AMI_SECRET" '
        'OTDEL_ASTERISK_AMI_HOST="$PBX_LAB_AMI_HOST" OTDEL_ASTERISK_AMI_PORT="$PBX_LAB_AMI_PORT" '
        f'OTDEL_ASTERISK_AMI_USER="$PBX_LAB_AMI_USER" OTDEL_ASTERISK_SOURCE={SOURCE}; '
    )
    return (
        f"{ami}{listen} {args} & P=$!; (sleep 1; {click_to_call}) & "
        "sleep 12; echo '=== KILL'; kill -9 $P; sleep 8; "
        f"echo '=== RESTART'; exec {listen} {args}"
    )


def _run_lab(out: Path, hook: str) -> None:
    if not LAB.exists():
        pytest.skip(f"the telephony lab is not on this machine ({LAB})")
    if os.geteuid() != 0:
        pytest.skip("pbx-lab.sh must run as root (it builds a chroot); this run is not root")
    env = {
        **os.environ,
        **_db_env(),
        "PBX_LAB_QUICK": "1",
        "PBX_LAB_ROOT": LAB_ROOT,
        # PBX_LAB_NETNS=1: the lab in a private network namespace (its hook, our listener,
        # too), so runs on one machine cannot meet; the database must then be a file (SQLite).
        "PBX_LAB_NETNS": os.environ.get("PBX_LAB_NETNS", "0"),
        "PBX_LAB_HOOK": hook,
    }
    done = subprocess.run(
        [str(LAB), str(out)], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        if any(reason in done.stderr for reason in CANNOT_RUN) and not (out / "plan.tsv").exists():
            pytest.skip("pbx-lab.sh cannot run here: " + " / ".join(said[-5:]))
        pytest.fail(f"pbx-lab.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")


def _plan(out: Path) -> list[dict[str, str]]:
    with open(out / "plan.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _their_number(row: dict[str, str]) -> str:
    if row["kind"] == "inbound":
        return row["callerid"].split("<")[1].rstrip(">")
    return row["dialled"]


def _facts(call) -> tuple:
    return (
        call.started_at,
        call.direction,
        call.disposition,
        call.talk_seconds,
        call.ring_seconds,
        call.answered_at,
        call.account,
        call.their_number,
    )


@pytest.mark.django_db(transaction=True)
def test_real_asterisk_calls_arrive_live_and_from_the_files_as_the_same_facts(tmp_path):
    team = make_team("Лаборатория")
    head = make_head(team, username="lab-head")
    people = {
        ext: make_user(Role.HUNTER, team=team, username=f"lab-{ext}")
        for ext in ("101", "102", "103")
    }
    for ext, user in people.items():
        PhoneAccount.objects.create(source=SOURCE, account=ext, user=user)
    # Only the outbound answered call over the threshold to a client of the caller's base may
    # be effective; quick mode talks 8-35 s, so the team's threshold sits between c02 and c01.
    from otdel.activities.call_policy_services import publish_call_policy

    publish_call_policy(
        team.pk,
        document={"min_talk_seconds": 30},
        effective_from=clock.now(),
        actor=head,
    )

    out = tmp_path / "lab"
    # The clients, in the base of the manager who calls them or whom they call; c09's number
    # (84951120408) is nobody's: an unknown caller.
    plan_numbers = {
        "+79161110001": "101",
        "89161110002": "101",
        "79161110003": "102",
        "84951110486": "102",
        "89161110408": "103",
        "+79161110777": "103",
        "79161120408": "102",
        **dict.fromkeys(CLICK_TO_CALLS, "101"),
    }
    clients = {
        normalize_phone(number): make_client(
            head, team=team, owner=people[ext], phones=[number], name=f"ООО {number}"
        )
        for number, ext in plan_numbers.items()
    }

    phones = [
        ContactPhone.objects.get(client=clients[normalize_phone(number)]).pk
        for number in CLICK_TO_CALLS
    ]
    _run_lab(out, _hook(tmp_path / "catch-up.json", _place_calls(people["101"].pk, phones)))
    plan = _plan(out)
    hook_log = (out / "hook.log").read_text()
    expected_calls = len(plan) + len(CLICK_TO_CALLS)

    # --- live: every planned call exactly once, despite the kill -9 and the restart ----------
    assert "=== KILL" in hook_log and "=== RESTART" in hook_log, hook_log
    assert hook_log.count("placed +7916123") == len(CLICK_TO_CALLS), hook_log
    live = {c.external_id: c for c in Call.objects.filter(source=SOURCE)}
    assert len(live) == expected_calls, hook_log
    assert hook_log.count("via ami") >= 5, hook_log  # most came live, not from the catch-up

    # --- the files: all three formats, with either CEL file, give the listener's facts --------
    for cel in CEL_FILES:
        answers = answers_from_file(str(out / cel), zone=ZoneInfo("Europe/Moscow"))
        for name, fmt in CDR_FILES.items():
            from_file = {
                r.external_id: r
                for r in records_from_file(str(out / name), fmt=fmt, source=SOURCE, answers=answers)
            }
            assert {k: _facts(r) for k, r in from_file.items()} == {
                k: _facts(c) for k, c in live.items()
            }, (name, cel)

    # --- each planned call: direction, result, talk time, person, client ----------------------
    by_key = {(c.direction, c.account, c.their_number): c for c in live.values()}
    expected_result = {
        "c01": "answered",
        "c02": "answered",
        "c03": "answered",
        "c04": "busy",
        "c05": "no_answer",
        "c06": "answered",
        "c07": "answered",
        "c08": "no_answer",
        "c09": "abandoned",
        "c10": "answered",
    }
    kinds = {"outbound": "out", "inbound": "in", "internal": "internal"}
    for row in plan:
        account = (
            row["dialled"][-3:] if row["kind"] == "inbound" else row["sim_endpoint"].split("-")[1]
        )
        call = by_key[(kinds[row["kind"]], account, _their_number(row))]
        assert call.disposition == expected_result[row["id"]], row
        assert call.user == people[account], row
        if call.disposition == "answered":
            hangs_up = re.search(r"hangs up after (\d+) s", row["expected"])
            talk = int(hangs_up.group(1)) if hangs_up else int(row["talk_s"])
            assert abs(call.talk_seconds - talk) <= 2, (row, call.talk_seconds)
        else:
            assert call.talk_seconds == 0, row
        if row["kind"] == "internal":
            assert call.client is None
        elif row["id"] == "c09":
            assert call.client is None  # unknown caller
        else:
            assert call.client == clients[normalize_phone(_their_number(row))], row
    # --- click-to-call: his phone answered first; the client's answer starts the talk ---------
    billsec = {
        r.external_id: r.talk_seconds  # the CDR alone: counted from his answer
        for r in records_from_file(str(out / "cdr.jsonl"), fmt="jsonl", source=SOURCE)
    }
    for number, result in CLICK_TO_CALLS.items():
        call = by_key[("out", "101", number)]
        assert (call.disposition, call.user, call.client) == (
            result,
            people["101"],
            clients[normalize_phone(number)],
        ), number
        if result == "answered":
            assert abs(call.talk_seconds - CLIENT_TALK) <= 2, call.talk_seconds
            # The client's ringing (3 s) is not talk, though the CDR's billsec counts it.
            assert billsec[call.external_id] >= call.talk_seconds + 2, billsec
            assert call.answered_at >= call.started_at + dt.timedelta(seconds=6)  # not his +4 s
        else:
            assert (call.talk_seconds, call.answered_at) == (0, None), number

    c01 = by_key[("out", "101", "+79161110001")]
    effective = [c.external_id for c in Call.objects.filter(source=SOURCE, effective=True)]
    assert effective == [c01.external_id]

    # --- re-importing every file changes nothing -----------------------------------------------
    snapshot = list(Call.objects.order_by("id").values())
    activities = list(Activity.objects.order_by("id").values())
    for name, fmt in CDR_FILES.items():
        report = io.StringIO()
        call_command(
            "asterisk_import_cdr",
            str(out / name),
            "--format",
            fmt,
            "--cel",
            str(out / "cel.jsonl"),
            "--source",
            SOURCE,
            stdout=report,
        )
        assert f"0 new, {expected_calls} already known" in report.getvalue(), report.getvalue()
    assert list(Call.objects.order_by("id").values()) == snapshot
    assert list(Activity.objects.order_by("id").values()) == activities
