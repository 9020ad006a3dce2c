"""Many conversations: 200 consultations at once, one turn each, ours vs the bare floor on the same server.

Users hold at most 10 active consultations (the backend's limit), so the benchmark
registers one user per 10 consultations. Everything is opened first; then every turn
is sent at once and the clock and the process's CPU time run until the last reply is
complete. The server runs in a child process, so the CPU time measured here is the
client's alone. Afterwards each consultation's history must hold the prompt once and
its reply once: nothing lost, nothing doubled. Three rounds (one with ``--quick``), the
sides taking turns going first; the figures are the rounds' medians. The client runs twice
per round: against the observed backend, whose ``stream_complete`` carries no id (so every
reply costs a ``GET .../messages`` to learn the stored id), and against a second server
whose ``stream_complete`` carries the stored reply (no read). The server's process CPU over
the same turns is reported too (with psutil): a read the client makes costs the backend as
well, and the server's CPU per turn bounds the turns per second either side reaches.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.common import Row, Skip, Target, percentile, row
from benchmarks.context import Context, require_module
from benchmarks.floor import FloorSocket, RawApi
from benchmarks.ours import close_chat, close_client, open_chat, open_client
from benchmarks.server import ServerHandle

NAME = "many"
PER_USER = 10
PROMPT = "/long 50"
TURNS_RATIO_TARGET = 0.8
CPU_RATIO_TARGET = 1.5


class _Meter:
    """Wall time, this process's CPU and the server's CPU over the turns, started at once."""

    def __init__(self, server: ServerHandle) -> None:
        self._server = server
        self._server_cpu = server.cpu_s()
        self._cpu = time.process_time()
        self._started = time.perf_counter()

    def stop(self, count: int) -> dict[str, float]:
        """Per-turn figures of ``count`` turns; ``server_cpu`` only when it could be read."""
        wall = time.perf_counter() - self._started
        cpu = time.process_time() - self._cpu
        figures = {"turns_per_s": count / wall, "cpu": cpu / count}
        server_cpu = self._server.cpu_s()
        if server_cpu is not None and self._server_cpu is not None:
            figures["server_cpu"] = (server_cpu - self._server_cpu) / count
        return figures


async def _floor(server: ServerHandle, count: int) -> dict[str, float]:
    api = RawApi(server)
    try:
        tokens = [await api.register() for _ in range(-(-count // PER_USER))]
        pairs = [(tokens[i // PER_USER], i) for i in range(count)]
        ids = await asyncio.gather(*(api.create_consultation(token) for token, _ in pairs))
        sockets = [
            FloorSocket(server, token, cid) for (token, _), cid in zip(pairs, ids, strict=True)
        ]
        await asyncio.gather(*(socket.__aenter__() for socket in sockets))
        try:
            meter = _Meter(server)
            turns = await asyncio.gather(*(socket.turn(PROMPT) for socket in sockets))
            figures = meter.stop(count)
        finally:
            await asyncio.gather(*(socket.__aexit__(None, None, None) for socket in sockets))
        ttfts = [t.first_chunk_at - t.sent_at for t in turns if t.first_chunk_at is not None]
        if len(ttfts) != count or len({t.text for t in turns}) != 1:
            raise RuntimeError("the floor lost a reply or saw different replies")
        return {**figures, "ttft_p95": percentile(ttfts, 95)}
    finally:
        await api.aclose()


async def _ours(server: ServerHandle, count: int) -> dict[str, float]:
    api = RawApi(server)
    clients = []
    try:
        users: list[str] = []
        for _ in range(-(-count // PER_USER)):
            email = f"many-{len(users)}-{time.time_ns()}@lume.local"
            await api.register(email=email, password="bench-password-1")
            users.append(email)
        clients = list(
            await asyncio.gather(
                *(open_client(server, email=e, password="bench-password-1") for e in users)
            )
        )
        chats = list(
            await asyncio.gather(*(open_chat(clients[i // PER_USER]) for i in range(count)))
        )
        # as the floor does, start the clock with every socket open (a new consultation opens
        # without a history read, so its socket may still be connecting when open() returns)
        statuses = await asyncio.gather(*(chat.wait_connected() for chat in chats))
        if any(str(status) != "connected" for status in statuses):
            raise RuntimeError(f"not every consultation connected: {set(map(str, statuses))}")
        meter = _Meter(server)
        replies = await asyncio.gather(*(chat.ask(PROMPT) for chat in chats))
        figures = meter.stop(count)
        texts = {reply.text for reply in replies}
        if len(texts) != 1:
            raise RuntimeError(f"{len(texts)} different reply texts for the same prompt")
        histories = await asyncio.gather(*(chat.history() for chat in chats))
        for history in histories:
            users_msgs = [m for m in history if m.role == "user"]
            assistants = [m for m in history if m.role == "assistant" and m.content in texts]
            if len(users_msgs) != 1 or len(assistants) != 1:
                raise RuntimeError(
                    f"a consultation holds {len(users_msgs)} prompts and {len(assistants)} "
                    "replies; expected one of each"
                )
        ttfts = [r.ttft_s for r in replies if r.ttft_s is not None]
        if len(ttfts) != count:
            raise RuntimeError("some replies carry no time to first token")
        await asyncio.gather(*(close_chat(chat) for chat in chats))
        return {**figures, "ttft_p95": percentile(ttfts, 95)}
    finally:
        await asyncio.gather(*(close_client(client) for client in clients))
        await api.aclose()


def _median(values: list[float]) -> float:
    return percentile(values, 50)


SIDES = ("floor", "client", "client, stored reply on stream_complete")
"""The floor on the observed server; the client on it (one history read per reply, since its
``stream_complete`` has no id); the client on a server whose ``stream_complete`` carries the
stored reply (``complete_with_message``: no read)."""


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.server", "the reference server")
    count = ctx.size(200, 20)
    rounds = ctx.size(3, 1)
    observed = await ctx.server()
    with_message = await ctx.server(complete_with_message=True)
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    why: str | None = None
    for index in range(rounds):
        # the sides take turns going first, so drift on a shared machine hits all alike
        order = SIDES[index % 3 :] + SIDES[: index % 3]
        for side in order:
            if side == "floor":
                runs[side].append(await _floor(observed, count))
            elif why is None:
                server = observed if side == "client" else with_message
                try:
                    runs[side].append(await _ours(server, count))
                except Skip as exc:
                    why = str(exc)
                except NotImplementedError:
                    why = "the async client is not implemented yet"
            if runs[side]:
                ctx.note(
                    f"round {index + 1}/{rounds}: {side} {runs[side][-1]['turns_per_s']:.0f} "
                    f"turns/s, {runs[side][-1]['cpu'] * 1000:.2f} ms CPU per turn"
                )
    medians = {
        side: {key: _median([run[key] for run in done]) for key in done[0]}
        for side, done in runs.items()
        if done and (side == "floor" or why is None)
    }
    floor = medians["floor"]
    note = f"median of {rounds} interleaved rounds"
    rows = []
    for side, prefix in ((SIDES[1], ""), (SIDES[2], "stored reply on stream_complete: ")):
        ours = medians.get(side)

        def value(key: str, ours: dict[str, float] | None = ours) -> float | None:
            return ours.get(key) if ours else None

        if side == SIDES[1]:
            rows.append(
                row(
                    NAME,
                    f"{count} turns at once: all complete, none lost or doubled",
                    "turns",
                    float(count) if ours else None,
                    float(count),
                    reference_name="floor",
                    target=Target("ours_at_least", float(count)),
                    skipped=why,
                )
            )
        rows += [
            row(
                NAME,
                f"{prefix}turns/s",
                "turns/s",
                value("turns_per_s"),
                floor["turns_per_s"],
                reference_name="floor",
                target=Target("ratio_at_least", TURNS_RATIO_TARGET),
                skipped=why,
                note=note,
            ),
            row(
                NAME,
                f"{prefix}time to first token p95",
                "s",
                value("ttft_p95"),
                floor["ttft_p95"],
                reference_name="floor",
                skipped=why,
            ),
            row(
                NAME,
                f"{prefix}client CPU per turn",
                "s",
                value("cpu"),
                floor["cpu"],
                reference_name="floor",
                target=Target("ratio_at_most", CPU_RATIO_TARGET),
                skipped=why,
                note=note,
            ),
        ]
        if "server_cpu" in floor:
            # the server's share: what the reads cost the backend bounds the turns/s ratio
            rows.append(
                row(
                    NAME,
                    f"{prefix}server CPU per turn",
                    "s",
                    value("server_cpu"),
                    floor["server_cpu"],
                    reference_name="floor",
                    skipped=why,
                    note=f"{note}; counted in the OS's CPU ticks (coarse with --quick)",
                )
            )
    parameters = {
        "consultations": count,
        "per_user": PER_USER,
        "prompt": PROMPT,
        "rounds": rounds,
        "runs": runs,
    }
    return rows, parameters
