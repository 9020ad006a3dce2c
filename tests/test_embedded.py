"""The embedded launcher: one reference server child process per Python process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import scaled

from lume_widget.embedded import EmbeddedServer, embedded_server, stop_embedded_server
from lume_widget.errors import ConfigurationError


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LUME_DATA_DIR", str(tmp_path))
    for name in ("LUME_API_KEY", "LUME_EMAIL", "LUME_PASSWORD", "LUME_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    stop_embedded_server()
    yield tmp_path
    stop_embedded_server()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_embedded_server_starts_once_and_serves(isolated_env: Path) -> None:
    started = time.monotonic()
    server = embedded_server()
    elapsed = time.monotonic() - started
    assert embedded_server() is server
    assert elapsed < scaled(15)
    assert server.db == str(isolated_env / "embedded.sqlite3")
    assert Path(server.db).exists()
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200
    login = httpx.post(
        server.url + "/api/v1/auth/login",
        json={"email": server.email, "password": server.password},
        headers={"X-API-Key": server.api_key},
    )
    assert login.status_code == 200
    text = repr(server)
    assert server.password not in text
    assert server.api_key not in text
    assert server.admin_token not in text


def test_embedded_server_uses_the_client_environment(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUME_API_KEY", "key-from-env")
    monkeypatch.setenv("LUME_EMAIL", "someone@example.org")
    monkeypatch.setenv("LUME_PASSWORD", "a-long-password")
    server = embedded_server()
    assert (server.api_key, server.email, server.password) == (
        "key-from-env",
        "someone@example.org",
        "a-long-password",
    )
    login = httpx.post(
        server.url + "/api/v1/auth/login",
        json={"email": "someone@example.org", "password": "a-long-password"},
        headers={"X-API-Key": "key-from-env"},
    )
    assert login.status_code == 200


def test_embedded_server_bad_settings_raise_configuration_error(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUME_PASSWORD", "short")
    with pytest.raises(ConfigurationError) as caught:
        embedded_server()
    assert "at least 8 characters" in str(caught.value)


def test_embedded_server_concurrent_callers_share_one_process(isolated_env: Path) -> None:
    results: list[EmbeddedServer] = []

    def call() -> None:
        results.append(embedded_server())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert len({id(r) for r in results}) == 1
    assert len({r.pid for r in results}) == 1


def test_embedded_server_restarts_after_the_child_dies(isolated_env: Path) -> None:
    first = embedded_server()
    os.kill(first.pid, signal.SIGKILL)
    # The process is reaped only once all its threads are gone: ask until it is.
    deadline = time.monotonic() + scaled(10)
    second = embedded_server()
    while second.pid == first.pid and time.monotonic() < deadline:
        time.sleep(0.02)
        second = embedded_server()
    assert second.pid != first.pid
    assert httpx.get(second.url + "/healthz").status_code == 200


def test_embedded_server_dies_with_its_parent(tmp_path: Path) -> None:
    script = (
        "import sys; from lume_widget.embedded import embedded_server; "
        "print(embedded_server().pid, flush=True); sys.stdin.read()"
    )
    env = {**os.environ, "LUME_DATA_DIR": str(tmp_path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).parents[1],
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _pid_alive(child_pid)
    parent.kill()  # no atexit: only the closed stdin pipe tells the child
    parent.wait()
    parent.stdout.close()
    assert parent.stdin is not None
    parent.stdin.close()
    deadline = time.monotonic() + scaled(15)
    while _pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(child_pid)


def test_embedded_module_loads_neither_client_nor_web_stack() -> None:
    code = (
        "import sys, lume_widget.embedded; "
        "bad = [m for m in sys.modules if m.startswith(('lume_widget.client', 'lume_widget.widget', "
        "'uvicorn', 'starlette', 'httpx', 'websockets'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    assert result.returncode == 0, result.stdout + result.stderr
