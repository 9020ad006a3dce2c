"""The embedded default backend: one reference server per Python process, started on demand.

``embedded_server()`` starts ``python -m lume_widget.server`` as a child process on a free
loopback port the first time it is called, waits until the server says it is listening
and ``/healthz`` answers, and returns its address and credentials; later calls return
the same server. The child uses the same credentials as the client (``LUME_API_KEY``,
``LUME_EMAIL``, ``LUME_PASSWORD`` or the shared defaults), keeps its data in a per-user
SQLite file so chats survive restarts, and stops when this process exits (it also
watches its standard input, so it dies with a parent that was killed).

This module never imports the client, the widget or the server's web stack.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import IO, Any

from lume_widget.errors import ConfigurationError, ConnectionFailedError
from lume_widget.server.config import default_data_dir

__all__ = ["EmbeddedServer", "embedded_server", "stop_embedded_server"]

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class EmbeddedServer:
    """Where the embedded reference server listens, and the credentials it accepts."""

    url: str
    api_key: str = field(repr=False)
    email: str
    password: str = field(repr=False)
    admin_token: str = field(repr=False)
    pid: int = 0
    db: str = ""

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]


class _Launcher:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server: EmbeddedServer | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self.registered = False


_launcher = _Launcher()


def embedded_db_path() -> str:
    return str(default_data_dir() / "embedded.sqlite3")


def embedded_server(timeout: float = START_TIMEOUT_S) -> EmbeddedServer:
    """The reference server of this process, started (once, thread-safely) if needed.

    Raises ConfigurationError when the server refuses its settings (e.g. a password in
    LUME_PASSWORD that is too short) and ConnectionFailedError when it does not come up;
    both carry the end of the server's error output.
    """
    with _launcher.lock:
        current = _launcher.server
        if (
            current is not None
            and _launcher.process is not None
            and _launcher.process.poll() is None
        ):
            return current
        if current is not None:
            logger.warning("the embedded reference server exited; starting a new one")
            _stop_locked()
        server = _start_locked(timeout)
        _launcher.server = server
        if not _launcher.registered:
            atexit.register(stop_embedded_server)
            _launcher.registered = True
        return server


def stop_embedded_server() -> None:
    """Stop the embedded server (it finishes and stores replies in flight first)."""
    with _launcher.lock:
        _stop_locked()


def _stop_locked() -> None:
    process, _launcher.process, _launcher.server = _launcher.process, None, None
    if process is not None and process.poll() is None:
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
    if process is not None:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    if _launcher.stderr is not None:
        _launcher.stderr.close()
        _launcher.stderr = None


def _stderr_tail() -> str:
    stderr = _launcher.stderr
    if stderr is None:
        return ""
    stderr.flush()
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip()
    return text[-STDERR_TAIL_CHARS:]


def _start_locked(timeout: float) -> EmbeddedServer:
    db = embedded_db_path()
    command = [
        sys.executable,
        "-m",
        "lume_widget.server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        db,
        "--ready-json",
        "--exit-on-stdin-eof",
    ]
    # Outlives this function: kept open for the child and read for error reports.
    _launcher.stderr = tempfile.TemporaryFile()  # noqa: SIM115
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=_launcher.stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    except OSError as exc:
        raise ConnectionFailedError(
            f"could not start the embedded reference server ({exc}); "
            "run `lume-widget serve` yourself and pass its URL instead"
        ) from exc
    _launcher.process = process
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(
        target=_pump, args=(process.stdout, lines), name="lume-embedded-stdout", daemon=True
    ).start()
    deadline = started + timeout
    ready: dict[str, Any] | None = None
    while ready is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            line = lines.get(timeout=min(remaining, 0.2))
        except queue.Empty:
            if process.poll() is not None and lines.empty():
                break
            continue
        if not line:  # stdout closed: the process is exiting
            process.wait(STOP_TIMEOUT_S)
            break
        with contextlib.suppress(ValueError):
            candidate = json.loads(line)
            if isinstance(candidate, dict) and "url" in candidate:
                ready = candidate
    if ready is None:
        _fail(process, timeout)
    assert ready is not None
    server = EmbeddedServer(
        url=str(ready["url"]),
        api_key=str(ready["api_key"]),
        email=str(ready["email"]),
        password=str(ready["password"]),
        admin_token=str(ready["admin_token"]),
        pid=process.pid,
        db=db,
    )
    _wait_healthy(server.url, deadline, process)
    logger.info(
        "embedded reference server ready at %s in %.2f s", server.url, time.monotonic() - started
    )
    return server


def _pump(stream: IO[bytes] | None, lines: queue.Queue[bytes]) -> None:
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        for line in stream:
            lines.put(line)
    lines.put(b"")


def _fail(process: subprocess.Popen[bytes], timeout: float) -> None:
    code = process.poll()
    tail = _stderr_tail()
    detail = f"\n--- server output ---\n{tail}" if tail else ""
    _stop_locked()
    if code == 2:
        raise ConfigurationError(
            "the embedded reference server refused its settings (check LUME_API_KEY, "
            f"LUME_EMAIL, LUME_PASSWORD and LUME_DATA_DIR){detail}"
        )
    if code is not None:
        raise ConnectionFailedError(
            f"the embedded reference server exited with status {code} before it was ready; "
            f"run `lume-widget serve` in a terminal to see why{detail}"
        )
    raise ConnectionFailedError(
        f"the embedded reference server did not become ready within {timeout:.0f} s; "
        f"run `lume-widget serve` in a terminal to see why{detail}"
    )


def _wait_healthy(url: str, deadline: float, process: subprocess.Popen[bytes]) -> None:
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _fail(process, START_TIMEOUT_S)
        time.sleep(0.05)
