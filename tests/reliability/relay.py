"""A loopback TCP relay that sits between the client and the reference server and misbehaves on demand.

The reference server's own faults cover what a server does wrong; the network's faults need a
middlebox. This relay forwards bytes both ways and can, at any moment:

- ``reset()``: abort every open connection with a TCP RST (``SO_LINGER`` 0), as a crashed peer
  or a NAT that dropped its state does;
- ``blackhole()``: keep every socket open but forward nothing any more in either direction, which
  is a half-open connection as the client sees it (no FIN, no RST, just silence);
- ``refuse()``: reset every new connection as soon as it is accepted (a server that is down);
- ``slice_segments``: write each byte in its own TCP segment (``TCP_NODELAY`` and one ``send``
  per byte), so the client's HTTP and WebSocket parsers see frames cut at every possible offset;
- ``lose_response_after_first_text_frame()`` / ``lose_response_to(marker)``: let one client
  request reach the server, then throw away the server's answer and reset the client's connection,
  so the client cannot know whether its message was stored;
- ``frame_transform``: rewrite the server's WebSocket frames after the upgrade (duplicate them,
  inject binary or oversized frames). ``strip_ws_extensions`` removes the client's
  ``Sec-WebSocket-Extensions`` offer, as some proxies do, so frames travel uncompressed and a
  replayed frame is a faithful replay.
- ``tls``: terminate TLS with a given certificate, so the client speaks https and wss to a
  plain reference server behind it.

It is a test fixture, not part of the package: it uses nothing but asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FrameTransform", "RelayConnection", "TcpRelay", "encode_frame"]

FrameTransform = Callable[[int, bytes], list[tuple[int, bytes]]]
"""(opcode, payload) of one server frame -> the frames to send instead."""

logger = logging.getLogger(__name__)

_READ_SIZE = 65536


@dataclass
class RelayConnection:
    """One client connection through the relay and its upstream twin."""

    number: int
    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    server_reader: asyncio.StreamReader
    server_writer: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    blackholed: bool = False
    upgraded: bool = False
    """True once the server answered ``101 Switching Protocols`` on this connection."""
    lose_next_response: bool = False
    bytes_up: int = 0
    bytes_down: int = 0
    frame_buffer: bytearray = field(default_factory=bytearray)
    closed: bool = False


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close a socket with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked WebSocket frame, as a server sends it."""
    head = bytearray([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head.append(length)
    elif length < 2**16:
        head.append(126)
        head += struct.pack("!H", length)
    else:
        head.append(127)
        head += struct.pack("!Q", length)
    return bytes(head) + payload


def _split_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Complete unmasked frames at the start of ``buffer`` (removed from it): (first byte, payload)."""
    frames = []
    while len(buffer) >= 2:
        length = buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                break
            length = struct.unpack("!H", buffer[2:4])[0]
            offset = 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length = struct.unpack("!Q", buffer[2:10])[0]
            offset = 10
        if len(buffer) < offset + length:
            break
        frames.append((buffer[0], bytes(buffer[offset : offset + length])))
        del buffer[: offset + length]
    return frames


def _first_text_frame(data: bytes) -> bool:
    """Whether ``data`` starts with a client WebSocket text frame (FIN + opcode 1)."""
    return bool(data) and (data[0] & 0x0F) == 0x1


def _strip_extensions(data: bytes) -> bytes:
    """The request without its ``Sec-WebSocket-Extensions`` header lines."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith(b"sec-websocket-extensions:")
    ]
    return b"\r\n".join(lines) + sep + rest


class TcpRelay:
    """Forward ``127.0.0.1:<port>`` to an upstream host and port, with faults switchable at run time."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        slice_segments: bool = False,
        frame_transform: FrameTransform | None = None,
        strip_ws_extensions: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.upstream_host = upstream_host
        self.tls = tls
        """A server-side TLS context: the relay then terminates TLS (https/wss to plain upstream)."""
        self.upstream_port = upstream_port
        self.slice_segments = slice_segments
        self.frame_transform = frame_transform
        self.strip_ws_extensions = strip_ws_extensions or frame_transform is not None
        self.refusing = False
        self.connections: list[RelayConnection] = []
        self.accepted = 0
        self.refused = 0
        self.responses_lost = 0
        self._server: asyncio.Server | None = None
        self._response_marker: bytes | None = None
        self._lose_after_ws_text = False
        self.on_response_lost: Callable[[], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> int:
        """Start listening on an ephemeral loopback port and return it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the relay first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def aclose(self) -> None:
        """Stop listening and close every connection (politely: tests check the client's sockets)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for conn in list(self.connections):
            await self._close(conn, abort=False)
        tasks = [task for conn in self.connections for task in conn.tasks]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> TcpRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- faults ----------------------------------------------------------------------------

    def open_connections(self) -> list[RelayConnection]:
        return [c for c in self.connections if not c.closed]

    async def reset(self) -> int:
        """Abort every open connection with an RST on both sides; return how many there were."""
        conns = self.open_connections()
        for conn in conns:
            await self._close(conn, abort=True)
        return len(conns)

    def blackhole(self) -> int:
        """Stop forwarding on every open connection, keeping the sockets open (half-open)."""
        conns = self.open_connections()
        for conn in conns:
            conn.blackholed = True
        return len(conns)

    def refuse(self, refusing: bool = True) -> None:
        """Reset (or, with ``False``, accept again) every new connection."""
        self.refusing = refusing

    def lose_response_to(self, marker: bytes) -> None:
        """Forward the next client bytes containing ``marker`` upstream, then lose the answer.

        The client's connection is reset instead of receiving the server's response, so the
        request was executed but the client cannot tell.
        """
        self._response_marker = marker

    def lose_response_after_first_text_frame(self) -> None:
        """On an upgraded WebSocket, let the next client text frame through, then lose the answer."""
        self._lose_after_ws_text = True

    # -- plumbing --------------------------------------------------------------------------

    async def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        if self.refusing:
            self.refused += 1
            _abort(client_writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            self.refused += 1
            _abort(client_writer)
            return
        self.accepted += 1
        conn = RelayConnection(
            self.accepted, client_reader, client_writer, server_reader, server_writer
        )
        for writer in (client_writer, server_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections.append(conn)
        conn.tasks = [
            asyncio.create_task(self._pump(conn, upstream=True), name=f"relay-up-{conn.number}"),
            asyncio.create_task(self._pump(conn, upstream=False), name=f"relay-down-{conn.number}"),
        ]

    async def _pump(self, conn: RelayConnection, *, upstream: bool) -> None:
        reader = conn.client_reader if upstream else conn.server_reader
        writer = conn.server_writer if upstream else conn.client_writer
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                if conn.blackholed:
                    continue  # swallowed: the peer hears nothing, and nothing is closed
                if upstream:
                    conn.bytes_up += len(data)
                    if self.strip_ws_extensions and not conn.upgraded:
                        data = _strip_extensions(data)
                    if self._response_marker is not None and self._response_marker in data:
                        self._response_marker = None
                        conn.lose_next_response = True
                    elif self._lose_after_ws_text and conn.upgraded and _first_text_frame(data):
                        self._lose_after_ws_text = False
                        conn.lose_next_response = True
                else:
                    conn.bytes_down += len(data)
                    if data.startswith(b"HTTP/1.1 101"):
                        conn.upgraded = True
                        if self.frame_transform is not None:
                            head, _, rest = data.partition(b"\r\n\r\n")
                            conn.frame_buffer += rest
                            data = head + b"\r\n\r\n"
                    elif conn.upgraded and self.frame_transform is not None:
                        conn.frame_buffer += data
                        data = b""
                    if conn.upgraded and self.frame_transform is not None:
                        data += self._transform(conn)
                    if conn.lose_next_response:
                        self.responses_lost += 1
                        logger.info("relay: lost a response on connection %d", conn.number)
                        if self.on_response_lost is not None:
                            self.on_response_lost()
                        await self._close(conn, abort=True)
                        return
                await self._write(writer, data)
        except (ConnectionError, OSError):
            pass
        finally:
            if not conn.blackholed:
                await self._close(conn, abort=False)

    def _transform(self, conn: RelayConnection) -> bytes:
        assert self.frame_transform is not None
        out = bytearray()
        for first, payload in _split_frames(conn.frame_buffer):
            opcode = first & 0x0F
            if not first & 0x80 or opcode == 0:  # fragments pass through untouched
                out += bytes([first]) + encode_frame(opcode, payload)[1:]
                continue
            for new_opcode, new_payload in self.frame_transform(opcode, payload):
                out += encode_frame(new_opcode, new_payload)
        return bytes(out)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if not data:
            return
        if not self.slice_segments:
            writer.write(data)
            await writer.drain()
            return
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0)  # let the peer read this byte on its own

    async def _close(self, conn: RelayConnection, *, abort: bool) -> None:
        """Close both sockets of ``conn`` once; the other pump ends on its own."""
        if conn.closed:
            return
        conn.closed = True
        current = asyncio.current_task()
        for writer in (conn.client_writer, conn.server_writer):
            if writer.is_closing():
                continue
            if abort:
                _abort(writer)
            else:
                writer.close()
        for task in conn.tasks:
            if task is not current and not task.done():
                task.cancel()
        if not abort:
            for writer in (conn.client_writer, conn.server_writer):
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
