"""Replies under stress: a client that vanishes mid-stream, and 50 consultations streaming at once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from conftest import Api, scaled, ws_events

from lume_widget.server import ReferenceServer
from lume_widget.server.responders import long_reply_chunks

CONCURRENT = 50


async def history_when(api: Api, cid: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(scaled(10)):
        while True:
            messages = await api.messages(cid)
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.02)


async def test_server_reply_is_stored_whole_when_client_drops_mid_stream(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    api = api_factory(reference_server_factory(chunk_delay_ms=5))
    await api.login()
    cid = (await api.create("fitness_coach"))["consultation"]["id"]
    ws = await api.ws(cid)
    await ws.recv()
    await ws.send(json.dumps({"type": "message", "content": "/long 300"}))
    assert json.loads(await ws.recv())["type"] == "message_received"
    for _ in range(5):
        assert json.loads(await ws.recv())["type"] == "stream_chunk"
    ws.transport.abort()  # vanish without a closing handshake
    messages = await history_when(api, cid, 3)
    expected = "".join(long_reply_chunks(300, "fitness_coach"))
    assert messages[-1]["role"] == "assistant"
    assert messages[-1]["content"] == expected
    await asyncio.sleep(scaled(0.1))
    assert len(await api.messages(cid)) == 3  # stored exactly once


async def test_server_reply_is_stored_whole_after_a_clean_close_mid_stream(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    api = api_factory(reference_server_factory(chunk_delay_ms=5))
    await api.login()
    cid = (await api.create("nutritionist"))["consultation"]["id"]
    async with api.ws(cid, max_queue=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "message", "content": "/long 200"}))
        await ws.recv()
        await ws.recv()
    messages = await history_when(api, cid, 3)
    assert messages[-1]["content"] == "".join(long_reply_chunks(200, "nutritionist"))


async def _one_conversation(api: Api, cid: str, text: str) -> tuple[str, float, int]:
    started = time.monotonic()
    async with api.ws(cid, max_queue=None) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        await ws.send(json.dumps({"type": "message", "content": text}))
        events = await ws_events(ws, timeout=60)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_received"
    assert kinds[-1] == "stream_complete"
    chunks = [e["content"] for e in events if e["type"] == "stream_chunk"]
    assert len(chunks) == len(kinds) - 2
    return "".join(chunks), time.monotonic() - started, len(chunks)


async def test_server_fifty_concurrent_streams_all_complete_and_stored_once(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    server = reference_server_factory(max_active_consultations=CONCURRENT)
    api = api_factory(server)
    await api.login()
    personas = ["nutritionist", "fitness_coach", "wellness_specialist", "general_wellness"]
    topics = ["breakfast ideas?", "I can't sleep", "stress at work", "/long 200", "a workout plan"]
    ids = [(await api.create(personas[i % 4]))["consultation"]["id"] for i in range(CONCURRENT)]
    texts = [topics[i % len(topics)] for i in range(CONCURRENT)]

    started = time.monotonic()
    results = await asyncio.gather(
        *(_one_conversation(api, cid, t) for cid, t in zip(ids, texts, strict=True))
    )
    wall = time.monotonic() - started
    total_chunks = sum(chunks for _, _, chunks in results)
    print(
        f"\n{CONCURRENT} concurrent streamed replies: {wall:.2f} s wall, "
        f"{CONCURRENT / wall:.1f} replies/s, {total_chunks / wall:.0f} chunks/s "
        f"({total_chunks} chunks), slowest turn {max(t for _, t, _ in results):.2f} s"
    )
    for cid, (streamed, _, _) in zip(ids, results, strict=True):
        history = await api.messages(cid)
        assert [m["role"] for m in history] == ["assistant", "user", "assistant"]
        assert history[-1]["content"] == streamed
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.url + "/healthz")).status_code == 200


async def test_server_paced_concurrent_streams_overlap(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    delay_ms, chunks, streams = 10, 30, 10
    api = api_factory(reference_server_factory(chunk_delay_ms=delay_ms))
    await api.login()
    ids = [(await api.create())["consultation"]["id"] for _ in range(streams)]
    started = time.monotonic()
    results = await asyncio.gather(*(_one_conversation(api, cid, f"/long {chunks}") for cid in ids))
    wall = time.monotonic() - started
    assert all(n == chunks for _, _, n in results)
    serial = streams * chunks * delay_ms / 1000
    assert wall < serial / 2, (
        f"{wall:.2f} s: streams did not run concurrently (serial would be {serial:.1f} s)"
    )
