"""Run the reference server in a background thread: for tests, notebooks and the CLI.

``ReferenceServer(config).start()`` binds the socket first (so ``port=0`` gives a free
port that is known before the first request), runs uvicorn on its own event loop in a
daemon thread, and returns once the server is listening. ``stop()`` lets replies in
flight finish and be stored, then shuts down. Faults can be changed in-process with
``set_faults``/``clear_faults`` (the same effect as the admin route).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from lume_widget.server.app import build_app
from lume_widget.server.config import Faults, ServerConfig
from lume_widget.server.faults import FaultState

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
WS_MAX_SIZE = 1024 * 1024


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only disables Nagle on accepted sockets whose proto
    # says TCP, and without that every keep-alive response waits ~40 ms for delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class ReferenceServer:
    """A running reference server. Also a (sync or async) context manager."""

    def __init__(self, config: ServerConfig | None = None, **overrides: Any) -> None:
        base = config or ServerConfig()
        if overrides:
            from dataclasses import replace

            base = replace(base, **overrides)
        self.config = base
        self.config.validate()
        self._faults = FaultState(self.config.faults)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self.port: int = 0

    def __repr__(self) -> str:
        return f"ReferenceServer(url={self.url!r}, profile={self.config.profile!r})"

    # -- addresses and credentials ----------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL, ``http://host:port``."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The base URL of its WebSockets, ``ws://host:port``."""
        return "ws" + self.url[len("http") :]

    @property
    def api_key(self) -> str:
        """The ``X-API-Key`` every request must carry."""
        return self.config.api_key

    @property
    def email(self) -> str:
        """The demo user's email."""
        return self.config.email

    @property
    def password(self) -> str:
        """The demo user's password."""
        return self.config.password

    @property
    def admin_token(self) -> str:
        """The ``X-Admin-Token`` of the ``/admin/faults`` route."""
        return self.config.admin_token

    # -- faults ---------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The faults in force now."""
        return self._faults.current

    def set_faults(self, **faults: Any) -> Faults:
        """Merge faults in (e.g. ``set_faults(ws_close_after_chunks=3)``); ValueError if unknown."""
        return self._faults.update(faults)

    def clear_faults(self) -> Faults:
        """Turn every fault off; returns the faults now in force (none)."""
        return self._faults.reset()

    # -- life cycle -----------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_S) -> ReferenceServer:
        """Serve in a background thread; returns once it answers, within ``timeout`` seconds."""
        if self._thread is not None:
            raise RuntimeError("this ReferenceServer is already running")
        self._socket = bind_socket(self.config.host, self.config.port)
        self.port = int(self._socket.getsockname()[1])
        app = build_app(self.config, self._faults)
        uv_config = uvicorn.Config(
            app,
            # Not "info": uvicorn then logs every upgrade with its query string, and a
            # WebSocket URL may carry ?token=<access token>.
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            ws_max_size=WS_MAX_SIZE,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            timeout_graceful_shutdown=5,
            access_log=False,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._run, name="lume-reference-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self._thread.join(timeout=1)
                self._thread = None
                raise RuntimeError(
                    f"the reference server failed to start: {self._error or 'it exited'}"
                ) from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the reference server did not start within {timeout} s")
            time.sleep(0.005)
        logger.info("reference server listening on %s", self.url)
        return self

    def _run(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported to start() or logged
            self._error = exc
            logger.exception("reference server stopped with an error")
        finally:
            if self._server is not None and not self._server.started:
                self._error = self._error or RuntimeError("start-up failed (see the log)")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving and close the socket, waiting up to ``timeout`` seconds."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                logger.warning("reference server thread did not stop within %s s", timeout)
        self._thread = None
        self._server = None
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the CLI)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    @property
    def running(self) -> bool:
        """True while the server's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ReferenceServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
