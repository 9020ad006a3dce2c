"""``lume-widget serve`` / ``python -m lume_widget.server``: flags, environment, output, refusals."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import scaled

from lume_widget import defaults
from lume_widget.server.cli import config_from_args, configure, refuse_public_defaults

ROOT = Path(__file__).parents[1]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def serve(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lume_widget.server", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=scaled(15))
    return out, err


def test_server_cli_ready_json_then_clean_stop() -> None:
    process = serve("--port", "0", "--db", ":memory:", "--ready-json")
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    assert set(ready) == {"url", "api_key", "email", "password", "admin_token"}
    assert ready["api_key"] == defaults.DEFAULT_API_KEY
    assert httpx.get(ready["url"] + "/healthz").status_code == 200
    started = time.monotonic()
    _, err = stop(process)
    assert process.returncode == 0, err
    assert time.monotonic() - started < scaled(10)


def test_server_cli_banner_shows_url_and_credentials(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    process = serve(
        "--port",
        "0",
        "--db",
        str(db),
        "--admin-token",
        "admin-secret",
        env={"LUME_API_KEY": "env-key", "LUME_PASSWORD": "env-password"},
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(6)]
    out, _ = stop(process)
    text = "".join(lines) + out
    assert "base URL     http://127.0.0.1:" in text
    assert "API key      env-key" in text
    assert f"demo user    {defaults.DEFAULT_EMAIL} / env-password" in text
    assert "admin token  admin-secret" in text
    assert db.exists()


def test_server_cli_refuses_public_address_with_default_credentials() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lume_widget.server", "--host", "0.0.0.0", "--db", ":memory:"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=scaled(30),
        env={k: v for k, v in os.environ.items() if not k.startswith("LUME_")},
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "--api-key" in result.stderr
    assert "--password" in result.stderr


def test_server_cli_public_address_allowed_with_own_credentials() -> None:
    config = config_from_args(
        parse("--host", "0.0.0.0", "--api-key", "k" * 20, "--password", "p" * 12)
    )
    assert refuse_public_defaults(config) is None
    config = config_from_args(parse("--host", "::1"))
    assert refuse_public_defaults(config) is None


def test_server_cli_environment_and_flags_build_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUME_API_KEY", "from-env")
    monkeypatch.setenv("LUME_EMAIL", "env@example.org")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    config = config_from_args(
        parse("--email", "flag@example.org", "--profile", "spec", "--access-ttl", "5")
    )
    assert config.api_key == "from-env"
    assert config.email == "flag@example.org"
    assert config.profile == "spec"
    assert config.access_ttl_s == 5
    assert config.openai_base_url == "http://127.0.0.1:9/v1"
    assert "from-env" not in repr(config)


def test_server_cli_fault_flags_become_faults() -> None:
    config = config_from_args(
        parse(
            "--ws-close-after-chunks",
            "3",
            "--ws-close-mode",
            "abrupt",
            "--ws-pack-events",
            "2",
            "--http-error-rate",
            "0.25",
            "--refuse-ws-upgrade",
            "403",
            "--legacy-down",
            "--rate-limit-rate",
            "0.1",
            "--rate-limit-retry-after",
            "4",
        )
    )
    assert config.faults.active() == {
        "ws_close_after_chunks": 3,
        "ws_close_mode": "abrupt",
        "ws_pack_events": 2,
        "http_error_rate": 0.25,
        "refuse_ws_upgrade": 403,
        "legacy_down": True,
        "rate_limit_rate": 0.1,
        "rate_limit_retry_after_s": 4,
    }


def test_server_cli_rejects_bad_values_with_a_reason() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lume_widget.server",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--http-error-rate",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=scaled(30),
    )
    assert result.returncode == 2
    assert "http_error_rate" in result.stderr
    assert "between 0 and 1" in result.stderr


def test_server_cli_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lume_widget.server", "--port", str(port), "--db", ":memory:"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=scaled(30),
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
