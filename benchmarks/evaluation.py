"""Evaluation runner: 100 conversations x 3 turns at concurrency 1, 8 and 32, vs the same script on the bare floor.

Ours is ``evaluate_async`` (scenario validation, consultations opened and closed,
expectations judged, every turn written to ``transcripts.jsonl``). The floor runs the
same conversations with bare httpx and websockets at the same concurrency: create a
consultation, open its socket, three turns, close, delete. Overhead per turn is the
turn's wall time minus the time the server itself reports for producing the reply
(``processing_time_ms``), so it is what the client side adds. Runner and floor take turns
at each concurrency, five rounds (one with ``--quick``), each side going first in turn; the
rows are the rounds' medians, with the server process's CPU per turn of each side (psutil).

The runner opens its consultations with ``await_stored_reply=False``: a reply completes when
it has streamed, and no ``GET .../messages`` follows it (a record needs the text, not the
stored id). The CPU rows place what is left: a bare loop over the client opened the same way
against the floor, the same loop awaiting each reply's stored copy (the client's default),
and the runner against the bare loop (the four take turns too, medians of three rounds). The
run against a server whose ``stream_complete`` carries the stored reply is interleaved alike.

The backend allows 10 active consultations per user; to measure concurrency 32 the
benchmark's server raises that limit, and the runner is told the same limit.

With a judge: the same run with a rubric on every turn, judged by the local fake model
of the test suite (tests/fake_model.py, in a child process, answering at once, the cache
off), against the run without; the difference per turn is what judging costs. Judge
calls per second at concurrency 8 are the runner's model client against bare httpx
posting the same requests with the same width; both pairs interleaved over three rounds.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import Row, Skip, Target, row
from benchmarks.context import Context, require_module
from benchmarks.floor import FloorSocket, RawApi
from benchmarks.ours import close_client, open_client
from benchmarks.server import ServerHandle

NAME = "evaluation"
TURNS = ("/long 20", "/long 20", "/long 20")
ACTIVE_LIMIT = 64
FLOOR_RATIO = Target("ratio_at_least", 0.8)
JUDGE_WIDTH = 8
REPO = Path(__file__).resolve().parent.parent

_MODEL_PROCESS = """
import sys, time
sys.path.insert(0, sys.argv[1])
from fake_model import FakeModel
model = FakeModel('{"score": 1, "reason": "fine"}').start()
print(model.url, flush=True)
sys.stdin.read()
model.stop()
"""


@contextmanager
def _fake_model() -> Iterator[str]:
    """The test suite's fake model in a child process (its CPU never counts as ours); its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", _MODEL_PROCESS, str(REPO / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the fake model did not start")
        yield url
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _scenario_file(conversations: int, *, rubric: bool = False) -> Any:
    from lume_widget.evaluation import ScenarioFile

    expect: dict[str, Any] = {"min_chars": 1}
    if rubric:
        expect["rubric"] = "Answers the message."
    return ScenarioFile.model_validate(
        {
            "defaults": {"persona": "general_wellness"},
            "scenarios": [
                {
                    "name": "bench",
                    "repeat": conversations,
                    "turns": [{"say": say, "expect": expect} for say in TURNS],
                }
            ],
        }
    )


async def _floor(server: ServerHandle, conversations: int, concurrency: int) -> dict[str, float]:
    server_cpu = server.cpu_s()
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
        cpu_started = time.process_time()
        await asyncio.gather(*(conversation() for _ in range(conversations)))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await api.aclose()
    return {
        "cpu_per_turn_ms": cpu / len(overheads) * 1000,
        "turns_per_s": len(overheads) / wall,
        "overhead_ms": statistics.mean(overheads) * 1000,
        "server_ms": statistics.mean(server_times) * 1000,
        "server_cpu_per_turn_ms": _server_cpu_per_turn(server, server_cpu, len(overheads)),
    }


