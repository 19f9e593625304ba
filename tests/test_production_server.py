"""The web application under gunicorn, as bin/serve runs it: several processes serve the pages
in Russian, and a form posted without its CSRF token is refused (nothing behind it runs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # its own SQLite file
    env.update(OTDEL_VAR_DIR=str(tmp_path), OTDEL_LOG_LEVEL="ERROR")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login/", timeout=2)  # noqa: S310 — our server
                break
            except OSError:  # not listening yet, or still starting its workers
                if process.poll() is not None:
                    pytest.fail(f"gunicorn stopped: {process.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_gunicorn_serves_the_login_page_in_russian(server):
    page = urllib.request.urlopen(server + "/login/", timeout=10)  # noqa: S310
    html = page.read().decode()
    assert page.status == 200 and 'lang="ru"' in html and "csrfmiddlewaretoken" in html


def test_a_post_without_the_csrf_token_is_refused(server):
    post = urllib.request.Request(  # noqa: S310
        server + "/login/", data=b"username=head&password=x", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(post, timeout=10)  # noqa: S310
    assert refused.value.code == 403
