"""WebSocket links (live consultation socket and legacy chat socket) over python-websockets.

:func:`open_socket` performs the upgrade with the credentials where PROTOCOL A2 says
(headers and ``?token=`` by default) on the bare origin derived from the http URL, and
translates every websockets failure into :class:`SocketFailure` carrying the refused
status. :class:`SocketLink` reads frames in a task and reports them and the close
through callbacks; it never decides anything (the session core does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from lume_widget.client.redact import redacted_logger
from lume_widget.core.settings import Settings, WsAuth
from lume_widget.core.wire import redact_url, ws_origin
from lume_widget.errors import SocketFailure

__all__ = ["SocketFailure", "SocketLink", "WsConnector", "open_socket", "socket_url"]

logger = logging.getLogger(__name__)
_ws_logger = redacted_logger("lume_widget.client.websockets")


class WsConnection(Protocol):
    """What the client needs of a WebSocket connection (python-websockets' ClientConnection)."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def __aiter__(self) -> Any: ...


WsConnector = Callable[..., Awaitable[Any]]
"""Opens a WebSocket; called like ``websockets.asyncio.client.connect(url, **options)``."""


def socket_url(http_url: str, path: str, token: str | None, ws_auth: WsAuth) -> str:
    """The socket URL on the bare origin of ``http_url``, with ``?token=`` unless headers only."""
    url = ws_origin(http_url) + path
    if token and ws_auth in ("both", "query"):
        url += f"?token={quote(token, safe='')}"
    return url


def socket_headers(headers: Mapping[str, str], ws_auth: WsAuth) -> dict[str, str]:
    """The upgrade headers: the API key always, the bearer unless query only."""
    result = {"X-API-Key": headers["X-API-Key"]}
    if ws_auth in ("both", "headers") and "Authorization" in headers:
        result["Authorization"] = headers["Authorization"]
    return result


async def open_socket(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    settings: Settings,
    connector: WsConnector | None = None,
) -> Any:
    """Open a WebSocket or raise :class:`SocketFailure`."""
    connect = connector or ws_connect
    logger.debug("opening %s", redact_url(url))
    try:
        return await asyncio.wait_for(
            connect(
                url,
                additional_headers=dict(headers),
                open_timeout=timeout,
                # one keepalive per link, and not websockets' (which would first wait out a
                # closing handshake the peer never answers): live's is the session core's app
                # ping and pong, legacy's the protocol ping of SocketLink
                ping_interval=None,
                ping_timeout=None,
                close_timeout=min(2.0, settings.connect_timeout_s),
                max_size=2**22,
                logger=_ws_logger,
            ),
            timeout,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise SocketFailure(f"upgrade refused with {status}", status) from exc
    except (InvalidHandshake, ConnectionClosed) as exc:
        raise SocketFailure(f"handshake failed ({type(exc).__name__})") from exc
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        raise SocketFailure(f"could not connect ({type(exc).__name__})") from exc


class SocketLink:
    """An open socket whose frames and close are reported through callbacks."""

    def __init__(
        self,
        connection: Any,
        on_frame: Callable[[str | bytes], None],
        on_close: Callable[[str], None],
        name: str,
        *,
        ping_interval_s: float | None = None,
        ping_timeout_s: float | None = None,
    ) -> None:
        self.connection = connection
        self._on_frame = on_frame
        self._on_close = on_close
        self._name = name
        self._reader: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        if self._ping_interval_s is not None and self._ping_timeout_s is not None:
            self._keepalive_task = loop.create_task(
                self._keepalive(self._ping_interval_s, self._ping_timeout_s)
            )

    async def _keepalive(self, interval_s: float, timeout_s: float) -> None:
        """A protocol ping every ``interval_s``; no pong within ``timeout_s`` drops the link.

        A half-open connection (the peer gone without a FIN or RST) is then reported within
        interval + timeout: the transport is aborted, so the reader ends at once with
        "connection lost" instead of waiting out a closing handshake nobody will answer.
        """
        try:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    pong = await self.connection.ping()
                except (ConnectionClosed, OSError):
                    return  # the reader reports the close
                try:
                    await asyncio.wait_for(pong, timeout_s)
                except (asyncio.TimeoutError, TimeoutError):
                    logger.info("%s socket: no pong within %g s", self._name, timeout_s)
                    transport = getattr(self.connection, "transport", None)
                    if transport is not None:
                        transport.abort()
                    return
                except ConnectionClosed:
                    return
        except asyncio.CancelledError:
            return

    async def _read(self) -> None:
        reason = "closed by the server"
        try:
            async for frame in self.connection:
                self._on_frame(frame)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            reason = f"closed ({code})" if code is not None else "connection lost"
        except OSError as exc:  # pragma: no cover - transport errors surface as ConnectionClosed
            reason = f"connection lost ({type(exc).__name__})"
        except asyncio.CancelledError:
            return
        except Exception as exc:  # the reader must end by saying how, whatever broke it
            reason = f"reader failed ({type(exc).__name__}: {exc})"
            logger.warning("%s socket reader failed", self._name, exc_info=exc)
            transport = getattr(self.connection, "transport", None)
            if transport is not None:
                transport.abort()  # nobody reads it any more: do not leave it open
        logger.info("%s socket %s", self._name, reason)
        self._on_close(reason)

    async def send(self, text: str) -> None:
        """Send a text frame; a failure closes the link (reported through ``on_close``)."""
        try:
            await self.connection.send(text)
        except (ConnectionClosed, OSError) as exc:
            logger.info("%s socket send failed: %s", self._name, type(exc).__name__)
            await self.close(abrupt=True)

    async def close(self, *, abrupt: bool = False) -> None:
        """Close the socket; ``abrupt`` drops the TCP connection without a closing handshake.

        Whatever happens (a peer that never answers the close, a cancelled task), the
        transport is closed on the way out, so no socket is left to the garbage collector.
        """
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        transport = getattr(self.connection, "transport", None)
        try:
            if abrupt and transport is not None:
                transport.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.connection.close(1001, "going away"), 2.0)
        finally:
            if transport is not None and not transport.is_closing():
                transport.abort()

    async def stop(self) -> None:
        """Stop reading and close quietly (no close report)."""
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.close()
