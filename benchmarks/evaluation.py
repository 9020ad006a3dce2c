"""Evaluation runner: 100 conversations x 3 turns at concurrency 1, 8 and 32, vs the same script on the bare floor.

Ours is ``evaluate_async`` (scenario validation, consultations opened and closed,
expectations judged, every turn written to ``transcripts.jsonl``). The floor runs the
same conversations with bare httpx and websockets at the same concurrency: create a
consultation, open its socket, three turns, close, delete. Overhead per turn is the
turn's wall time minus the time the server itself reports for producing the reply
(``processing_time_ms``), so it is what the client side adds.

The backend allows 10 active consultations per user; to measure concurrency 32 the
benchmark's server raises that limit, and the runner is told the same limit.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from typing import Any

from benchmarks.common import Row, Skip, row
from benchmarks.context import Context, require_module
from benchmarks.floor import FloorSocket, RawApi
from benchmarks.ours import close_client, open_client
from benchmarks.server import ServerHandle

NAME = "evaluation"
TURNS = ("/long 20", "/long 20", "/long 20")
ACTIVE_LIMIT = 64


def _scenario_file(conversations: int) -> Any:
    from lume_widget.evaluation import ScenarioFile

    return ScenarioFile.model_validate(
        {
            "defaults": {"persona": "general_wellness"},
            "scenarios": [
                {
                    "name": "bench",
                    "repeat": conversations,
                    "turns": [{"say": say, "expect": {"min_chars": 1}} for say in TURNS],
                }
            ],
        }
    )


async def _floor(server: ServerHandle, conversations: int, concurrency: int) -> dict[str, float]:
    api = RawApi(server)
    token = await api.login()
    gate = asyncio.Semaphore(concurrency)
    overheads: list[float] = []
    server_times: list[float] = []

    async def conversation() -> None:
        async with gate:
            cid = await api.create_consultation(token)
            async with FloorSocket(server, token, cid) as socket:
                for say in TURNS:
                    turn = await socket.turn(say)
                    server_s = float(turn.metadata.get("processing_time_ms", 0.0)) / 1000
                    server_times.append(server_s)
                    overheads.append(turn.duration_s - server_s)
            await api.delete_consultation(token, cid)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(conversation() for _ in range(conversations)))
        wall = time.perf_counter() - started
    finally:
        await api.aclose()
    return {
        "turns_per_s": len(overheads) / wall,
        "overhead_ms": statistics.mean(overheads) * 1000,
        "server_ms": statistics.mean(server_times) * 1000,
    }


async def _ours(server: ServerHandle, conversations: int, concurrency: int) -> dict[str, float]:
    from lume_widget.evaluation import evaluate_async

    client = await open_client(server)
    try:
        with tempfile.TemporaryDirectory(prefix="lume-bench-eval-") as out:
            started = time.perf_counter()
            try:
                result = await evaluate_async(
                    _scenario_file(conversations),
                    client=client,
                    out=out,
                    concurrency=concurrency,
                    delete=True,
                    progress=False,
                    max_active=ACTIVE_LIMIT,
                )
            except NotImplementedError as exc:
                raise Skip("the evaluation runner or client is not implemented yet") from exc
            wall = time.perf_counter() - started
    finally:
        await close_client(client)
    records = result.records
    expected = conversations * len(TURNS)
    errors = [r for r in records if r.error is not None]
    if len(records) != expected or errors:
        first = errors[0].error if errors else "missing records"
        raise RuntimeError(
            f"the runner recorded {len(records)} of {expected} turns, {len(errors)} errors ({first})"
        )
    overheads = [
        (r.wall_s or 0.0) - (r.server_ms or 0.0) / 1000 for r in records if r.wall_s is not None
    ]
    server_ms = [r.server_ms for r in records if r.server_ms is not None]
    if len(overheads) != expected or len(server_ms) != expected:
        raise RuntimeError("some turn records lack the runner's wall time or the server's time")
    return {
        "turns_per_s": expected / wall,
        "overhead_ms": statistics.mean(overheads) * 1000,
        "server_ms": statistics.mean(server_ms),
    }


def _relative_note(ours: dict[str, float] | None) -> str:
    """Overhead as a multiple of the server's time, when the server's time is measurable."""
    if ours is None:
        return ""
    if ours["server_ms"] < 1.0:
        # The server reports whole milliseconds; below one the multiple means nothing.
        return "server time per turn under 1 ms (it reports whole milliseconds)"
    return (
        f"server time per turn {ours['server_ms']:.1f} ms; overhead "
        f"{ours['overhead_ms'] / ours['server_ms']:.1f}x of it"
    )


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.server", "the reference server")
    conversations = ctx.size(100, 10)
    levels = ctx.size((1, 8, 32), (1, 8))
    server = await ctx.server(max_active_consultations=ACTIVE_LIMIT)
    rows: list[Row] = []
    for level in levels:
        floor = await _floor(server, conversations, level)
        ours: dict[str, float] | None = None
        why: str | None = None
        try:
            require_module("lume_widget.evaluation", "the evaluation runner")
            ours = await _ours(server, conversations, level)
        except Skip as exc:
            why = str(exc)
        ctx.note(
            f"concurrency {level}: floor {floor['turns_per_s']:.1f} turns/s"
            + (f", runner {ours['turns_per_s']:.1f} turns/s" if ours else "")
        )
        rows.append(
            row(
                NAME,
                f"concurrency {level}: throughput",
                "turns/s",
                ours["turns_per_s"] if ours else None,
                floor["turns_per_s"],
                reference_name="floor",
                skipped=why,
            )
        )
        rows.append(
            row(
                NAME,
                f"concurrency {level}: overhead per turn over server time",
                "ms",
                ours["overhead_ms"] if ours else None,
                floor["overhead_ms"],
                reference_name="floor",
                note=_relative_note(ours),
                skipped=why,
            )
        )
    parameters = {
        "conversations": conversations,
        "turns_per_conversation": len(TURNS),
        "concurrency": list(levels),
        "active_limit": ACTIVE_LIMIT,
    }
    return rows, parameters
