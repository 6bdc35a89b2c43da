"""`python -m airflow_provider_restsync.sandbox`: prints its APIs, says when it is ready, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from airflow_provider_restsync.sandbox.__main__ import READY, main, parse_secrets, secret_env_var

ROOT = Path(__file__).resolve().parent.parent


def read_until_ready(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, list[str]]:
    """The URL of the "sandbox ready on" line, and every line printed before it."""
    lines: list[str] = []
    found: list[str] = []

    def reader() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(READY):
                found.append(line.split()[-1])
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        process.kill()
        pytest.fail(f"no ready line within {timeout} s; output: {lines}")
    return found[0], lines


def test_the_command_serves_until_sigterm() -> None:
    env = {**os.environ, secret_env_var("email_service"): "env-service-key-123"}
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_restsync.sandbox", "--port", "0", "--records", "20"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url, lines = read_until_ready(process)
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        for api in ("mail_testing", "email_delivery", "communications", "inbox_testing", "email_service"):
            assert any(f"{url}/{api}" in line for line in lines)
        assert any("sandbox-only" in line for line in lines)
        assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
        servers = requests.get(
            url + "/email_service/v1/servers", params={"api_key": "env-service-key-123"}, timeout=5
        )
        assert servers.status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "sandbox stopped" in out


def test_help_lists_every_resource_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "communications  communications_data records" in out
    assert "min(records, 18000)" in out


@pytest.mark.parametrize(
    "argv",
    [["--fault-rate", "2"], ["--fault-kinds", "429,teapot"], ["--secret", "nope=x"], ["--records", "-1"]],
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_flags_override_environment_secrets() -> None:
    environ = {
        secret_env_var("communications"): "from-env-000",
        secret_env_var("email_service"): "env-1234567",
    }
    secrets = parse_secrets(["communications=from-flag-111"], environ)
    assert secrets == {"communications": "from-flag-111", "email_service": "env-1234567"}