def _server_cpu_per_turn(server: ServerHandle, before: float | None, turns: int) -> float:
    """The server process's CPU milliseconds per turn since ``before`` (NaN without psutil)."""
    after = server.cpu_s()
    if before is None or after is None:
        return float("nan")
    return (after - before) / turns * 1000


async def _ours(
    server: ServerHandle, conversations: int, concurrency: int, judge_url: str | None = None
) -> dict[str, float]:
    from lume_widget.evaluation import evaluate_async

    client = await open_client(server)
    server_cpu = server.cpu_s()
    judge: dict[str, Any] = {}
    if judge_url is not None:
        judge = {"judge_url": judge_url, "judge_model": "bench-judge", "cache": False}
    try:
        with tempfile.TemporaryDirectory(prefix="lume-bench-eval-") as out:
            started = time.perf_counter()
            cpu_started = time.process_time()
            try:
                result = await evaluate_async(
                    _scenario_file(conversations, rubric=judge_url is not None),
                    client=client,
                    out=out,
                    concurrency=concurrency,
                    delete=True,
                    progress=False,
                    max_active=ACTIVE_LIMIT,
                    **judge,
                )
            except NotImplementedError as exc:
                raise Skip("the evaluation runner or client is not implemented yet") from exc
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
    finally:
        await close_client(client)
    records = result.records
    expected = conversations * len(TURNS)
    errors = [r for r in records if r.outcome == "error"]
    if len(records) != expected or errors:
        first = (errors[0].error or errors[0].check_errors) if errors else "missing records"
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
        "wall_per_turn_ms": wall / expected * 1000,
        "cpu_per_turn_ms": cpu / expected * 1000,
        "server_cpu_per_turn_ms": _server_cpu_per_turn(server, server_cpu, expected),
    }


async def _client_loop(
    server: ServerHandle, conversations: int, concurrency: int, *, await_stored: bool
) -> float:
    """CPU milliseconds per turn of the same script on the bare client (open, ask, delete);
    ``await_stored`` False opens as the runner does (no history read after each reply)."""
    client = await open_client(server)
    gate = asyncio.Semaphore(concurrency)

    async def conversation() -> None:
        async with gate:
            chat = await client.open(
                persona="general_wellness", resume=False, await_stored_reply=await_stored
            )
            try:
                for say in TURNS:
                    await chat.ask(say)
                await chat.delete()
            finally:
                await chat.aclose()

    try:
        started = time.process_time()
        await asyncio.gather(*(conversation() for _ in range(conversations)))
        return (time.process_time() - started) / (conversations * len(TURNS)) * 1000
    finally:
        await close_client(client)


def _judge_messages(index: int) -> list[dict[str, str]]:
    from lume_widget.evaluation.judge import Exchange, judge_messages

    return judge_messages(
        persona="general_wellness",
        goal=None,
        conversation=[Exchange("user", f"question {index}"), Exchange("coach", "an answer " * 40)],
        criteria="Answers the question.",
        kind="rubric",
    )


async def _judge_calls_ours(url: str, calls: int) -> dict[str, float]:
    """Judge calls per second at width 8 through the runner's model client."""
    from lume_widget.evaluation.chatmodel import ChatModel, ModelEndpoint

    model = ChatModel(ModelEndpoint(url=url, model="bench-judge", concurrency=JUDGE_WIDTH))
    try:
        started = time.perf_counter()
        await asyncio.gather(*(model.complete(_judge_messages(i)) for i in range(calls)))
        return {"calls_per_s": calls / (time.perf_counter() - started)}
    finally:
        await model.aclose()


