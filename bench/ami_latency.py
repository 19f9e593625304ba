"""From a live AMI event to a visible call fact: the real Asterisk lab places N calls (a mix of
outbound, inbound and internal; answered, busy, unanswered), the listener (manage.py
asterisk_listen) stores them in a fresh SQLite database, and each call's delay — from the last
AMI event of the call (its last Hangup / Cdr) to the commit of its fact — is read from the
listener's log. Prints JSON (count, median, p95, max).

Needs root and the lab (../shared/telephony-lab/pbx-lab.sh), like the lab test.
Usage: .venv/bin/python bench/ami_latency.py [N]
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = Path(os.environ.get("OTDEL_TELEPHONY_LAB", "/work/shared/telephony-lab/pbx-lab.sh"))
LAB_ROOT = os.environ.get("PBX_LAB_ROOT", "/tmp/pbx-lab-root")  # noqa: S108 (the lab's default)
LATENCY = re.compile(r"stored ([0-9.]+) s after its last event")


def plan(calls: int) -> str:
    """N calls, one every 2 s, short talk times, cycling through the lab's behaviours."""
    kinds = [
        ("outbound", "phone-101", "+7916111{:04d}", '"Ivanov Ivan" <101>', 4),
        ("outbound", "phone-102", "8916111{:04d}", '"Petrova Anna" <102>', 3),
        ("outbound", "phone-103", "+79161110486", '"Sidorov Oleg" <103>', 0),
        ("inbound", "pstn", "74950000101", "<+7916112{:04d}>", 3),
        ("internal", "phone-101", "102", '"Ivanov Ivan" <101>', 2),
    ]
    lines = []
    for n in range(calls):
        kind, endpoint, dialled, callerid, talk = kinds[n % len(kinds)]
        lines.append(
            f"b{n:03d}|{2 * n}|{kind}|{endpoint}|{dialled.format(n)}|{callerid.format(n)}"
            f"|{talk}|bench"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    work = Path(tempfile.mkdtemp(prefix="otdel-ami-latency-"))
    env = {
        **os.environ,
        "OTDEL_VAR_DIR": str(work),
        "OTDEL_SQLITE_NAME": "latency.sqlite3",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    (work / "plan.txt").write_text(plan(calls))
    log = work / "listener.log"
    listen = shlex.join([*manage, "asterisk_listen", "--source", "lab"])
    hook = (
        'export OTDEL_ASTERISK_AMI_SECRET="$PBX_LAB_AMI_SECRET"; '
        f'{listen} --host "$PBX_LAB_AMI_HOST" --port "$PBX_LAB_AMI_PORT" '
        f'--user "$PBX_LAB_AMI_USER" > {shlex.quote(str(log))} 2>&1'
    )
    done = subprocess.run(
        [str(LAB), str(work / "out")],
        env={
            **env,
            "PBX_LAB_ROOT": LAB_ROOT,
            "PBX_LAB_QUICK": "1",
            "PBX_LAB_PLAN": str(work / "plan.txt"),
            "PBX_LAB_HOOK": hook,
        },
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        print(json.dumps({"status": "lab failed", "stderr": done.stderr[-2000:]}))
        sys.exit(1)
    delays = sorted(float(m.group(1)) for m in LATENCY.finditer(log.read_text()))
    if not delays:
        print(json.dumps({"status": "no calls stored", "log": log.read_text()[-2000:]}))
        sys.exit(1)
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(
        json.dumps(
            {
                "calls_planned": calls,
                "calls_stored": len(delays),
                "median_s": round(statistics.median(delays), 3),
                "p95_s": round(p95, 3),
                "max_s": round(delays[-1], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
