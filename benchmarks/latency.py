"""Added latency: from the server sending a reply's first chunk to the client's first chunk event and the widget's first comm message.

The reference server stamps every WebSocket event with its wall-clock time as it sends
it (nanosecond RFC 3339). Server and client share this machine's clock, so
"client saw it" minus "server sent it" is the delivery latency. The floor is the bare
``websockets`` loop parsing that same first chunk. For ours, the socket is opened
through the client's connector seam (``LumeClient.connect(ws_connector=...)``) with a
pass-through that reads the server's stamp off the first ``stream_chunk`` frame; the
time is taken when ``Consultation.stream`` yields the first ``ChunkReceived`` and when
the ChatWidget sends its first delta. Turns alternate floor, client, widget.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from benchmarks.common import Row, Skip, Target, percentile, row
from benchmarks.context import Context, require_module
from benchmarks.floor import FloorSocket, RawApi, parse_timestamp
from benchmarks.ours import bounded_close, client_turn, close_client, open_chat, open_client
from benchmarks.server import ServerHandle
from lume_widget.widget.coalescer import DEFAULT_FLUSH_MS

NAME = "latency"
CLIENT_P95_TARGET_MS = 5.0
FLUSH_WINDOW_MS = DEFAULT_FLUSH_MS
PROMPT = "/long 5"


class FirstChunkTap:
    """A pass-through WebSocket connector that notes the server's stamp on each turn's first chunk."""

    def __init__(self) -> None:
        self.first_chunk_server_wall: float | None = None
        self.first_chunk_arrival_wall: float | None = None

    def reset(self) -> None:
        self.first_chunk_server_wall = None
        self.first_chunk_arrival_wall = None

    async def connect(self, url: str, **options: Any) -> TappedConnection:
        from websockets.asyncio.client import connect

        return TappedConnection(await connect(url, **options), self)

    def saw(self, frame: str | bytes) -> None:
        if self.first_chunk_server_wall is not None or not isinstance(frame, str):
            return
        if "stream_chunk" not in frame:
            return
        arrived = time.time()
        for line in frame.split("\n"):
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") == "stream_chunk" and event.get("timestamp"):
                self.first_chunk_server_wall = parse_timestamp(event["timestamp"])
                self.first_chunk_arrival_wall = arrived
                return


class TappedConnection:
    """Forwards everything to the real connection; frames pass through :meth:`FirstChunkTap.saw`."""

    def __init__(self, connection: Any, tap: FirstChunkTap) -> None:
        self._connection = connection
        self._tap = tap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        async for frame in self._connection:
            self._tap.saw(frame)
            yield frame

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        frame = await self._connection.recv(*args, **kwargs)
        self._tap.saw(frame)
        return frame


async def _floor_samples(server: ServerHandle, turns: int) -> list[float]:
    api = RawApi(server)
    try:
        token = await api.login()
        cid = await api.create_consultation(token, persona="general_wellness")
    finally:
        await api.aclose()
    samples: list[float] = []
    async with FloorSocket(server, token, cid) as floor:
        await floor.turn(PROMPT)
        for _ in range(turns):
            turn = await floor.turn(PROMPT)
            if turn.first_chunk_wall is None or turn.first_chunk_server_wall is None:
                raise RuntimeError("the server's chunks carry no timestamp to measure from")
            samples.append(turn.first_chunk_wall - turn.first_chunk_server_wall)
    return samples


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.server", "the reference server")
    turns = ctx.size(200, 30)
    server = await ctx.server()
    floor = await _floor_samples(server, turns)
    ctx.note(f"floor p95 {percentile(floor, 95) * 1000:.2f} ms")

    tap = FirstChunkTap()
    client_samples: list[float] = []
    wire_samples: list[float] = []
    widget_samples: list[float] = []
    client_skip: str | None = None
    widget_skip: str | None = None
    client = None
    try:
        client = await open_client(server, ws_connector=tap.connect)
        chat = await open_chat(client, persona="fitness_coach")
        await client_turn(chat, PROMPT)
        for _ in range(turns):
            tap.reset()
            turn = await client_turn(chat, PROMPT)
            if tap.first_chunk_server_wall is None or turn.first_chunk_wall is None:
                raise RuntimeError(
                    f"no first chunk seen on the live socket (the turn went over {turn.reply.tier})"
                )
            client_samples.append(turn.first_chunk_wall - tap.first_chunk_server_wall)
            assert tap.first_chunk_arrival_wall is not None
            wire_samples.append(tap.first_chunk_arrival_wall - tap.first_chunk_server_wall)
        ctx.note(f"client p95 {percentile(client_samples, 95) * 1000:.2f} ms")
        try:
            widget_samples = await _widget_samples(client, tap, turns)
            ctx.note(f"widget p95 {percentile(widget_samples, 95) * 1000:.2f} ms")
        except Skip as exc:
            widget_skip = str(exc)
    except Skip as exc:
        client_skip = widget_skip = str(exc)
    finally:
        if client is not None:
            await close_client(client)

    def ms(samples: list[float], p: float) -> float | None:
        return percentile(samples, p) * 1000 if samples else None

    rows = [
        row(NAME, "floor: first chunk, p50", "ms", ms(floor, 50)),
        row(NAME, "floor: first chunk, p95", "ms", ms(floor, 95)),
        row(
            NAME,
            "client: first ChunkReceived, p50",
            "ms",
            ms(client_samples, 50),
            ms(floor, 50),
            reference_name="floor",
            skipped=client_skip,
        ),
        row(
            NAME,
            "client: first ChunkReceived, p95",
            "ms",
            ms(client_samples, 95),
            ms(floor, 95),
            reference_name="floor",
            target=Target("ours_at_most", CLIENT_P95_TARGET_MS),
            skipped=client_skip,
        ),
        row(
            NAME,
            "widget: first comm delta, p50",
            "ms",
            ms(widget_samples, 50),
            ms(floor, 50),
            reference_name="floor",
            skipped=widget_skip,
        ),
        row(
            NAME,
            "widget: first comm delta, p95",
            "ms",
            ms(widget_samples, 95),
            ms(floor, 95),
            reference_name="floor",
            target=Target(
                "ours_at_most", FLUSH_WINDOW_MS, text=f"<= {FLUSH_WINDOW_MS:g} (one flush)"
            ),
            skipped=widget_skip,
        ),
    ]
    parameters: dict[str, Any] = {"turns": turns, "prompt": PROMPT}
    if wire_samples:
        parameters["client_socket_arrival_p95_ms"] = round(percentile(wire_samples, 95) * 1000, 3)
    return rows, parameters


async def _widget_samples(client: Any, tap: FirstChunkTap, turns: int) -> list[float]:
    """The widget on the same tapped client: server's first chunk to the first delta it sends."""
    require_module("lume_widget.widget", "the ChatWidget")
    from lume_widget.errors import ConfigurationError
    from lume_widget.widget import ChatWidget

    try:
        widget = ChatWidget(client=client, persona="nutritionist")
    except ConfigurationError as exc:
        raise Skip(f"the widget cannot start: {exc}") from exc
    samples: list[float] = []
    try:
        await widget.ready()
        log = widget.record_comm()
        await widget.ask_async(PROMPT)
        for _ in range(turns):
            log.clear()
            tap.reset()
            await widget.ask_async(PROMPT)
            offset = time.time() - time.monotonic()
            deltas = log.of_kind("delta")
            if not deltas or tap.first_chunk_server_wall is None:
                raise RuntimeError("the widget's turn sent no delta over the live socket")
            samples.append(deltas[0].at + offset - tap.first_chunk_server_wall)
    finally:
        await bounded_close(widget.aclose(), "ChatWidget.aclose")
    return samples
