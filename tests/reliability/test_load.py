"""Load: the reference server holds 200 concurrent streaming consultations and 1,000 idle sockets.

The server runs in this process (the root ``reference_server_factory``); the load comes from
a separate process (``loadgen.py``), so the two do not share an interpreter lock and this
process's resident memory is the server's (plus pytest's baseline, measured before the load).
Oracle: every reply streamed whole and stored exactly once, every user message stored exactly
once, the streamed text equal to the stored text, every idle socket still answering a ping.
The long soak variant (several turns per consultation, idle sockets held for a minute) runs
with ``--run-slow``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import statistics
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from lume_widget.server import ReferenceServer

from .conftest import Figures
from .support import User, create_consultation, history, register_user

LOADGEN = Path(__file__).with_name("loadgen.py")
MAX_ACTIVE = 10  # the backend's limit of active consultations per user


class MemorySampler:
    """Samples this process's resident memory in a thread and keeps the peak."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def mib(value: int) -> float:
    return round(value / 2**20, 1)


def ensure_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard < needed:
        pytest.skip(f"needs {needed} open files, the hard limit is {hard}: raise ulimit -n")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def make_consultations(
    http: httpx.AsyncClient, api_key: str, count: int, label: str
) -> list[tuple[User, dict[str, Any]]]:
    """``count`` active consultations, spread over as many users as the limit of 10 needs."""
    users = await asyncio.gather(
        *(register_user(http, api_key, f"{label}{i}") for i in range(-(-count // MAX_ACTIVE)))
    )
    made: list[tuple[User, dict[str, Any]]] = []
    for index in range(count):
        user = users[index // MAX_ACTIVE]
        made.append((user, await create_consultation(http, user, "fitness_coach")))
    return made


async def run_loadgen(plan: dict[str, Any], timeout: float) -> tuple[dict[str, Any], int, int]:
    """Run the load generator; return its results, the RSS with idle sockets, and the peak RSS."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOADGEN),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 2**20,  # the result line carries every streamed reply
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            process.stdin.write(json.dumps(plan).encode() + b"\n")
            await process.stdin.drain()
            ready = await process.stdout.readline()
            assert ready.strip() == b"IDLE-READY", ready
            idle_rss = rss()
            with MemorySampler() as sampler:
                process.stdin.write(b"go\n")
                await process.stdin.drain()
                line = await process.stdout.readline()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, "the load generator failed (see its stderr above)"
    return json.loads(line), idle_rss, max(sampler.peak, idle_rss)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def check_nothing_lost(
    http: httpx.AsyncClient,
    streams: list[tuple[User, dict[str, Any]]],
    results: dict[str, Any],
    turns: int,
) -> None:
    by_id = {r["consultation_id"]: r for r in results["streams"]}
    assert results["errors"] == []
    assert len(by_id) == len(streams)

    async def check(user: User, consultation: dict[str, Any]) -> None:
        streamed = by_id[consultation["id"]]["turns"]
        assert len(streamed) == turns
        stored = await history(http, user, consultation["id"])
        assert stored[0]["role"] == "assistant"  # the greeting
        expected = []
        for turn in streamed:
            expected += [("user", turn["message"]), ("assistant", turn["text"])]
        assert [(m["role"], m["content"]) for m in stored[1:]] == expected
        assert len({m["id"] for m in stored}) == len(stored)

    gate = asyncio.Semaphore(32)

    async def gated(user: User, consultation: dict[str, Any]) -> None:
        async with gate:
            await check(user, consultation)

    await asyncio.gather(*(gated(u, c) for u, c in streams))


async def run_load(
    factory: Callable[..., ReferenceServer],
    figures: Figures,
    name: str,
    *,
    streams: int,
    idle: int,
    turns: int,
    hold_s: float,
    chunk_delay_ms: int,
    timeout: float,
) -> None:
    ensure_fd_limit(idle + streams + 512)
    server = factory(chunk_delay_ms=chunk_delay_ms)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=32)
    ) as http:
        base_rss = rss()
        streaming = await make_consultations(http, server.api_key, streams, "stream")
        idle_owners = await make_consultations(http, server.api_key, idle // 10, "idle")
        plan = {
            "ws_url": server.ws_url,
            "api_key": server.api_key,
            "message": "Plan my week of training",
            "turns": turns,
            "hold_s": hold_s,
            "streams": [
                {"consultation_id": c["id"], "token": u.access_token} for u, c in streaming
            ],
            # ten idle sockets on each idle consultation
            "idle": [
                {"consultation_id": c["id"], "token": u.access_token}
                for u, c in idle_owners
                for _ in range(10)
            ],
        }
        loaded_rss = rss()
        results, idle_rss, peak_rss = await run_loadgen(plan, timeout)
        await check_nothing_lost(http, streaming, results, turns)
        assert results["idle_alive"] == len(plan["idle"])
        after_rss = rss()
    replies = [t for s in results["streams"] for t in s["turns"]]
    ttfts = [t["ttft_s"] for t in replies if t["ttft_s"] is not None]
    chunks = sum(t["chunks"] for t in replies)
    figures.record(
        name,
        consultations=streams,
        turns_each=turns,
        idle_sockets=len(plan["idle"]),
        idle_alive=results["idle_alive"],
        replies=len(replies),
        chunks=chunks,
        wall_s=round(results["wall_s"], 2),
        replies_per_s=round(len(replies) / results["wall_s"], 1),
        chunks_per_s=round(chunks / results["wall_s"]),
        ttft_p50_s=round(statistics.median(ttfts), 3),
        ttft_p95_s=round(percentile(ttfts, 0.95), 3),
        reply_p95_s=round(percentile([t["duration_s"] for t in replies], 0.95), 3),
        idle_open_s=round(results["idle_open_s"], 2),
        chunk_delay_ms=chunk_delay_ms,
        rss_start_mib=mib(base_rss),
        rss_with_data_mib=mib(loaded_rss),
        rss_idle_sockets_mib=mib(idle_rss),
        rss_peak_mib=mib(peak_rss),
        rss_after_mib=mib(after_rss),
        per_idle_socket_kib=round((idle_rss - loaded_rss) / max(1, len(plan["idle"])) / 1024, 1),
    )


async def test_server_holds_200_streaming_consultations_and_1000_idle_sockets(
    reference_server_factory: Callable[..., ReferenceServer], figures: Figures, time_scale: float
) -> None:
    await run_load(
        reference_server_factory,
        figures,
        "load: 200 streaming + 1,000 idle",
        streams=200,
        idle=1000,
        turns=1,
        hold_s=0,
        chunk_delay_ms=int(10 * time_scale),
        timeout=120 * time_scale,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_soak_server_holds_200_consultations_for_10_turns_with_1000_idle_sockets(
    reference_server_factory: Callable[..., ReferenceServer], figures: Figures, time_scale: float
) -> None:
    await run_load(
        reference_server_factory,
        figures,
        "soak: 200 x 10 turns + 1,000 idle held 60 s",
        streams=200,
        idle=1000,
        turns=10,
        hold_s=60 * time_scale,
        chunk_delay_ms=int(20 * time_scale),
        timeout=800 * time_scale,
    )
