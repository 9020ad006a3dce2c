"""Ingest throughput: chunks/s of one long reply (pacing 0) for the bare floor, our client, and our widget.

The reference server streams ``/long N`` (N chunks, no delay between them). The floor
is a bare ``websockets`` loop that receives, ``json.loads`` and appends; ours is
``Consultation.stream`` (state machine, events, reconciliation) and the ``ChatWidget``
fed by it with a recording comm. Runs are taken in turn (floor, client, widget) so
drift on a shared machine hits all three alike; the median run is reported.

Two figures per side:

- wall rate: chunks over the time from sending to the last chunk seen. On loopback the
  server producing the chunks is often the bottleneck, so this says whether we keep
  up with it;
- CPU capacity: chunks per CPU-second of this process (the server runs in a child
  process), i.e. the rate one core could sustain if the server were infinitely fast.
  This one does not depend on the server's speed, so the targets (client >= 0.6x the
  floor, widget >= 0.5x) are judged on it; the wall ratio is reported beside it.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.common import Row, Skip, Target, row
from benchmarks.context import Context, require_module
from benchmarks.floor import FloorSocket, RawApi
from benchmarks.ours import client_turn, close_client, open_chat, open_client
from benchmarks.widget_side import widget_turn

NAME = "ingest"
CLIENT_TARGET = Target("ratio_at_least", 0.6)
WIDGET_TARGET = Target("ratio_at_least", 0.5)


def _rate(chunks: int, seconds: float) -> float:
    return chunks / seconds if seconds > 0 else float("nan")


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.server", "the reference server")
    chunks = ctx.size(20_000, 2_000)
    repeats = ctx.size(3, 1)
    server = await ctx.server()
    api = RawApi(server)
    wall: dict[str, list[float]] = {"floor": [], "client": [], "widget": []}
    cpu: dict[str, list[float]] = {"floor": [], "client": [], "widget": []}
    client_skip: str | None = None
    widget_skip: str | None = None
    reply_chars = 0
    try:
        token = await api.login()
        floor_id = await api.create_consultation(token)
        async with FloorSocket(server, token, floor_id) as floor:
            await floor.turn("/long 20")  # warm-up: imports, first connection, caches
            client = chat = None
            try:
                client = await open_client(server)
                chat = await open_chat(client)
                await client_turn(chat, "/long 20")
            except Skip as exc:
                client_skip = str(exc)
            for attempt in range(repeats):
                turn = await floor.turn(f"/long {chunks}")
                reply_chars = len(turn.text)
                if len(turn.chunks) != chunks:
                    raise RuntimeError(
                        f"the server sent {len(turn.chunks)} chunks for /long {chunks}"
                    )
                wall["floor"].append(_rate(chunks, turn.ingest_s))
                cpu["floor"].append(_rate(chunks, turn.cpu_s))
                if chat is not None:
                    ours = await client_turn(chat, f"/long {chunks}")
                    if ours.chunks != chunks or ours.text != ours.reply.text:
                        raise RuntimeError(f"the client delivered {ours.chunks} of {chunks} chunks")
                    wall["client"].append(_rate(chunks, ours.ingest_s))
                    cpu["client"].append(_rate(chunks, ours.cpu_s))
                if widget_skip is None:
                    try:
                        seen = await widget_turn(server, f"/long {chunks}")
                    except Skip as exc:
                        widget_skip = str(exc)
                    else:
                        if seen.text != seen.reply_text or seen.chunks != chunks:
                            raise RuntimeError(
                                f"the widget shows {len(seen.text)} characters of a "
                                f"{len(seen.reply_text)}-character reply ({seen.chunks} chunks)"
                            )
                        wall["widget"].append(_rate(chunks, seen.ingest_s))
                        cpu["widget"].append(_rate(chunks, seen.cpu_s))
                ctx.note(
                    f"run {attempt + 1}: "
                    + ", ".join(
                        f"{side} {wall[side][-1]:,.0f}/s wall, {cpu[side][-1]:,.0f}/CPU-s"
                        for side in wall
                        if len(wall[side]) == attempt + 1
                    )
                )
            if client is not None:
                await close_client(client)
    finally:
        await api.aclose()

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    skips = {"client": client_skip, "widget": widget_skip}
    targets = {"client": CLIENT_TARGET, "widget": WIDGET_TARGET}
    labels = {"client": "client: Consultation.stream", "widget": "widget: ChatWidget + comm"}
    rows = [
        row(NAME, "floor: bare websockets, wall", "chunks/s", median(wall["floor"])),
        row(NAME, "floor: bare websockets, CPU capacity", "chunks/CPU-s", median(cpu["floor"])),
    ]
    for side in ("client", "widget"):
        rows.append(
            row(
                NAME,
                f"{labels[side]}, wall",
                "chunks/s",
                median(wall[side]),
                median(wall["floor"]),
                reference_name="floor",
                skipped=skips[side],
                note="paced by the server on loopback; the target is judged on CPU capacity",
            )
        )
        rows.append(
            row(
                NAME,
                f"{labels[side]}, CPU capacity",
                "chunks/CPU-s",
                median(cpu[side]),
                median(cpu["floor"]),
                reference_name="floor",
                target=targets[side],
                skipped=skips[side],
            )
        )
    parameters = {
        "chunks": chunks,
        "repeats": repeats,
        "reply_chars": reply_chars,
        "wall_runs": {side: [round(v) for v in values] for side, values in wall.items()},
        "cpu_runs": {side: [round(v) for v in values] for side, values in cpu.items()},
    }
    return rows, parameters
