"""The "no secret in any log line" guard (end of tests/conftest.py) fails a run that logs a
remembered secret. Each case is a child pytest run with the guard loaded as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "leaky-" + "hunter2-" + "passphrase"  # never written whole in this file's own logs


def child_run(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "test_child.py").write_text(test_source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WATCHKEEPER_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_child.py"),
        ],
        cwd=ROOT,  # `python -m pytest` puts the working directory on sys.path: tests.* imports
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_caught(result: subprocess.CompletedProcess[str], where: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "SECRETS IN LOG LINES" in out
    assert "1 passed" in out  # the test itself passed: the guard failed the run
    assert where in out
    assert "<secret>" in out
    assert SECRET not in out  # the report does not repeat the secret


def test_a_logged_secret_fails_the_run(tmp_path: Path) -> None:
    result = child_run(
        tmp_path,
        f"""
import logging
from tests.conftest import remember_secret

def test_leaks():
    secret = remember_secret({SECRET!r})
    logging.getLogger("watchkeeper.child").debug("signing in with %s", secret)
""",
    )
    assert_caught(result, "test_child.py::test_leaks")
    assert "DEBUG watchkeeper.child: signing in with <secret>" in result.stdout


def test_a_secret_in_a_traceback_fails_the_run(tmp_path: Path) -> None:
    result = child_run(
        tmp_path,
        f"""
import logging
from tests.conftest import remember_secret

def test_leaks():
    try:
        raise ValueError("bad password " + {SECRET!r})
    except ValueError:
        logging.getLogger("x").exception("failed")
    remember_secret({SECRET!r})  # remembered after it was logged: still found
""",
    )
    assert_caught(result, "test_child.py::test_leaks")


def test_a_secret_logged_by_a_live_server_fails_the_run(tmp_path: Path) -> None:
    result = child_run(
        tmp_path,
        f"""
import logging
import httpx
from fastapi import FastAPI
from tests.conftest import remember_secret
from tests.helpers import LiveServer

app = FastAPI()

@app.get("/")
def root() -> dict[str, str]:
    logging.getLogger("watchkeeper.api").info("token %s", {SECRET!r})
    return {{}}

def test_leaks():
    remember_secret({SECRET!r})
    with LiveServer(app) as live:
        assert httpx.get(live.url).status_code == 200
""",
    )
    assert_caught(result, "test_child.py::test_leaks")


@pytest.mark.timeout(120)
def test_a_secret_printed_by_watchkeeper_up_fails_the_run(tmp_path: Path) -> None:
    """UpProcess output is scanned: `up` prints the one-time setup link, whose token is
    (for this test) a remembered secret."""
    example = ROOT / "examples" / "watchkeeper.yaml"
    result = child_run(
        tmp_path,
        f"""
from pathlib import Path
from tests.conftest import remember_secret
from tests.helpers import UpProcess

def test_leaks(tmp_path):
    with UpProcess(tmp_path, Path({str(example)!r})) as up:
        remember_secret(up.wait_for(r"setup\\?token=([\\w-]+)").group(1))
        assert up.stop() == 0
""",
    )
    assert_caught(result, "test_child.py::test_leaks (watchkeeper up output)")
    assert "/setup?token=<secret>" in result.stdout


def test_a_clean_run_passes(tmp_path: Path) -> None:
    result = child_run(
        tmp_path,
        f"""
import logging
from tests.conftest import remember_secret

def test_clean():
    secret = remember_secret({SECRET!r})
    logging.getLogger("x").info("signed in (%d characters)", len(secret))
    logging.getLogger("x").info("short values are not secrets: %s", remember_secret("abc"))
""",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SECRETS IN LOG LINES" not in result.stdout