async def _judge_calls_bare(url: str, calls: int) -> dict[str, float]:
    """The same calls posted with bare httpx at the same width."""
    gate = asyncio.Semaphore(JUDGE_WIDTH)
    async with httpx.AsyncClient() as http:

        async def one(index: int) -> None:
            body = {"model": "bench-judge", "messages": _judge_messages(index), "temperature": 0}
            async with gate:
                response = await http.post(f"{url}/chat/completions", json=body)
                json.loads(response.content)["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return {"calls_per_s": calls / (time.perf_counter() - started)}


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
    rounds = ctx.size(3, 1)
    for level in levels:  # the rows with a target: more rounds, steadier medians
        rows += await _throughput_rows(ctx, server, conversations, level, ctx.size(5, 1))
    width = JUDGE_WIDTH
    await _ours(server, 2, 1)  # imports and first use out of the CPU figure

    async def loop(await_stored: bool) -> dict[str, float]:
        cpu = await _client_loop(server, conversations, width, await_stored=await_stored)
        return {"cpu_per_turn_ms": cpu}

    cpu = await _interleaved(
        ctx,
        f"CPU per turn at concurrency {width}",
        {
            "runner": lambda: _ours(server, conversations, width),
            "loop": lambda: loop(False),
            "awaiting": lambda: loop(True),
            "floor": lambda: _floor(server, conversations, width),
        },
        rounds,
        "cpu_per_turn_ms",
    )
    runner_cpu, client_cpu, awaiting_cpu, floor_cpu = (
        cpu[side]["cpu_per_turn_ms"] for side in ("runner", "loop", "awaiting", "floor")
    )
    rows.append(
        row(
            NAME,
            f"concurrency {width}: CPU per turn, a bare loop over the client vs the floor",
            "ms",
            client_cpu,
            floor_cpu,
            reference_name="floor",
            note="opened as the runner opens (await_stored_reply=False): no history read per reply",
        )
    )
    rows.append(
        row(
            NAME,
            f"concurrency {width}: CPU per turn, the client awaiting each reply's stored copy",
            "ms",
            awaiting_cpu,
            client_cpu,
            reference_name="not awaiting it",
            note="the default: a GET .../messages after every reply (stream_complete has no id)",
        )
    )
    rows.append(
        row(
            NAME,
            f"concurrency {width}: client CPU per turn, runner vs a bare loop over the client",
            "ms",
            runner_cpu,
            client_cpu,
            reference_name="bare client loop",
            note="where the gap to the floor lies: the runner's own cost is the difference",
        )
    )
    rows += await _stored_reply_rows(ctx, conversations, width, rounds)
    rows += await _judge_rows(ctx, server, conversations, rounds)
    parameters = {
        "judge_width": JUDGE_WIDTH,
        "conversations": conversations,
        "turns_per_conversation": len(TURNS),
        "concurrency": list(levels),
        "active_limit": ACTIVE_LIMIT,
    }
    return rows, parameters


async def _interleaved(
    ctx: Context,
    label: str,
    sides: dict[str, Callable[[], Awaitable[dict[str, float]]]],
    rounds: int,
    figure: str,
) -> dict[str, dict[str, float]]:
    """Run every side once per round, the order turning by one each round (so drift on a
    shared machine hits all alike); each side's figures as medians over the rounds."""
    names = list(sides)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            runs[name].append(await sides[name]())
        unit = {"turns_per_s": "turns/s", "calls_per_s": "calls/s"}.get(figure, "ms")
        ctx.note(
            f"{label}, round {index + 1}/{rounds}: "
            + ", ".join(f"{name} {runs[name][-1][figure]:.2f} {unit}" for name in names)
        )
    return {name: _medians(found) for name, found in runs.items()}


async def _throughput_rows(
    ctx: Context, server: ServerHandle, conversations: int, level: int, rounds: int
) -> list[Row]:
    """Runner and floor at one concurrency, interleaved round by round; the rounds' medians."""
    why: str | None = None
    try:
        require_module("lume_widget.evaluation", "the evaluation runner")
        found = await _interleaved(
            ctx,
            f"concurrency {level}",
            {
                "floor": lambda: _floor(server, conversations, level),
                "runner": lambda: _ours(server, conversations, level),
            },
            rounds,
            "turns_per_s",
        )
        floor, mine = found["floor"], found["runner"]
    except Skip as exc:
        why = str(exc)
        floor, mine = await _floor(server, conversations, level), None
    note = f"median of {rounds} interleaved rounds" if rounds > 1 else "one round"
    if mine is not None and not math.isnan(mine["server_cpu_per_turn_ms"]):
        note += (
            f"; server CPU per turn {mine['server_cpu_per_turn_ms']:.2f} ms"
            f" (floor {floor['server_cpu_per_turn_ms']:.2f} ms)"
        )
    return [
        row(
            NAME,
            f"concurrency {level}: throughput",
            "turns/s",
            mine["turns_per_s"] if mine else None,
            floor["turns_per_s"],
            reference_name="floor",
            target=FLOOR_RATIO,
            note=note,
            skipped=why,
        ),
        row(
            NAME,
            f"concurrency {level}: overhead per turn over server time",
            "ms",
            mine["overhead_ms"] if mine else None,
            floor["overhead_ms"],
            reference_name="floor",
            note=_relative_note(mine),
            skipped=why,
        ),
    ]


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the runs."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


async def _stored_reply_rows(
    ctx: Context, conversations: int, width: int, rounds: int
) -> list[Row]:
    """The same run against a server whose ``stream_complete`` carries the stored reply (the
    runner then completes each turn with the stored id, still without a read)."""
    server = await ctx.server(max_active_consultations=ACTIVE_LIMIT, complete_with_message=True)
    found = await _interleaved(
        ctx,
        f"stored reply on stream_complete, concurrency {width}",
        {
            "floor": lambda: _floor(server, conversations, width),
            "runner": lambda: _ours(server, conversations, width),
        },
        rounds,
        "turns_per_s",
    )
    return [
        row(
            NAME,
            f"stored reply on stream_complete, concurrency {width}: throughput",
            "turns/s",
            found["runner"]["turns_per_s"],
            found["floor"]["turns_per_s"],
            reference_name="floor",
            target=FLOOR_RATIO,
            note="server --complete-with-message: the stored id comes with the frame; "
            + (f"median of {rounds} interleaved rounds" if rounds > 1 else "one round"),
        )
    ]


async def _judge_rows(
    ctx: Context, server: ServerHandle, conversations: int, rounds: int
) -> list[Row]:
    """A rubric on every turn against the same run without; judge calls per second at width 8;
    each pair interleaved over the rounds (medians)."""
    calls = ctx.size(2000, 300)
    with _fake_model() as url:
        runs = await _interleaved(
            ctx,
            f"judge on every turn, concurrency {JUDGE_WIDTH}",
            {
                "plain": lambda: _ours(server, conversations, JUDGE_WIDTH),
                "judged": lambda: _ours(server, conversations, JUDGE_WIDTH, judge_url=url),
            },
            rounds,
            "wall_per_turn_ms",
        )
        rates = await _interleaved(
            ctx,
            f"judge calls at width {JUDGE_WIDTH}",
            {
                "ours": lambda: _judge_calls_ours(url, calls),
                "bare": lambda: _judge_calls_bare(url, calls),
            },
            rounds,
            "calls_per_s",
        )
    plain, judged = runs["plain"], runs["judged"]
    ours_calls, floor_calls = rates["ours"]["calls_per_s"], rates["bare"]["calls_per_s"]
    added = judged["wall_per_turn_ms"] - plain["wall_per_turn_ms"]
    rounds_note = f"median of {rounds} interleaved rounds" if rounds > 1 else "one round"
    return [
        row(
            NAME,
            f"concurrency {JUDGE_WIDTH}: wall time per turn, a judge on every turn",
            "ms",
            judged["wall_per_turn_ms"],
            plain["wall_per_turn_ms"],
            reference_name="no judge",
            note=f"judging adds {added:.2f} ms per turn (fake model answering at once); "
            + rounds_note,
        ),
        row(
            NAME,
            f"judge calls per second at concurrency {JUDGE_WIDTH}",
            "calls/s",
            ours_calls,
            floor_calls,
            reference_name="bare httpx",
            note=f"{calls} distinct prompts, cache off; {rounds_note}",
        ),
    ]
